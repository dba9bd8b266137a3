"""The object-store interface: write-once, content-addressed bytes with retention locks.

Every backend (local files, S3 with Object Lock) implements this and passes the
shared contract suite in tests/storage/test_object_store_contract.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from archiver.errors import RetentionError, StorageError
from storage.objects.paths import validate_key


class ObjectExistsError(StorageError):
    """A write-once key was written again; `keys` names every such key of the call."""

    def __init__(self, message: str, keys: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.keys: tuple[str, ...] = tuple(keys)

    @classmethod
    def for_keys(cls, keys: Sequence[str]) -> ObjectExistsError:
        """The error for one or more keys that already hold an object."""
        if len(keys) == 1:
            return cls(f"{keys[0]!r} already holds an object; objects are write-once", keys)
        shown = ", ".join(repr(k) for k in keys[:5]) + (" ..." if len(keys) > 5 else "")
        return cls(
            f"{len(keys)} key(s) already hold an object and objects are write-once: {shown}",
            keys,
        )


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
        """Write once; ObjectExistsError if the key already holds an object.

        `retain_until` must be timezone-aware; it is rounded up to a whole second
        (S3 keeps seconds). A date already past protects nothing and is not
        recorded, so back-filling old records whose retention has run out works.
        """

    def put_many(self, objects: Iterable[NewObject]) -> None:
        """Write a batch; all written objects are durable when this returns.

        Objects under new keys are written even when other keys of the batch
        already hold an object; ObjectExistsError then names those (`.keys`), so
        an ingest batch retried after a crash writes what is missing and says
        what was already there. Any other error may leave part of the batch
        written; retrying is safe for the same reason.
        """
        existing: list[str] = []
        for obj in objects:
            try:
                self.put(
                    obj.key, obj.data, retain_until=obj.retain_until, legal_hold=obj.legal_hold
                )
            except ObjectExistsError:
                existing.append(obj.key)
        if existing:
            raise ObjectExistsError.for_keys(existing)

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

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete a batch (disposition removes thousands); all-or-nothing as far as the
        checks go: every key is checked before any is removed. Returns how many."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            refuse_if_locked(key, self.lock_state(key), utc_now())
        for key in wanted:
            self.delete(key)
        return len(wanted)

    @abstractmethod
    def lock_state(self, key: str) -> LockState:
        """The object's retention date, lock mode and legal hold."""

    @abstractmethod
    def extend_retention(self, key: str, retain_until: datetime) -> None:
        """Move retain-until later; RetentionError if that would shorten it.

        A date that is not in the future changes nothing (it would protect
        nothing, and S3 refuses past dates).
        """

    @abstractmethod
    def set_legal_hold(self, key: str, on: bool) -> None:
        """Switch the object's legal hold on or off."""

    def set_legal_holds(self, keys: Iterable[str], on: bool) -> int:
        """Switch many legal holds (a matter can cover 100,000 records); returns how many
        objects it touched. Backends override it to batch the work."""
        count = 0
        for key in keys:
            self.set_legal_hold(key, on)
            count += 1
        return count

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""


def normalise_retain_until(retain_until: datetime) -> datetime:
    """UTC, rounded up to the whole second: never shorter than asked, and the
    precision S3 keeps, so both backends report the same date back."""
    if retain_until.tzinfo is None or retain_until.utcoffset() is None:
        raise ValueError(f"retain_until must be timezone-aware (UTC), got {retain_until!r}")
    utc = retain_until.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc


def checked_batch(objects: Iterable[NewObject]) -> list[NewObject]:
    """The batch as a list, refused whole, before anything of it is written, if a
    key or a retain-until date is invalid."""
    batch = list(objects)
    for obj in batch:
        validate_key(obj.key)
        if obj.retain_until is not None:
            normalise_retain_until(obj.retain_until)
    return batch


def utc_now() -> datetime:
    """The default clock of the stores; tests may inject another."""
    return datetime.now(UTC)


def refuse_if_locked(key: str, state: LockState, now: datetime) -> None:
    """The delete guard both backends share: RetentionError naming the key and
    what protects it (the retain-until date or the legal hold)."""
    if state.legal_hold:
        raise RetentionError(f"cannot delete {key!r}: it is on legal hold; release the hold first")
    if state.retain_until is not None and state.retain_until > now:
        raise RetentionError(
            f"cannot delete {key!r}: retained ({state.mode or 'COMPLIANCE'}) until "
            f"{state.retain_until.isoformat()}"
        )


def refuse_shortening(key: str, current: LockState, retain_until: datetime) -> None:
    """The extend guard: RetentionError if `retain_until` is before the current date."""
    if current.retain_until is not None and retain_until < current.retain_until:
        raise RetentionError(
            f"cannot shorten the retention of {key!r}: it is retained until "
            f"{current.retain_until.isoformat()}, later than {retain_until.isoformat()}"
        )
