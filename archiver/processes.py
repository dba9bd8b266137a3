"""The start method for worker processes (verify, verify-pack, PDF volumes)."""

from __future__ import annotations

import threading
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext


def worker_context() -> BaseContext:
    """fork where it is safe (no other thread alive: forking copies locks held by
    other threads): workers start at once and a calling script needs no
    `if __name__ == "__main__"` guard; spawn otherwise (daemon, web app)."""
    if threading.active_count() == 1 and "fork" in get_all_start_methods():
        return get_context("fork")
    return get_context("spawn")
