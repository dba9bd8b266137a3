"""The lock ledger of the local store: retention dates and legal holds as
append-only JSON lines, because a plain file system has no object locks."""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per store
    fcntl = None  # type: ignore[assignment]

from archiver.errors import StorageError
from storage.objects.base import LockState, normalise_retain_until
from storage.objects.fsutil import fsync_dir, os_reason

UNLOCKED = LockState(None, None, False)
_ENTRY_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
log = logging.getLogger(__name__)


class LockLedger:
    """The lock state of the local store: append-only JSON lines, replayed lazily.

    Entries are appended with one os.write on an O_APPEND descriptor, so
    processes sharing the store never interleave inside a line; the state is
    re-read from where this process stopped whenever the file has grown. An
    flock serialises check-then-change (delete, extend, hold) against batches.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._offset = 0
        self._states: dict[str, LockState] = {}
        self._tail_checked = False
        self._mutex = threading.RLock()

    def open(self) -> int:
        """The descriptor, opened once per process (a forked child reopens it,
        as flock locks belong to the open file and would be shared)."""
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        created = not self.path.exists()
        os.makedirs(self.path.parent, exist_ok=True)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o644)
        self._pid = os.getpid()
        self._tail_checked = False
        if created:
            fsync_dir(os.fspath(self.path.parent))
            fsync_dir(os.fspath(self.path.parent.parent))
        return self._fd

    @contextmanager
    def locked(self, exclusive: bool) -> Iterator[None]:
        """Hold the ledger lock: shared for writing batches, exclusive for changes."""
        with self._mutex:
            try:
                fd = self.open()
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            except OSError as exc:
                raise StorageError(
                    f"cannot open the lock ledger {self.path}: {os_reason(exc)}; "
                    "check that the object store directory is writable"
                ) from exc
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def append(self, entries: list[dict[str, Any]], *, fsync: bool) -> None:
        """Append the entries with one write; OSError if it did not all land."""
        fd = self.open()
        if not self._tail_checked:
            # A crash mid-append leaves a torn last line; end it so ours stay whole.
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")
            self._tail_checked = True
        encode = _ENTRY_ENCODER.encode  # one encoder: json.dumps(**options) builds one per call
        payload = "".join([encode(entry) + "\n" for entry in entries]).encode()
        try:
            written = os.write(fd, payload)
            if written != len(payload):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(payload)} bytes)")
            if fsync:
                os.fsync(fd)
        except OSError:
            self._tail_checked = False
            raise

    def state(self, key: str) -> LockState:
        """The key's lock state after replaying every complete line so far."""
        with self._mutex:
            try:
                self._refresh()
            except OSError as exc:
                raise StorageError(
                    f"cannot read the lock ledger {self.path}: {os_reason(exc)}"
                ) from exc
            return self._states.get(key, UNLOCKED)

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _refresh(self) -> None:
        fd = self.open()
        size = os.fstat(fd).st_size
        if size < self._offset:
            raise StorageError(
                f"the lock ledger {self.path} shrank from {self._offset} to {size} bytes; it is "
                "append-only, so it was truncated or replaced: restore it before deleting anything"
            )
        if size == self._offset:
            return
        chunk = os.pread(fd, size - self._offset, self._offset)
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for next time
        position = self._offset
        for line in chunk[:end].split(b"\n")[:-1]:
            self._apply(line, position)
            position += len(line) + 1
        self._offset += end

    def _apply(self, line: bytes, position: int) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
            op, key = entry["op"], entry["key"]
            retain_until = _parse_date(entry.get("retain_until"))
        except (ValueError, KeyError, TypeError):
            # Only a crash mid-append makes one; its batch was never linked.
            log.warning("skipping an unreadable line at byte %d of %s", position, self.path)
            return
        old = self._states.get(key, UNLOCKED)
        if op == "delete":
            self._states.pop(key, None)
            return
        if op in ("put", "extend"):
            later = _later(old.retain_until, retain_until)
            hold = old.legal_hold or bool(entry.get("legal_hold"))
            self._states[key] = LockState(later, "COMPLIANCE" if later else None, hold)
        elif op == "hold":
            mode = "COMPLIANCE" if old.retain_until else None
            self._states[key] = LockState(old.retain_until, mode, bool(entry["legal_hold"]))
        else:
            raise StorageError(
                f"unknown entry {op!r} at byte {position} of the lock ledger {self.path}; "
                "was it written by a newer archiver? Upgrade before changing locks"
            )


def ledger_entry(
    op: str,
    key: str,
    at: datetime | str,
    retain_until: datetime | None = None,
    legal_hold: bool | None = None,
) -> dict[str, Any]:
    """One ledger line: put (born with a lock), extend, hold or delete."""
    when = at if isinstance(at, str) else at.isoformat()
    entry: dict[str, Any] = {"op": op, "key": key, "at": when}
    if retain_until is not None:
        entry["retain_until"] = retain_until.isoformat()
    if legal_hold is not None:
        entry["legal_hold"] = legal_hold
    return entry


def _parse_date(text: object) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("retain_until must be an ISO 8601 string")
    return normalise_retain_until(datetime.fromisoformat(text))


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)
