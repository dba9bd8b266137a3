"""The index writer lock: one writer at a time across processes, held for a whole
catch-up or rebuild, and saying who holds it when it is busy.

Whoosh has a write lock of its own, but it lives inside the index directory,
which a rebuild replaces; this lock is a file beside the directory instead.
flock locks go away with the process, so a crashed writer never leaves it stuck.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per index
    fcntl = None  # type: ignore[assignment]

from search.index import IndexBusyError


class WriterLock:
    """A re-entrant (within one object) exclusive lock on `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self, purpose: str, timeout: float = 0.0) -> None:
        if self._depth:
            self._depth += 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    raise IndexBusyError(_busy_message(self.path, holder)) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        note = {"pid": os.getpid(), "purpose": purpose, "since": time.time()}
        os.pwrite(fd, json.dumps(note).encode(), 0)
        self._fd = fd
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            os.ftruncate(self._fd, 0)
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> dict[str, object] | None:
        """Who wrote the lock file last (pid, purpose, since), if anyone."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None

    def is_busy(self) -> bool:
        """Whether another process holds the lock now (a probe; takes nothing)."""
        if self._depth or fcntl is None or not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def _busy_message(path: Path, holder: dict[str, object] | None) -> str:
    who = ""
    if holder:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder["since"])))  # type: ignore[arg-type]
        who = f" by process {holder.get('pid')} ({holder.get('purpose')}, since {since})"
    return (f"the search index is being written{who}; only one writer runs at a time. "
            f"Wait for it to finish and run the command again (lock: {path})")
