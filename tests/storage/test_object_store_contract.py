"""The contract every object store keeps, run against each backend (local, S3)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from archiver.errors import RetentionError, StorageError
from storage.objects.base import (
    LockState,
    NewObject,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
)


def days_from_now(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


@pytest.mark.parametrize("size", [0, 1, 1024, 1 << 20])
def test_put_then_get_returns_the_same_bytes(object_store: ObjectStore, size: int) -> None:
    data = os.urandom(size)
    object_store.put(f"blobs/{size}.bin", data)
    assert object_store.get(f"blobs/{size}.bin") == data


def test_a_key_is_written_once(object_store: ObjectStore) -> None:
    object_store.put("records/a.json", b"first")
    with pytest.raises(ObjectExistsError, match="write-once") as caught:
        object_store.put("records/a.json", b"second")
    assert caught.value.keys == ("records/a.json",)
    assert object_store.get("records/a.json") == b"first"


def test_keys_are_listed_in_lexicographic_order_and_filtered_by_prefix(
    object_store: ObjectStore,
) -> None:
    # 'a.txt' < 'a/a' because '.' < '/': a tree walk that lists a directory
    # before its sibling files would get this wrong.
    keys = ["b/2", "a/b", "ab", "a.txt", "b/10", "a/a", "a-z", "records/sha256/ab/cd/x.json"]
    object_store.put_many(NewObject(key, key.encode()) for key in keys)
    assert list(object_store.keys()) == sorted(keys)
    assert list(object_store.keys("a")) == ["a-z", "a.txt", "a/a", "a/b", "ab"]
    assert list(object_store.keys("a/")) == ["a/a", "a/b"]
    assert list(object_store.keys("b/1")) == ["b/10"]
    assert list(object_store.keys("records/sha256/")) == ["records/sha256/ab/cd/x.json"]
    assert list(object_store.keys("zzz")) == []
    assert list(object_store.keys("../")) == []


def test_exists_and_get_of_a_missing_key(object_store: ObjectStore) -> None:
    assert not object_store.exists("records/missing.json")
    object_store.put("records/present.json", b"{}")
    assert object_store.exists("records/present.json")
    assert not object_store.exists("records")  # a prefix is not an object
    with pytest.raises(ObjectNotFoundError):
        object_store.get("records/missing.json")


def test_an_unretained_object_can_be_deleted_for_good(object_store: ObjectStore) -> None:
    object_store.put("records/gone.json", b"bye")
    object_store.delete("records/gone.json")
    assert not object_store.exists("records/gone.json")
    assert list(object_store.keys()) == []
    with pytest.raises(ObjectNotFoundError):
        object_store.get("records/gone.json")
    with pytest.raises(ObjectNotFoundError):
        object_store.delete("records/gone.json")
    object_store.put("records/gone.json", b"again")  # the key is free once more
    assert object_store.get("records/gone.json") == b"again"


def test_delete_before_retain_until_is_refused(object_store: ObjectStore) -> None:
    retain_until = days_from_now(1)
    object_store.put("records/kept.json", b"keep", retain_until=retain_until)
    with pytest.raises(RetentionError, match="records/kept.json") as caught:
        object_store.delete("records/kept.json")
    assert retain_until.isoformat() in str(caught.value)
    assert object_store.get("records/kept.json") == b"keep"


def test_delete_works_once_retention_has_run_out(object_store: ObjectStore) -> None:
    retain_until = datetime.now(UTC) + timedelta(seconds=1)
    object_store.put("records/brief.json", b"brief", retain_until=retain_until)
    with pytest.raises(RetentionError):
        object_store.delete("records/brief.json")
    expiry = object_store.lock_state("records/brief.json").retain_until
    assert expiry is not None
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.2)
    object_store.delete("records/brief.json")
    assert not object_store.exists("records/brief.json")


def test_a_legal_hold_blocks_delete_until_released(object_store: ObjectStore) -> None:
    object_store.put("records/held.json", b"held", legal_hold=True)
    with pytest.raises(RetentionError, match="legal hold"):
        object_store.delete("records/held.json")
    assert object_store.get("records/held.json") == b"held"
    object_store.set_legal_hold("records/held.json", False)
    object_store.delete("records/held.json")
    assert not object_store.exists("records/held.json")


def test_a_hold_placed_later_blocks_delete_even_after_retention(object_store: ObjectStore) -> None:
    object_store.put("records/later.json", b"x")
    object_store.set_legal_hold("records/later.json", True)
    with pytest.raises(RetentionError, match="legal hold"):
        object_store.delete("records/later.json")
    object_store.set_legal_hold("records/later.json", True)  # idempotent
    assert object_store.lock_state("records/later.json").legal_hold


def test_a_released_hold_still_leaves_the_retention(object_store: ObjectStore) -> None:
    object_store.put("records/both.json", b"x", retain_until=days_from_now(1), legal_hold=True)
    object_store.set_legal_hold("records/both.json", False)
    with pytest.raises(RetentionError, match="until"):
        object_store.delete("records/both.json")


def test_retention_can_be_extended_but_never_shortened(object_store: ObjectStore) -> None:
    object_store.put("records/r.json", b"r", retain_until=days_from_now(1))
    later = days_from_now(2)
    object_store.extend_retention("records/r.json", later)
    assert object_store.lock_state("records/r.json").retain_until == later
    with pytest.raises(RetentionError, match="shorten"):
        object_store.extend_retention("records/r.json", days_from_now(0.5))
    object_store.extend_retention("records/r.json", later)  # the same date is no change
    assert object_store.lock_state("records/r.json").retain_until == later


def test_retention_can_be_added_to_an_unretained_object(object_store: ObjectStore) -> None:
    object_store.put("records/plain.json", b"p")
    retain_until = days_from_now(1)
    object_store.extend_retention("records/plain.json", retain_until)
    assert object_store.lock_state("records/plain.json") == LockState(
        retain_until, "COMPLIANCE", False
    )
    with pytest.raises(RetentionError):
        object_store.delete("records/plain.json")


def test_lock_state_reflects_retention_mode_and_hold(object_store: ObjectStore) -> None:
    retain_until = days_from_now(3)
    object_store.put("records/l.json", b"l", retain_until=retain_until, legal_hold=True)
    object_store.put("records/u.json", b"u")
    assert object_store.lock_state("records/l.json") == LockState(retain_until, "COMPLIANCE", True)
    assert object_store.lock_state("records/u.json") == LockState(None, None, False)
    object_store.set_legal_hold("records/l.json", False)
    assert object_store.lock_state("records/l.json") == LockState(retain_until, "COMPLIANCE", False)


def test_retain_until_is_rounded_up_to_the_second(object_store: ObjectStore) -> None:
    asked = days_from_now(1) + timedelta(microseconds=250_000)
    object_store.put("records/s.json", b"s", retain_until=asked)
    kept = object_store.lock_state("records/s.json").retain_until
    assert kept == asked.replace(microsecond=0) + timedelta(seconds=1)


def test_a_retain_until_already_past_protects_nothing(object_store: ObjectStore) -> None:
    # Back-filling a record whose retention ran out before it was captured.
    object_store.put("records/old.json", b"o", retain_until=days_from_now(-30))
    assert object_store.lock_state("records/old.json") == LockState(None, None, False)
    object_store.delete("records/old.json")


def test_a_naive_retain_until_is_refused(object_store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="timezone"):
        object_store.put("records/n.json", b"n", retain_until=datetime(2040, 1, 1))
    assert not object_store.exists("records/n.json")


def test_lock_operations_on_a_missing_key(object_store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        object_store.lock_state("records/none.json")
    with pytest.raises(ObjectNotFoundError):
        object_store.extend_retention("records/none.json", days_from_now(1))
    with pytest.raises(ObjectNotFoundError):
        object_store.set_legal_hold("records/none.json", True)


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../x",
    "a/../b",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "a\x00b",
    ".locks/x",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused_by_every_operation(object_store: ObjectStore, key: str) -> None:
    operations = [
        lambda: object_store.put(key, b"x"),
        lambda: object_store.put_many([NewObject(key, b"x")]),
        lambda: object_store.get(key),
        lambda: object_store.exists(key),
        lambda: object_store.delete(key),
        lambda: object_store.lock_state(key),
        lambda: object_store.set_legal_hold(key, True),
        lambda: object_store.extend_retention(key, days_from_now(1)),
    ]
    for operation in operations:
        with pytest.raises(StorageError, match="invalid object key"):
            operation()
    assert list(object_store.keys()) == []


def test_put_many_writes_a_batch_with_its_locks(object_store: ObjectStore) -> None:
    retain_until = days_from_now(1)
    batch = [
        NewObject(
            f"records/{index:03d}.json",
            f"record {index}".encode(),
            retain_until if index % 2 else None,
            legal_hold=index % 5 == 0,
        )
        for index in range(60)
    ]
    object_store.put_many(batch)
    assert list(object_store.keys("records/")) == [obj.key for obj in batch]
    for obj in batch:
        assert object_store.get(obj.key) == obj.data
        state = object_store.lock_state(obj.key)
        assert state.retain_until == obj.retain_until
        assert state.legal_hold == obj.legal_hold


def test_put_many_writes_the_new_keys_and_names_the_existing(object_store: ObjectStore) -> None:
    object_store.put("batch/1", b"original")
    batch = [NewObject("batch/0", b"0"), NewObject("batch/1", b"new"), NewObject("batch/2", b"2")]
    with pytest.raises(ObjectExistsError) as caught:
        object_store.put_many(batch)
    assert caught.value.keys == ("batch/1",)
    assert object_store.get("batch/1") == b"original"
    assert list(object_store.keys("batch/")) == ["batch/0", "batch/1", "batch/2"]


def test_put_many_with_an_invalid_key_writes_nothing(object_store: ObjectStore) -> None:
    with pytest.raises(StorageError, match="invalid object key"):
        object_store.put_many([NewObject("ok/1", b"1"), NewObject("../escape", b"2")])
    assert list(object_store.keys()) == []


def test_an_empty_batch_is_fine(object_store: ObjectStore) -> None:
    object_store.put_many([])
    assert list(object_store.keys()) == []


def test_legal_holds_in_a_batch(object_store) -> None:
    keys = [f"records/sha256/aa/bb/batch-{n}" for n in range(5)]
    for key in keys:
        object_store.put(key, b"x")
    assert object_store.set_legal_holds(keys[:3], True) == 3
    assert [object_store.lock_state(k).legal_hold for k in keys] == [True, True, True, False, False]
    with pytest.raises(RetentionError):
        object_store.delete(keys[0])
    object_store.set_legal_holds(keys[:3], False)
    object_store.delete(keys[0])
    assert not object_store.exists(keys[0])


def test_delete_many_checks_every_key_before_removing_any(object_store) -> None:
    keys = [f"records/sha256/cc/dd/many-{n}" for n in range(4)]
    for key in keys:
        object_store.put(key, b"x")
    object_store.set_legal_hold(keys[3], True)
    with pytest.raises(RetentionError):
        object_store.delete_many(keys)
    assert all(object_store.exists(k) for k in keys)  # nothing removed
    assert object_store.delete_many(keys[:3]) == 3
    assert [object_store.exists(k) for k in keys] == [False, False, False, True]
