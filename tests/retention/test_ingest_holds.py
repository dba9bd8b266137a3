"""New captures an active matter's scope covers are held at ingest, in the transaction
that archives them, before any indexing (SQLite and PostgreSQL; S3 in test_s3_retention)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archiver.archive import Archive
from archiver.canonical import sha256_hex
from archiver.errors import StorageError
from archiver.holds import HoldService, Scope, active_matters
from archiver.ingest_holds import IngestHolds
from archiver.records import media_key, record_key
from storage.catalogue.retention import hold_media
from tests.retention.helpers import audit_events, record_ids, showing
from tests.support.items import make_item


def held(archive: Archive, record_id: str) -> bool:
    """Held in the catalogue (an active matter's member) and where the bytes live."""
    with archive.engine.connect() as conn:
        in_catalogue = bool(HoldService(archive).held_record_ids(conn, [record_id]))
    on_object = archive.store.lock_state(record_key(record_id)).legal_hold
    assert in_catalogue == on_object, "the catalogue and the object disagree"
    return in_catalogue


def test_a_new_capture_in_scope_is_held_at_ingest_before_indexing(archive_30d: Archive) -> None:
    holds = HoldService(archive_30d)
    holds.create("acme", Scope("merger"), "SEC inquiry 2026-17")
    archive_30d.ingest([make_item("1", "merger talk"), make_item("2", "lunch menu")])
    assert archive_30d.search.lag() == 2  # nothing indexed yet
    (merger,), (lunch,) = record_ids(archive_30d, native_id="1"), record_ids(archive_30d, native_id="2")
    assert held(archive_30d, merger) and not held(archive_30d, lunch)
    assert holds.show("acme")["records"] == 1
    assert audit_events(archive_30d, "hold-extend") == [(
        "test:officer",
        {"matter": "acme", "reason": "SEC inquiry 2026-17", "records": 1, "media": 0, "at": "ingest"},
    )]
    run = archive_30d.index_and_hold()
    assert run.held == 0  # the safety net finds it held already
    assert archive_30d.search.index.matching_ids("holds:acme") == {merger}


def test_versions_and_tombstones_are_held_by_the_content_they_delete(archive_30d: Archive) -> None:
    archive_30d.ingest([make_item("1", "merger rumours"), make_item("2", "lunch menu")])
    HoldService(archive_30d).create("acme", Scope("merger"), "inquiry")
    # An edit, then tombstones: one whose deleted content is in the store, one whose
    # deleted version is in the same batch, one of an item out of scope.
    archive_30d.ingest([make_item("1", "merger rumours denied")])
    archive_30d.ingest([
        make_item("1", deleted=True, status=404),
        make_item("5", "merger closing"),
        make_item("5", deleted=True, status=404),
        make_item("2", deleted=True, status=404),
    ])
    assert archive_30d.search.lag() == 6
    assert all(held(archive_30d, r) for r in record_ids(archive_30d, native_id="1"))
    assert all(held(archive_30d, r) for r in record_ids(archive_30d, native_id="5"))
    assert not any(held(archive_30d, r) for r in record_ids(archive_30d, native_id="2"))


def test_the_scope_accounts_and_dates_apply_at_ingest(archive_30d: Archive) -> None:
    scope = Scope("acme", ("@a@x",), datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC))
    HoldService(archive_30d).create("narrow", scope, "scoped")
    archive_30d.ingest([
        make_item("1", "acme one", account="@a@x", created_at="2025-01-10T00:00:00Z"),
        make_item("2", "acme two", account="@b@x", created_at="2025-01-10T00:00:00Z"),
        make_item("3", "acme three", account="@a@x", created_at="2025-03-10T00:00:00Z"),
        make_item("4", "other", account="@a@x", created_at="2025-01-10T00:00:00Z"),
    ])
    assert [n for n in "1234" if held(archive_30d, record_ids(archive_30d, native_id=n)[0])] == ["1"]


def test_media_of_a_capture_held_at_ingest_are_held(archive_30d: Archive) -> None:
    HoldService(archive_30d).create("acme", Scope("merger"), "inquiry")
    photo, other = b"\x89PNG merger photo", b"\x89PNG lunch photo"
    archive_30d.ingest([
        showing(archive_30d, make_item("1", "merger photo"), photo),
        showing(archive_30d, make_item("2", "lunch"), other),
    ])
    # An edit showing the same photo: the matter holds the blob already (no second row).
    archive_30d.ingest([showing(archive_30d, make_item("1", "merger photo, cropped"), photo)])
    photo_sha, other_sha = sha256_hex(photo), sha256_hex(other)
    assert archive_30d.store.lock_state(media_key(photo_sha)).legal_hold
    assert not archive_30d.store.lock_state(media_key(other_sha)).legal_hold
    with archive_30d.engine.connect() as conn:
        assert list(conn.execute(hold_media.select()).mappings()) == [{"hold_id": 1, "sha256": photo_sha}]
    extensions = [params for _, params in audit_events(archive_30d, "hold-extend")]
    assert [(e["records"], e["media"]) for e in extensions] == [(1, 1), (1, 0)]


def test_without_an_active_matter_ingest_does_no_per_record_work(
    archive_30d: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("matched records against holds with no active matter")

    monkeypatch.setattr(IngestHolds, "matching", refuse)
    archive_30d.ingest([make_item("1", "merger talk")])
    holds = HoldService(archive_30d)
    holds.create("closed", Scope("merger"), "inquiry")
    holds.release("closed", "settled")
    archive_30d.ingest([make_item("2", "merger again")])
    assert not held(archive_30d, record_ids(archive_30d, native_id="2")[0])
    assert audit_events(archive_30d, "hold-extend") == []


class WritesThenFails:
    """The real store, except that a batch's commit never happens after its objects
    are written (a crash between the two)."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def put_many(self, objects) -> None:
        self.real.put_many(objects)
        raise StorageError("connection lost before the commit")


def ingest_failing_before_commit(archive: Archive, item: object) -> str:
    """Ingest the item through a store that fails after writing: the key it left."""
    real = archive.ingestor.store
    archive.ingestor.store = WritesThenFails(real)
    try:
        with pytest.raises(StorageError, match="before the commit"):
            archive.ingest([item])
    finally:
        archive.ingestor.store = real
    (left,) = real.keys("records/")
    return left


def test_an_object_left_by_a_failed_ingest_is_held_when_the_retry_archives_it(
    archive_30d: Archive,
) -> None:
    real = archive_30d.ingestor.store
    left = ingest_failing_before_commit(archive_30d, make_item("1", "merger talk"))
    assert not real.lock_state(left).legal_hold
    HoldService(archive_30d).create("acme", Scope("merger"), "inquiry")
    archive_30d.ingest([make_item("1", "merger talk")])
    assert [record_key(r) for r in record_ids(archive_30d)] == [left]
    assert held(archive_30d, record_ids(archive_30d)[0])


def test_an_object_left_held_by_a_failed_ingest_is_released_when_its_matter_has_gone(
    archive_30d: Archive,
) -> None:
    """The opposite order: a matter held the object at the failed attempt, then was
    released; the retry must not leave a legal hold no matter accounts for (disposition
    could never remove the record)."""
    holds = HoldService(archive_30d)
    holds.create("acme", Scope("merger"), "inquiry")
    real = archive_30d.ingestor.store
    left = ingest_failing_before_commit(archive_30d, make_item("1", "merger talk"))
    assert real.lock_state(left).legal_hold
    holds.release("acme", "settled")
    archive_30d.ingest([make_item("1", "merger talk")])
    assert not held(archive_30d, record_ids(archive_30d)[0])
    assert not real.lock_state(left).legal_hold


def test_a_scope_on_the_holds_field_is_left_to_indexing(archive_30d: Archive) -> None:
    """`NOT holds:acme` depends on matters a new record does not have yet: at ingest it
    would hold what search, once acme holds the record, says it does not cover."""
    holds = HoldService(archive_30d)
    holds.create("acme", Scope("merger"), "inquiry")
    holds.create("rest", Scope("talk AND NOT holds:acme"), "everything acme leaves")
    archive_30d.ingest([make_item("1", "merger talk"), make_item("2", "small talk")])
    merger, small = (record_ids(archive_30d, native_id=n)[0] for n in ("1", "2"))
    with archive_30d.engine.connect() as conn:
        assert holds.held_record_ids(conn, [merger, small]) == {merger}  # acme's, at ingest
    archive_30d.index_and_hold()  # the index now knows acme's records: rest takes the others
    with archive_30d.engine.connect() as conn:
        assert active_matters(conn, [merger, small]) == {merger: ["acme"], small: ["rest"]}
