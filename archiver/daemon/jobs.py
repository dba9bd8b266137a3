"""The job functions APScheduler stores by reference ("archiver.daemon.jobs:capture"),
so the jobs in the catalogue's job store outlive the process that scheduled them.
Each finds the running daemon of this process and hands over to it."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archiver.daemon.service import Daemon

log = logging.getLogger(__name__)
_lock = threading.Lock()
_current: Daemon | None = None


def attach(daemon: Daemon) -> None:
    global _current
    with _lock:
        _current = daemon


def detach(daemon: Daemon) -> None:
    global _current
    with _lock:
        if _current is daemon:
            _current = None


def _daemon() -> Daemon | None:
    with _lock:
        found = _current
    if found is None:
        log.warning("a daemon job fired with no daemon running in this process; ignored")
    return found


def capture(account_id: int) -> None:
    daemon = _daemon()
    if daemon is not None:
        daemon.run_account(account_id, "capture")


def reconcile(account_id: int) -> None:
    daemon = _daemon()
    if daemon is not None:
        daemon.run_account(account_id, "reconcile")


def checkpoint() -> None:
    daemon = _daemon()
    if daemon is not None:
        daemon.checkpoint()


def index() -> None:
    daemon = _daemon()
    if daemon is not None:
        daemon.index()


def maintenance() -> None:
    daemon = _daemon()
    if daemon is not None:
        daemon.maintenance()


def drain_spool() -> None:
    daemon = _daemon()
    if daemon is not None:
        daemon.drain_spool()
