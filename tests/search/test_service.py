"""The queue, catch-up, crash safety, latest flags, tombstones, verify and reindex,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from archiver.archive import Archive
from archiver.errors import StorageError, UsageError
from archiver.records import record_key
from archiver.search_service import IndexBusy, SearchService
from search.index import SearchRequest
from search.whoosh_index import WhooshIndex
from storage.catalogue.models import records
from tests.support.items import make_item


def find(archive: Archive, query: str, **options: object) -> set[str]:
    page = archive.search.search(SearchRequest(query, page_size=1000, **options))
    assert page.total == len(page.hits)
    return {hit.record_id for hit in page.hits}


def record_ids(archive: Archive, native_id: str) -> list[str]:
    with archive.engine.connect() as conn:
        return list(conn.execute(select(records.c.record_id).where(records.c.native_id == native_id)
                                 .order_by(records.c.version)).scalars())


@pytest.fixture
def filled(archive: Archive) -> Archive:
    archive.ingest(make_item(str(n), f"loan offer number {n}") for n in range(10))
    archive.ingest([make_item("3", "loan offer corrected"), make_item("4", deleted=True, status=404)])
    return archive


def test_capture_only_queues_and_index_catches_up(filled: Archive) -> None:
    assert filled.search.lag() == 12
    assert find(filled, "loan") == set()
    run = filled.search.index_pending()
    assert run.indexed == 12 and run.skipped == []
    assert filled.search.lag() == 0
    assert filled.search.index_pending().indexed == 0
    latest = find(filled, "loan")
    assert len(latest) == 10  # 8 unchanged, 3's edit, 4's tombstone
    assert len(find(filled, "loan", latest_only=False)) == 12


def test_latest_flag_moves_to_the_new_version_across_batches(filled: Archive) -> None:
    filled.search.index_pending(batch_size=5)
    v1, v2 = record_ids(filled, "3")
    assert find(filled, "native_id:3") == {v2}
    assert find(filled, "native_id:3", latest_only=False) == {v1, v2}
    filled.ingest([make_item("3", "third wording")])
    filled.search.index_pending()
    v3 = record_ids(filled, "3")[-1]
    assert find(filled, "native_id:3") == {v3}
    assert find(filled, "native_id:3 AND latest:false", latest_only=False) == {v1, v2}


def test_a_tombstone_is_found_by_the_deleted_content(filled: Archive) -> None:
    filled.search.index_pending()
    _, tombstone = record_ids(filled, "4")
    assert find(filled, "number AND 4") == {tombstone}
    assert find(filled, "number AND 4", include_deleted=False) == set()
    assert find(filled, "deleted:true") == {tombstone}
    page = filled.search.search(SearchRequest("native_id:4"))
    assert page.hits[0].deleted and page.hits[0].created is not None


def test_a_crash_between_index_commit_and_marking_reindexes_harmlessly(
    filled: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(record_ids: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(filled.search, "_mark_indexed", crash)
    with pytest.raises(RuntimeError):
        filled.search.index_pending()
    assert filled.search.lag() == 12  # committed to the index but not marked
    monkeypatch.undo()
    assert filled.search.index_pending().indexed == 12
    assert filled.search.index.doc_count() == 12  # replaced by record id, not doubled
    assert filled.verify().ok


def test_a_crash_before_the_index_commit_loses_nothing(
    filled: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(docs: object, **options: object) -> int:
        raise RuntimeError("killed mid-batch")

    monkeypatch.setattr(filled.search.index, "add", crash)
    with pytest.raises(RuntimeError):
        filled.search.index_pending()
    monkeypatch.undo()
    assert filled.search.lag() == 12 and filled.search.index.doc_count() == 0
    assert filled.search.index_pending().indexed == 12
    assert len(find(filled, "loan")) == 10


def test_a_second_writer_gets_a_clear_busy_error(filled: Archive) -> None:
    other = SearchService(filled, WhooshIndex(filled.settings.index_dir))
    with filled.search.index.writing("index"):
        assert other.writer_busy()
        with pytest.raises(IndexBusy, match="only one writer runs at a time") as caught:
            other.index_pending()
        assert isinstance(caught.value, StorageError)
        assert "(index, since" in str(caught.value)
    assert other.index_pending().indexed == 12


def test_every_search_is_audited_and_bad_queries_are_usage_errors(filled: Archive) -> None:
    filled.search.index_pending()
    filled.search.search(SearchRequest("loan AND offer", sort="date", page=2, page_size=3))
    with filled.engine.connect() as conn:
        event = list(filled.audit.events(conn, "search"))[-1]
    assert event.actor == "test:officer"
    assert '"query":"loan AND offer"' in event.params and '"total":10' in event.params
    with pytest.raises(UsageError, match="column 6"):
        filled.search.search(SearchRequest('loan "offer'))
    with pytest.raises(UsageError, match="page size"):
        filled.search.request("loan", page_size=0)


def test_verify_checks_the_index_holds_exactly_the_catalogue(filled: Archive) -> None:
    report = filled.verify()
    assert report.ok and report.counts["index_lag"] == 12
    filled.search.index_pending()
    report = filled.verify()
    assert report.ok and report.counts["index_documents"] == 12
    assert report.counts["index_lag"] == 0
    assert [p for p in report.problems if p.check == "index"] == []
    victim, planted = record_ids(filled, "1")[0], "ab" * 32
    filled.search.index.delete([victim])
    doc = filled.search.index.stored(record_ids(filled, "2")[0])
    assert doc is not None
    filled.search.index.add([doc.with_changes(record_id=planted, prev_record_id=None)])
    report = filled.verify()
    assert not report.ok
    index_problems = {(p.kind, p.key) for p in report.problems if p.check == "index"}
    assert index_problems == {("missing-document", record_key(victim)),
                              ("extra-document", record_key(planted))}


def test_reindex_from_the_object_store_matches_the_catch_up(filled: Archive) -> None:
    filled.search.index_pending()
    queries = ["loan", "native_id:3", "deleted:true", "edited:true", "*"]
    before = {q: (find(filled, q), find(filled, q, latest_only=False)) for q in queries}
    with filled.engine.begin() as conn:  # the catalogue is not consulted
        conn.execute(update(records).values(indexed=False))
    run = filled.search.reindex()
    assert run.indexed == 12 and run.skipped == []
    assert {q: (find(filled, q), find(filled, q, latest_only=False)) for q in queries} == before
    assert not list(filled.settings.index_dir.parent.glob("index.new-*"))
    with filled.engine.connect() as conn:
        actions = [e.action for e in filled.audit.events(conn)]
    assert "reindex" in actions


def test_set_holds_updates_the_holds_field(filled: Archive) -> None:
    filled.search.index_pending()
    targets = record_ids(filled, "3")
    assert filled.search.set_holds(targets, ["hold-2026-01", "sec-inquiry"]) == 2
    assert find(filled, "holds:hold-2026-01", latest_only=False) == set(targets)
    assert find(filled, "holds:sec-inquiry") == {targets[-1]}
    assert find(filled, "native_id:3") == {targets[-1]}  # latest flags survive the rewrite


def test_missing_object_is_skipped_not_stuck(filled: Archive) -> None:
    victim = record_ids(filled, "5")[0]
    path = filled.settings.objects_dir / record_key(victim)
    path.chmod(0o644)
    path.unlink()
    run = filled.search.index_pending()
    assert [r for r, _ in run.skipped] == [victim]
    assert filled.search.lag() == 0


def test_status_shows_lag_and_checkpoint(filled: Archive) -> None:
    from archiver.cli.status import gather_status

    filled.checkpoint()
    summary = gather_status(filled)
    assert summary["records"] == 12 and summary["items"] == 10 and summary["accounts"] == 1
    assert summary["index"]["lag"] == 12
    assert summary["last_checkpoint"]["tree_size"] == 12
    filled.search.index_pending()
    assert gather_status(filled)["index"]["lag"] == 0


def test_naive_utc_in_the_index_aware_out(archive: Archive) -> None:
    when = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    archive.ingest([make_item("x", "late night", created_at="2024-04-01T01:30:00+02:00",
                              captured_at=when)])
    archive.search.index_pending()
    assert len(find(archive, "created:2024-03-31 AND captured:2024-03-31")) == 1
    hit = archive.search.search(SearchRequest("late")).hits[0]
    assert hit.created == datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    assert hit.captured == when
