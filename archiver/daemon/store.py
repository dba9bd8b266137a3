"""The object store as the daemon's worker threads share it.

Several accounts capture at once, and media downloads write from their threads
while the ingest writer thread writes records. The local store keeps per-batch
state on the instance (the directories a batch made), so writes are serialised
here; reads stay concurrent. The spool already serialises its writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from storage.objects.base import LockState, NewObject, ObjectStore
from storage.objects.spool import SpoolingStore


class SerialisedWrites(ObjectStore):
    """Delegates to `inner`, one write at a time."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Any) -> ObjectStore:  # pragma: no cover - never registered
        raise NotImplementedError("wraps an opened store")

    def check(self) -> None:
        self.inner.check()

    def put(
        self, key: str, data: bytes, *, retain_until: datetime | None = None,
        legal_hold: bool = False,
    ) -> None:
        with self._lock:
            self.inner.put(key, data, retain_until=retain_until, legal_hold=legal_hold)

    def put_many(self, objects: Iterable[NewObject]) -> None:
        with self._lock:
            self.inner.put_many(objects)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return self.inner.keys(prefix)

    def delete(self, key: str) -> None:
        with self._lock:
            self.inner.delete(key)

    def lock_state(self, key: str) -> LockState:
        return self.inner.lock_state(key)

    def extend_retention(self, key: str, retain_until: datetime) -> None:
        with self._lock:
            self.inner.extend_retention(key, retain_until)

    def set_legal_hold(self, key: str, on: bool) -> None:
        with self._lock:
            self.inner.set_legal_hold(key, on)

    def set_legal_holds(self, keys: Iterable[str], on: bool) -> int:
        with self._lock:
            return self.inner.set_legal_holds(keys, on)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        if name == "inner" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def thread_safe(store: ObjectStore) -> ObjectStore:
    """The store, made safe for the daemon's threads."""
    if isinstance(store, SpoolingStore | SerialisedWrites):
        return store
    return SerialisedWrites(store)


def spooling_store(store: ObjectStore) -> SpoolingStore | None:
    """The spool in front of `store`, if there is one."""
    while True:
        if isinstance(store, SpoolingStore):
            return store
        inner = store.__dict__.get("inner") if hasattr(store, "__dict__") else None
        if inner is None:
            return None
        store = inner
