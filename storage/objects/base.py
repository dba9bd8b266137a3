"""The object-store interface: write-once, content-addressed bytes with retention locks.

Every backend (local files, S3 with Object Lock) implements this and passes the
shared contract suite in tests/storage/test_object_store_contract.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from archiver.errors import StorageError


class ObjectExistsError(StorageError):
    """A write-once key was written again."""


class ObjectNotFoundError(StorageError):
    """No object is stored under the key."""


@dataclass(frozen=True)
class NewObject:
    """One object to write: its key, its bytes and the lock it is born with."""

    key: str
    data: bytes
    retain_until: datetime | None = None  # timezone-aware UTC
    legal_hold: bool = False


@dataclass(frozen=True)
class LockState:
    """What protects an object now: retention date, lock mode, legal hold."""

    retain_until: datetime | None
    mode: str | None  # "COMPLIANCE", "GOVERNANCE", or None when not locked
    legal_hold: bool


class ObjectStore(ABC):
    """Write-once object storage. Keys are '/'-separated relative paths."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any) -> ObjectStore:
        """Build the store from the validated `config.settings.Settings`."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError naming the location if the store is unusable."""

    @abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        retain_until: datetime | None = None,
        legal_hold: bool = False,
    ) -> None:
        """Write once; ObjectExistsError if the key already holds an object."""

    def put_many(self, objects: Iterable[NewObject]) -> None:
        """Write a batch; all written objects are durable when this returns."""
        for obj in objects:
            self.put(obj.key, obj.data, retain_until=obj.retain_until, legal_hold=obj.legal_hold)

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; ObjectNotFoundError if absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""

    @abstractmethod
    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with `prefix`, in lexicographic order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove for good; RetentionError while retained or on legal hold."""

    @abstractmethod
    def lock_state(self, key: str) -> LockState:
        """The object's retention date, lock mode and legal hold."""

    @abstractmethod
    def extend_retention(self, key: str, retain_until: datetime) -> None:
        """Move retain-until later; RetentionError if that would shorten it."""

    @abstractmethod
    def set_legal_hold(self, key: str, on: bool) -> None:
        """Switch the object's legal hold on or off."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""
