"""The spool: captured objects wait on local disk while the object store is unreachable.

`SpoolingStore` wraps the real store. A write the store cannot take because it is
*unreachable* (connection refused, endpoint down, timeouts, HTTP 5xx; never a
refusal such as a retention guard, a permission or an existing key) is written
durably (fsync) into the spool directory as one batch file, with an order number
in its name and each object's lock parameters in its header, and is reported as
written, so the catalogue commit goes ahead. The objects stay present through the
wrapper: `get`, `exists`, `keys` and `lock_state` read the spool too, so reconcile,
search and `verify` work while they wait.

`drain` pushes the batches to the store in the order they were spooled and deletes
each batch once the store holds all of it. A key the store already holds with the
same bytes counts as delivered (a batch half-written before the outage, or a drain
interrupted by a crash, is simply pushed again); different bytes stop the drain with
an IntegrityError, since keys are content hashes and that is a real fault.

While anything is spooled, new writes join the spool behind it (after one drain
attempt), so objects reach the store in the order they were captured. After an
unreachable error the store is not tried again for `retry_interval` seconds: an
outage costs one timeout, not one per batch.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import heapq
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver.errors import IntegrityError, RetentionError, StorageError
from storage.objects.base import (
    LockState,
    NewObject,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
    checked_batch,
    normalise_retain_until,
    refuse_if_locked,
    refuse_shortening,
    utc_now,
)
from storage.objects.fsutil import fsync_dir, os_reason

log = logging.getLogger(__name__)

BATCH_SUFFIX = ".batch"
FORMAT_VERSION = 1
DEFAULT_RETRY_INTERVAL = 30.0
# errno values that mean "the far side is not there", e.g. an NFS mount gone stale.
NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ENOTCONN,
    errno.ETIMEDOUT,
    errno.EHOSTDOWN,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.ENETUNREACH,
    errno.ESTALE,
}
_SEQUENCE = itertools.count()


def is_unreachable(exc: BaseException) -> bool:
    """Whether a store error means the store could not be reached (spool and retry)
    rather than that it refused the operation (raise). Looks down the exception chain,
    since the backends raise StorageError from the transport's own error."""
    if isinstance(exc, RetentionError | ObjectExistsError | ObjectNotFoundError | IntegrityError):
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "unreachable", False):
            return True
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if isinstance(current, OSError) and current.errno in NETWORK_ERRNOS:
            return True
        if _is_botocore_unreachable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_botocore_unreachable(exc: BaseException) -> bool:
    try:
        from botocore import exceptions as boto
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError):
        return True  # endpoint, connect/read timeouts, closed connections, proxies
    if isinstance(exc, boto.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500  # 500 InternalError, 503 SlowDown / ServiceUnavailable
    return False


@dataclass(frozen=True)
class SpooledObject:
    """Where one spooled object's bytes are, and the lock it is to be born with."""

    key: str
    batch: str
    offset: int
    size: int
    sha256: str
    retain_until: datetime | None
    legal_hold: bool


@dataclass
class DrainReport:
    """What one drain did; `stopped` says why it ended early (store unreachable again)."""

    objects: int = 0
    batches: int = 0
    already_there: int = 0
    remaining_objects: int = 0
    stopped: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "batches": self.batches,
            "already_there": self.already_there,
            "remaining_objects": self.remaining_objects,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
        }


class SpoolDirectory:
    """The spool's files: one batch file per spooled write, named so that sorting
    the names gives the spooling order: `<time ns>-<pid>-<sequence>.batch`.

    A batch file is one JSON header line (format version, and per object its key,
    size, SHA-256, retain-until and legal hold), then the objects' bytes back to back.
    It is written to a temp file, fsynced, renamed and its directory fsynced, so a
    crash leaves either the whole batch or none of it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._index: dict[str, SpooledObject] = {}
        self._batches: dict[str, list[SpooledObject]] = {}
        self._stamp: int | None = None
        self._lock = threading.RLock()

    def ensure(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"spool directory {self.path} is not usable: {os_reason(exc)}; check "
                "storage.spool.path (default: spool/ in archive.dir) and its owner"
            ) from exc

    def remove_stale_temps(self) -> None:
        """Temp files of writers that died mid-write (their batch was never reported
        written, so nothing refers to them)."""
        for name in os.listdir(self.path):
            parts = name.split(".")
            if not (name.startswith(".") and name.endswith(".tmp") and len(parts) >= 4):
                continue
            try:
                os.kill(int(parts[-3]), 0)
            except ProcessLookupError:
                try:
                    os.unlink(self.path / name)
                except FileNotFoundError:
                    pass
            except (ValueError, PermissionError):
                continue

    # -- reading -------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Re-read the batch list if the directory changed (another process spooled or
        drained): one stat when nothing changed."""
        with self._lock:
            try:
                stamp = os.stat(self.path).st_mtime_ns
            except FileNotFoundError:
                self._index, self._batches, self._stamp = {}, {}, None
                return
            if stamp == self._stamp and not force:
                return
            names = self.batch_names()
            batches: dict[str, list[SpooledObject]] = {}
            for name in names:
                known = self._batches.get(name)
                if known is None:
                    try:
                        known = self._read_header(name)
                    except FileNotFoundError:
                        continue  # drained meanwhile
                batches[name] = known
            index: dict[str, SpooledObject] = {}
            for name in names:
                for entry in batches.get(name, ()):
                    index.setdefault(entry.key, entry)
            self._batches, self._index, self._stamp = batches, index, stamp

    def batch_names(self) -> list[str]:
        try:
            return sorted(
                name
                for name in os.listdir(self.path)
                if name.endswith(BATCH_SUFFIX) and not name.startswith(".")
            )
        except FileNotFoundError:
            return []

    def lookup(self, key: str) -> SpooledObject | None:
        with self._lock:
            self.refresh()
            return self._index.get(key)

    def spooled_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` are spooled (one directory check for the lot)."""
        with self._lock:
            self.refresh()
            return {key for key in keys if key in self._index}

    def entries(self, name: str) -> list[SpooledObject]:
        with self._lock:
            self.refresh()
            found = self._batches.get(name)
            return list(found) if found is not None else self._read_header(name)

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            self.refresh()
            return sorted(k for k in self._index if k.startswith(prefix))

    def read(self, entry: SpooledObject) -> bytes:
        """The object's bytes, checked against the SHA-256 written with them."""
        with open(self.path / entry.batch, "rb") as handle:
            handle.seek(entry.offset)
            data = handle.read(entry.size)
        found = hashlib.sha256(data).hexdigest()
        if len(data) != entry.size or found != entry.sha256:
            raise IntegrityError(f"spool/{entry.batch}:{entry.key}", "sha256", entry.sha256, found)
        return data

    def summary(self) -> dict[str, Any]:
        with self._lock:
            self.refresh()
            names = sorted(self._batches)
            size = sum(e.size for entries in self._batches.values() for e in entries)
            return {
                "path": str(self.path),
                "objects": len(self._index),
                "bytes": size,
                "batches": len(names),
                "oldest": _batch_time(names[0]) if names else None,
            }

    def _read_header(self, name: str) -> list[SpooledObject]:
        with open(self.path / name, "rb") as handle:
            line = handle.readline()
        try:
            header = json.loads(line)
            if header.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown spool format {header.get('version')!r}")
            offset = len(line)
            entries = []
            for item in header["objects"]:
                retain = item.get("retain_until")
                entries.append(
                    SpooledObject(
                        key=item["key"],
                        batch=name,
                        offset=offset,
                        size=int(item["size"]),
                        sha256=item["sha256"],
                        retain_until=datetime.fromisoformat(retain) if retain else None,
                        legal_hold=bool(item.get("legal_hold")),
                    )
                )
                offset += int(item["size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"spool batch {self.path / name} is unreadable ({exc}); it was written by "
                "another version, or damaged: keep it and report it, do not delete it"
            ) from exc
        return entries

    # -- writing -------------------------------------------------------------
    def append(self, objects: Sequence[NewObject]) -> str:
        """Write one batch durably and return its name."""
        self.ensure()
        name = f"{time.time_ns():020d}-{os.getpid():07d}-{next(_SEQUENCE):06d}{BATCH_SUFFIX}"
        self._write(name, objects)
        with self._lock:
            self._stamp = None  # our own change: re-read the listing next time
        return name

    def rewrite(self, name: str, objects: Sequence[NewObject]) -> None:
        """Replace a batch (a lock changed, an object was deleted); empty removes it."""
        if objects:
            self._write(name, objects)
        else:
            self.remove(name)
        with self._lock:
            self._batches.pop(name, None)
            self._stamp = None

    def remove(self, name: str) -> None:
        try:
            os.unlink(self.path / name)
        except FileNotFoundError:
            pass
        fsync_dir(os.fspath(self.path))
        with self._lock:
            self._batches.pop(name, None)
            self._stamp = None

    def load(self, name: str) -> list[NewObject]:
        """A batch's objects as they are to be written to the store."""
        return [
            NewObject(e.key, self.read(e), e.retain_until, e.legal_hold) for e in self.entries(name)
        ]

    def _write(self, name: str, objects: Sequence[NewObject]) -> None:
        header = {
            "version": FORMAT_VERSION,
            "objects": [
                {
                    "key": obj.key,
                    "size": len(obj.data),
                    "sha256": hashlib.sha256(obj.data).hexdigest(),
                    "retain_until": obj.retain_until.isoformat() if obj.retain_until else None,
                    "legal_hold": obj.legal_hold,
                }
                for obj in objects
            ],
        }
        temp = self.path / f".{name}.{os.getpid()}.{next(_SEQUENCE)}.tmp"
        try:
            with open(temp, "wb") as handle:
                handle.write(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
                for obj in objects:
                    handle.write(obj.data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path / name)
            fsync_dir(os.fspath(self.path))
        except OSError as exc:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise StorageError(
                f"cannot spool {len(objects)} object(s) to {self.path}: {os_reason(exc)}; "
                "the object store is unreachable and the spool cannot take them either"
            ) from exc

    def drain_lock(self) -> _FileLock:
        """Held while draining, so two processes on one spool do not push the same batch."""
        self.ensure()
        return _FileLock(self.path / ".drain.lock")


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> _FileLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _batch_time(name: str) -> str | None:
    try:
        nanoseconds = int(name.split("-", 1)[0])
    except ValueError:
        return None
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC).isoformat()


@dataclass
class _Outage:
    """When the store was last found unreachable, and why."""

    since: float | None = None
    retry_at: float = 0.0
    reason: str | None = None
    history: list[str] = field(default_factory=list)


class SpoolingStore(ObjectStore):
    """The configured store, with the spool in front of it for outages."""

    name = "spool"

    def __init__(
        self,
        inner: ObjectStore,
        directory: str | os.PathLike[str],
        *,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        tolerate_unreachable_at_start: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.inner = inner
        self.spool = SpoolDirectory(directory)
        self.retry_interval = retry_interval
        self.tolerate_unreachable_at_start = tolerate_unreachable_at_start
        self._monotonic = monotonic
        self._clock = clock
        self._write_lock = threading.RLock()
        self._outage = _Outage()
        self._unchecked = False  # the start-up check could not reach the store
        self.last_drain_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> SpoolingStore:
        raise StorageError(
            "the spool is not a backend of its own: it wraps the configured one "
            "(storage.spool.enabled); see storage.objects.spool.spool_if_enabled"
        )

    def check(self) -> None:
        """The store's own check, and the spool directory's. With
        `tolerate_unreachable_at_start` (the daemon), an unreachable store is logged
        and writes spool until it answers: a host rebooting during an outage must not
        stop capturing. Everything else still refuses to start."""
        self.spool.ensure()
        self.spool.remove_stale_temps()
        self.spool.refresh(force=True)
        try:
            self.inner.check()
        except StorageError as exc:
            if not (self.tolerate_unreachable_at_start and is_unreachable(exc)):
                raise
            self._unchecked = True
            self._mark_down(exc)
            log.error(
                "object store unreachable at start-up (%s); captured objects will wait in "
                "the spool at %s until it answers",
                exc,
                self.spool.path,
            )

    # -- writing -------------------------------------------------------------
    def put(
        self,
        key: str,
        data: bytes,
        *,
        retain_until: datetime | None = None,
        legal_hold: bool = False,
    ) -> None:
        self.put_many([NewObject(key, data, retain_until, legal_hold)])

    def put_many(self, objects: Iterable[NewObject]) -> None:
        """To the store if it answers and nothing waits before these; else to the spool."""
        batch = checked_batch(objects)
        if not batch:
            return
        with self._write_lock:
            spooled = self.spool.spooled_keys(o.key for o in batch)
            spooled_already = [o.key for o in batch if o.key in spooled]
            fresh = list({o.key: o for o in batch if o.key not in spooled}.values())
            if fresh:
                self._put_fresh(fresh, spooled_already)
            if spooled_already:
                raise ObjectExistsError.for_keys(spooled_already)

    def _put_fresh(self, fresh: list[NewObject], spooled_already: list[str]) -> None:
        if self.spool.batch_names() and not self._is_down():
            try:
                self._drain_locked()
            except (StorageError, IntegrityError) as exc:  # a fault, not an outage: keep
                # the order (the new objects wait behind), and say why on every write
                self.last_drain_error = str(exc)
                log.error("spool drain failed, new objects join the spool: %s", exc)
        if self.spool.batch_names() or self._is_down():
            self.spool.append(fresh)
            return
        try:
            self._ensure_checked()
            self.inner.put_many(fresh)
        except ObjectExistsError as exc:
            raise ObjectExistsError.for_keys([*spooled_already, *exc.keys]) from exc
        except StorageError as exc:
            if not is_unreachable(exc):
                raise
            self._mark_down(exc)
            self.spool.append(fresh)
            log.warning(
                "object store unreachable (%s): %d object(s) spooled to %s",
                exc,
                len(fresh),
                self.spool.path,
            )

    # -- draining ------------------------------------------------------------
    def drain(self) -> DrainReport:
        """Push spooled batches to the store in order; stop (not raise) if it is still
        unreachable. IntegrityError if the store holds a key with other bytes."""
        with self._write_lock:
            return self._drain_locked()

    def _drain_locked(self) -> DrainReport:
        report = DrainReport()
        started = time.perf_counter()
        try:
            with self.spool.drain_lock():
                self._ensure_checked()
                for name in self.spool.batch_names():
                    try:
                        objects = self.spool.load(name)
                    except FileNotFoundError:
                        continue  # another process drained it
                    report.already_there += self._deliver(name, objects)
                    self.spool.remove(name)
                    report.objects += len(objects)
                    report.batches += 1
        except (StorageError, IntegrityError) as exc:
            if not is_unreachable(exc):
                self.last_drain_error = str(exc)
                raise
            self._mark_down(exc)
            report.stopped = f"object store still unreachable: {exc}"
        else:
            self._outage = _Outage(history=self._outage.history)
            self.last_drain_error = None
        self.spool.refresh(force=True)
        report.remaining_objects = len(self.spool.keys())
        report.seconds = time.perf_counter() - started
        if report.objects:
            log.info(
                "spool drained: %d object(s) in %d batch(es), %d already in the store",
                report.objects,
                report.batches,
                report.already_there,
            )
        return report

    def _deliver(self, name: str, objects: list[NewObject]) -> int:
        """Write one batch; keys already holding the same bytes count as delivered."""
        try:
            self.inner.put_many(objects)
            return 0
        except ObjectExistsError as exc:
            existing = set(exc.keys)
        for obj in objects:
            if obj.key in existing and self.inner.get(obj.key) != obj.data:
                found = hashlib.sha256(self.inner.get(obj.key)).hexdigest()
                raise IntegrityError(
                    obj.key, "sha256", hashlib.sha256(obj.data).hexdigest(), found
                ) from None
        log.info("spool batch %s: %d object(s) were already in the store", name, len(existing))
        return len(existing)

    def _ensure_checked(self) -> None:
        if self._unchecked:
            self.inner.check()  # e.g. create the bucket, learn whether it has Object Lock
            self._unchecked = False

    def _is_down(self) -> bool:
        return self._outage.since is not None and self._monotonic() < self._outage.retry_at

    def _mark_down(self, exc: BaseException) -> None:
        now = self._monotonic()
        if self._outage.since is None:
            self._outage.since = now
        self._outage.retry_at = now + self.retry_interval
        self._outage.reason = str(exc)

    # -- reading -------------------------------------------------------------
    def get(self, key: str) -> bytes:
        entry = self.spool.lookup(key)
        if entry is not None:
            try:
                return self.spool.read(entry)
            except FileNotFoundError:
                pass  # drained since the lookup: the store has it now
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        if self.spool.lookup(key) is not None:
            return True
        return self.inner.exists(key)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """The store's keys and the spooled ones, merged in order, each once."""
        spooled = self.spool.keys(prefix)
        previous: str | None = None
        for key in heapq.merge(self.inner.keys(prefix), spooled):
            if key != previous:
                yield key
            previous = key

    # -- locks ---------------------------------------------------------------
    def lock_state(self, key: str) -> LockState:
        entry = self.spool.lookup(key)
        if entry is None:
            return self.inner.lock_state(key)
        retain_until = entry.retain_until
        if retain_until is not None:
            retain_until = normalise_retain_until(retain_until)
            if retain_until <= self._clock():
                retain_until = None  # run out already: the store will not record it either
        mode = getattr(self.inner, "lock_mode", "COMPLIANCE") if retain_until else None
        return LockState(retain_until, mode, entry.legal_hold)

    def delete(self, key: str) -> None:
        with self._write_lock:
            entry = self.spool.lookup(key)
            if entry is None:
                self.inner.delete(key)
                return
            refuse_if_locked(key, self.lock_state(key), self._clock())
            self._change_batch(entry.batch, key, remove=True)
        try:
            self.inner.delete(key)  # a copy may have landed before the outage
        except ObjectNotFoundError:
            pass

    def extend_retention(self, key: str, retain_until: datetime) -> None:
        with self._write_lock:
            entry = self.spool.lookup(key)
            if entry is None:
                self.inner.extend_retention(key, retain_until)
                return
            new_date = normalise_retain_until(retain_until)
            refuse_shortening(key, self.lock_state(key), new_date)
            self._change_batch(entry.batch, key, retain_until=new_date)

    def set_legal_hold(self, key: str, on: bool) -> None:
        self.set_legal_holds([key], on)

    def set_legal_holds(self, keys: Iterable[str], on: bool) -> int:
        """Spooled objects get the hold in their batch header (the store sets it when
        they are delivered); the rest go to the store in one call."""
        wanted = list(dict.fromkeys(keys))
        with self._write_lock:
            elsewhere = []
            for key in wanted:
                entry = self.spool.lookup(key)
                if entry is None:
                    elsewhere.append(key)
                elif entry.legal_hold != on:
                    self._change_batch(entry.batch, key, legal_hold=on)
            if elsewhere:
                self.inner.set_legal_holds(elsewhere, on)
        return len(wanted)

    def _change_batch(
        self,
        name: str,
        key: str,
        *,
        remove: bool = False,
        retain_until: datetime | None = None,
        legal_hold: bool | None = None,
    ) -> None:
        with self.spool.drain_lock():
            objects = []
            for obj in self.spool.load(name):
                if obj.key == key:
                    if remove:
                        continue
                    obj = NewObject(
                        obj.key,
                        obj.data,
                        retain_until if retain_until is not None else obj.retain_until,
                        obj.legal_hold if legal_hold is None else legal_hold,
                    )
                objects.append(obj)
            self.spool.rewrite(name, objects)

    # -- status --------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The spool's side of `archiver status`."""
        summary = self.spool.summary()
        outage = self._outage
        summary.update(
            enabled=True,
            store_reachable=outage.since is None,
            unreachable_for_seconds=None
            if outage.since is None
            else round(self._monotonic() - outage.since, 1),
            last_error=outage.reason,
            last_drain_error=self.last_drain_error,
        )
        return summary

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        """Attributes of the wrapped backend (bucket, prefix, lock_mode, root ...)."""
        if name == "inner" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def spool_settings_enabled(settings: Any) -> bool:
    """storage.spool.enabled, whose default (unset) is on for S3 and off for local files."""
    return bool(getattr(settings, "spool_enabled", False))


def spool_if_enabled(
    store: ObjectStore, settings: Any, *, tolerate_unreachable_at_start: bool = False
) -> ObjectStore:
    """Wrap `store` in the spool when the settings enable it. The wrapper's class is
    made a subclass of the backend's (`spooling_class`), so code that asks for the
    backend (isinstance, `store.bucket`) still finds it; every operation still goes
    through the spool first."""
    if not spool_settings_enabled(settings):
        return store
    return spooling_class(type(store))(
        store,
        settings.spool_dir,
        retry_interval=settings.storage.spool.retry_interval,
        tolerate_unreachable_at_start=tolerate_unreachable_at_start,
    )


@functools.cache
def spooling_class(backend: type[ObjectStore]) -> type[SpoolingStore]:
    """SpoolingStore presented as a kind of `backend`: SpoolingStore's methods come
    first in the MRO and work on the wrapped instance; attributes it lacks (bucket,
    lock_mode, root) are read from the wrapped store."""
    if issubclass(backend, SpoolingStore):
        return backend
    return type(f"Spooling{backend.__name__}", (SpoolingStore, backend), {"name": backend.name})


def spool_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What waits in a spool directory, read without opening a store (status, and
    leftovers after the spool was switched off)."""
    return SpoolDirectory(path).summary()
