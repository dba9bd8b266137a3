"""The spool in front of an object store: what an outage spools, what reads see
while objects wait, the order and idempotence of the drain, and what is never
spooled (refusals). The outage is a seam: a local store whose writes fail with a
refused connection while `down` is set (the S3 outage test uses a real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from archiver.errors import IntegrityError, RetentionError, StorageError
from storage.objects.base import NewObject, ObjectExistsError
from storage.objects.local import LocalObjectStore
from storage.objects.registry import open_object_store
from storage.objects.s3 import S3ObjectStore
from storage.objects.spool import SpoolingStore, is_unreachable, spooling_class
from tests.support import local_settings
from tests.support.s3 import s3_settings

RETAIN = datetime(2032, 1, 1, tzinfo=UTC)


class FlakyStore(LocalObjectStore):
    """A local store that cannot be reached while `down` is set; logs delivered keys."""

    down = False

    def __init__(self, root: Path) -> None:
        super().__init__(root, "none")
        self.delivered: list[str] = []

    def put_many(self, objects):  # type: ignore[no-untyped-def]
        batch = list(objects)
        if self.down:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError as exc:
                raise StorageError("cannot connect to the store") from exc
        try:
            super().put_many(batch)
        finally:
            self.delivered.extend(o.key for o in batch if self.exists(o.key))


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def inner(tmp_path: Path) -> FlakyStore:
    store = FlakyStore(tmp_path / "objects")
    store.check()
    return store


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


def spooled(inner: FlakyStore, tmp_path: Path, ticker: Ticker) -> SpoolingStore:
    store = SpoolingStore(inner, tmp_path / "spool", retry_interval=30, monotonic=ticker)
    store.check()
    return store


def objects(*names: str) -> list[NewObject]:
    return [NewObject(f"records/{n}.json", f"bytes of {n}".encode(), RETAIN) for n in names]


def test_an_outage_spools_and_reads_still_find_everything(
    inner: FlakyStore, tmp_path: Path, ticker: Ticker
) -> None:
    store = spooled(inner, tmp_path, ticker)
    store.put_many(objects("a"))
    inner.down = True
    store.put_many(objects("b", "c"))  # reported written: the catalogue commit goes ahead
    assert not inner.exists("records/b.json")
    assert store.get("records/b.json") == b"bytes of b" and store.exists("records/c.json")
    assert list(store.keys("records/")) == ["records/a.json", "records/b.json", "records/c.json"]
    assert store.lock_state("records/c.json").retain_until == RETAIN
    with pytest.raises(ObjectExistsError):  # write-once holds across the spool too
        store.put("records/b.json", b"other")
    status = store.status()
    assert status["objects"] == 2 and status["batches"] == 1 and not status["store_reachable"]

    # A restart (a new wrapper on the same directory) finds what waits: it was fsynced.
    again = spooled(inner, tmp_path, ticker)
    assert again.get("records/c.json") == b"bytes of c"


def test_drain_delivers_in_spooling_order_once(
    inner: FlakyStore, tmp_path: Path, ticker: Ticker
) -> None:
    store = spooled(inner, tmp_path, ticker)
    inner.down = True
    store.put_many(objects("c", "a"))
    store.put_many(objects("b"))  # within retry_interval: straight to the spool, no attempt
    report = store.drain()
    assert report.stopped and report.objects == 0 and report.remaining_objects == 3
    inner.down = False
    ticker.now += 31
    store.put_many(objects("d"))  # the store is back: the spool drains first, then d
    assert inner.delivered == ["records/c.json", "records/a.json", "records/b.json",
                               "records/d.json"]
    assert store.status()["objects"] == 0 and store.status()["store_reachable"]
    assert store.drain().objects == 0
    assert store.get("records/a.json") == b"bytes of a"


def test_objects_already_in_the_store_count_as_delivered(
    inner: FlakyStore, tmp_path: Path, ticker: Ticker
) -> None:
    store = spooled(inner, tmp_path, ticker)
    inner.down = True
    store.put_many(objects("a", "b"))
    inner.down = False
    LocalObjectStore.put_many(inner, objects("a"))  # landed before the outage was seen
    report = store.drain()
    assert (report.objects, report.already_there, report.remaining_objects) == (2, 1, 0)
    assert inner.get("records/b.json") == b"bytes of b"


def test_different_bytes_under_a_key_stop_the_drain(
    inner: FlakyStore, tmp_path: Path, ticker: Ticker
) -> None:
    store = spooled(inner, tmp_path, ticker)
    inner.down = True
    store.put_many(objects("a"))
    inner.down = False
    LocalObjectStore.put(inner, "records/a.json", b"tampered")
    with pytest.raises(IntegrityError):
        store.drain()
    assert store.status()["objects"] == 1 and store.status()["last_drain_error"]


def test_refusals_are_never_spooled(inner: FlakyStore, tmp_path: Path, ticker: Ticker) -> None:
    store = spooled(inner, tmp_path, ticker)
    store.put_many(objects("a"))
    with pytest.raises(ObjectExistsError):
        store.put("records/a.json", b"again")
    with pytest.raises(RetentionError):
        store.delete("records/a.json")
    assert store.status()["objects"] == 0


def test_locks_on_spooled_objects_travel_with_them(
    inner: FlakyStore, tmp_path: Path, ticker: Ticker
) -> None:
    store = spooled(inner, tmp_path, ticker)
    inner.down = True
    store.put_many(objects("a", "b"))
    assert store.set_legal_holds(["records/a.json"], True) == 1
    later = RETAIN + timedelta(days=365)
    store.extend_retention("records/b.json", later)
    with pytest.raises(RetentionError):
        store.extend_retention("records/b.json", RETAIN)
    with pytest.raises(RetentionError):
        store.delete("records/a.json")
    inner.down = False
    store.drain()
    assert inner.lock_state("records/a.json").legal_hold
    assert inner.lock_state("records/b.json").retain_until == later


def test_what_counts_as_unreachable() -> None:
    def raised_from(cause: BaseException) -> StorageError:
        try:
            raise cause
        except BaseException as exc:  # noqa: BLE001
            try:
                raise StorageError("S3 could not write") from exc
            except StorageError as outer:
                return outer

    assert is_unreachable(raised_from(EndpointConnectionError(endpoint_url="http://x")))
    assert is_unreachable(raised_from(TimeoutError()))
    slow_down = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
    denied = ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    assert is_unreachable(raised_from(slow_down))
    assert not is_unreachable(raised_from(denied))
    assert not is_unreachable(RetentionError("retained until 2032"))
    assert not is_unreachable(StorageError("invalid object key"))


def test_on_by_default_for_s3_off_for_local(tmp_path: Path, moto_endpoint: str) -> None:
    local = open_object_store(local_settings(tmp_path / "local"))
    assert isinstance(local, LocalObjectStore) and not isinstance(local, SpoolingStore)
    s3 = open_object_store(s3_settings(moto_endpoint, tmp_path / "s3"))
    try:
        # Still an S3 store to whoever asks (bucket, lock mode), with the spool in front.
        assert isinstance(s3, SpoolingStore) and isinstance(s3, S3ObjectStore)
        assert s3.bucket and s3.lock_mode == "COMPLIANCE"
        assert type(s3) is spooling_class(S3ObjectStore)
        assert (tmp_path / "s3" / "spool").is_dir()
    finally:
        s3.close()
    explicit = local_settings(tmp_path / "explicit")
    explicit.storage.spool.enabled = True
    assert isinstance(open_object_store(explicit), SpoolingStore)


def test_a_writer_that_died_mid_write_leaves_nothing_behind(
    inner: FlakyStore, tmp_path: Path, ticker: Ticker
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    dead = spool_dir / ".00000000000000000001-0000001-000000.batch.999999999.0.tmp"
    dead.write_bytes(b'{"version": 1, "objects": [')  # cut off: never reported written
    store = spooled(inner, tmp_path, ticker)
    assert not dead.exists() and store.status()["objects"] == 0
