"""Ingest decides new / unchanged / edited / deleted and is all-or-nothing; runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterable

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.errors import StorageError
from archiver.records import Record, record_key
from config.settings import Settings
from storage.catalogue.models import chain_heads, items, log_leaves, records
from storage.objects.base import NewObject
from tests.support.items import make_item


def count(archive: Archive, table) -> int:
    with archive.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def stored(archive: Archive, record_id: str) -> dict:
    data = archive.store.get(record_key(record_id))
    assert hashlib.sha256(data).hexdigest() == record_id
    return Record.from_bytes(data).fields


def test_new_item_becomes_a_version_1_record_with_a_log_leaf(archive: Archive) -> None:
    (outcome,) = archive.ingest([make_item("1", "first post")]).outcomes
    assert (outcome.status, outcome.version) == ("new", 1)
    fields = stored(archive, outcome.record_id)
    assert fields["content"]["text"] == "first post"
    assert fields["observation"] == "observed"
    assert fields["prev_record_id"] is None
    assert fields["raw"] == {"id": "1", "content": "first post", "favourites": 3}
    assert fields["capture"]["captured_at"] == "2026-01-05T09:30:00.000000Z"
    assert count(archive, log_leaves) == 1


def test_same_item_twice_gives_exactly_one_record(archive: Archive) -> None:
    archive.ingest([make_item("1")])
    again = archive.ingest([make_item("1")]).outcomes[0]
    assert again.status == "unchanged"
    assert count(archive, records) == 1


def test_a_changed_counter_in_the_raw_payload_is_not_an_edit(archive: Archive) -> None:
    archive.ingest([make_item("1", raw={"id": "1", "favourites": 3})])
    outcome = archive.ingest([make_item("1", raw={"id": "1", "favourites": 99})]).outcomes[0]
    assert outcome.status == "unchanged"


def test_edit_becomes_a_new_version_linked_to_the_previous(archive: Archive, clock) -> None:
    first = archive.ingest([make_item("1", "rate 4.1%")]).outcomes[0]
    clock.advance(hours=1)
    second = archive.ingest([make_item("1", "rate 3.9%")]).outcomes[0]
    assert (second.status, second.version) == ("edited", 2)
    fields = stored(archive, second.record_id)
    assert fields["prev_record_id"] == first.record_id
    assert fields["observation"] == "edited"
    assert stored(archive, first.record_id)["content"]["text"] == "rate 4.1%"


def test_deletion_is_a_tombstone_and_keeps_every_version(archive: Archive, clock) -> None:
    v1 = archive.ingest([make_item("1", "a")]).outcomes[0]
    v2 = archive.ingest([make_item("1", "b")]).outcomes[0]
    evidence = {"status": 404, "body": "Record not found"}
    gone = archive.ingest([make_item("1", deleted=True, **evidence)]).outcomes[0]
    assert (gone.status, gone.version) == ("deleted", 3)
    tombstone = stored(archive, gone.record_id)
    assert tombstone["observation"] == "deleted"
    assert tombstone["prev_record_id"] == v2.record_id
    assert tombstone["content"]["status"] == 404
    assert stored(archive, v1.record_id)["content"]["text"] == "a"
    assert (
        archive.ingest([make_item("1", deleted=True, **evidence)]).outcomes[0].status == "unchanged"
    )
    back = archive.ingest([make_item("1", "b")]).outcomes[0]
    assert (back.status, back.version) == ("new", 4)
    assert stored(archive, back.record_id)["observation"] == "observed"


def test_duplicates_inside_one_batch_are_decided_in_order(archive: Archive) -> None:
    result = archive.ingest([make_item("1", "a"), make_item("1", "a"), make_item("1", "b")])
    assert [o.status for o in result.outcomes] == ["new", "unchanged", "edited"]
    with archive.engine.connect() as conn:
        row = conn.execute(select(items)).one()
    assert (row.latest_version, row.latest_record_id) == (2, result.outcomes[2].record_id)


def test_batches_larger_than_the_batch_size_give_contiguous_leaves(archive: Archive) -> None:
    archive.ingestor.batch_size = 64
    archive.ingest(make_item(str(n), f"post {n}") for n in range(300))
    with archive.engine.connect() as conn:
        indexes = (
            conn.execute(select(log_leaves.c.leaf_index).order_by(log_leaves.c.leaf_index))
            .scalars()
            .all()
        )
        assert (
            conn.execute(
                select(chain_heads.c.length).where(chain_heads.c.name == "log")
            ).scalar_one()
            == 300
        )
    assert indexes == list(range(300))


def test_invalid_utf8_and_lone_surrogates_are_kept_losslessly(archive: Archive) -> None:
    body = b"caf\xe9 \xff"
    raw = {"text": body.decode("utf-8", "surrogateescape"), "odd": "x\ud83dy"}
    outcome = archive.ingest([make_item("1", "ok", raw=raw)]).outcomes[0]
    fields = stored(archive, outcome.record_id)
    assert fields["raw"]["text"].encode("utf-8", "surrogateescape") == body
    assert fields["raw"]["odd"] == "x\ud83dy"


class DeadStore:
    """The real store, except that writes fail like a full disk or a dead endpoint."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def put_many(self, objects: Iterable[NewObject]) -> None:
        raise StorageError("write failed: [Errno 28] No space left on device")


def test_a_failing_object_store_leaves_nothing_counted(archive: Archive) -> None:
    archive.ingest([make_item("1", "kept")])
    real = archive.ingestor.store
    archive.ingestor.store = DeadStore(real)
    with pytest.raises(StorageError, match="No space left"):
        archive.ingest([make_item("2", "lost?"), make_item("1", "edited")])
    assert count(archive, records) == 1
    assert count(archive, log_leaves) == 1
    archive.ingestor.store = real
    retry = archive.ingest([make_item("2", "lost?"), make_item("1", "edited")])
    assert [o.status for o in retry.outcomes] == ["new", "edited"]
    archive.checkpoint()
    assert archive.verify().ok


def _ingest_in_child(settings_json: dict, start_at: int) -> None:
    from archiver.archive import Archive as ChildArchive

    child = ChildArchive.open(Settings(**settings_json), actor="test:child")
    child.ingestor.batch_size = 25
    ids = list(range(start_at, 200)) + list(range(0, start_at))
    child.ingest(make_item(str(n), f"post {n}") for n in ids)
    child.close()


def test_two_processes_ingesting_the_same_items_give_one_record_each(archive: Archive) -> None:
    context = multiprocessing.get_context("spawn")
    settings_json = archive.settings.model_dump(mode="json")
    workers = [
        context.Process(target=_ingest_in_child, args=(settings_json, start)) for start in (0, 100)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert count(archive, records) == 200
    assert count(archive, items) == 200
    archive.checkpoint()
    report = archive.verify()
    assert report.ok, report.problems
    assert report.counts["leaves"] == 200


def test_rereading_an_edit_history_adds_nothing(archive: Archive) -> None:
    from dataclasses import replace

    def history() -> list:
        return [replace(make_item("1", "v1"), historical=True),
                replace(make_item("1", "v2"), historical=True), make_item("1", "v3")]

    first = archive.ingest(history()).outcomes
    assert [o.status for o in first] == ["new", "edited", "edited"]
    again = archive.ingest(history()).outcomes
    assert [o.status for o in again] == ["unchanged"] * 3
    assert count(archive, records) == 3


def test_a_revert_to_earlier_text_is_still_an_edit_when_current(archive: Archive) -> None:
    archive.ingest([make_item("1", "A")])
    archive.ingest([make_item("1", "B")])
    assert archive.ingest([make_item("1", "A")]).outcomes[0].status == "edited"
