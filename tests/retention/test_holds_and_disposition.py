"""Retention policies, legal holds, disposition and erasure, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archiver.archive import Archive
from archiver.disposition import DispositionService
from archiver.erasure import ErasureService
from archiver.errors import RetentionError, UsageError
from archiver.holds import HoldService, Scope
from archiver.records import record_key
from archiver.retention_service import RetentionService
from tests.retention.helpers import audit_events, record_ids, short_lived
from tests.support.items import make_item


def test_the_longest_applicable_policy_wins_and_is_explained(tmp_path, catalogue_url, open_archive) -> None:
    settings = short_lived(tmp_path, catalogue_url, policies=[
        {"name": "dm-7y", "period": "7y", "kinds": ["dm"]},
        {"name": "x-1y", "period": "1y", "platforms": ["mastodon"]},
    ])
    archive = open_archive(settings)
    archive.ingest([make_item("1", "a post"), make_item("2", "a dm", kind="dm")])
    post, dm = record_ids(archive)
    explained = RetentionService(archive).explain(dm)
    assert explained["governing_policy"] == "dm-7y"
    assert explained["retain_until"].startswith("2033-01-05")
    assert {p["policy"] for p in explained["applicable_policies"]} == {"default", "dm-7y", "x-1y"}
    assert explained["object_lock"]["retain_until"].startswith("2033-01-05")
    assert RetentionService(archive).explain(post)["governing_policy"] == "x-1y"
    with pytest.raises(UsageError, match="no record"):
        RetentionService(archive).explain("0" * 64)
    archive.close()


def test_a_longer_policy_extends_locks_and_a_shorter_one_never_shortens(
    tmp_path, catalogue_url, open_archive
) -> None:
    archive = open_archive(short_lived(tmp_path, catalogue_url))
    archive.ingest([make_item("1")])
    (rid,) = record_ids(archive)
    archive.close()
    longer = open_archive(short_lived(tmp_path, catalogue_url,
                                      policies=[{"name": "all-5y", "period": "5y"}]))
    result = RetentionService(longer).apply()
    assert (result.checked, result.extended) == (1, 1)
    assert longer.store.lock_state(record_key(rid)).retain_until.year == 2031
    longer.close()
    shorter = open_archive(short_lived(tmp_path, catalogue_url))
    result = RetentionService(shorter).apply()
    assert (result.extended, result.kept_longer) == (0, 1)
    assert shorter.store.lock_state(record_key(rid)).retain_until.year == 2031
    shorter.close()


def test_a_policy_matching_no_account_is_a_warning(tmp_path, catalogue_url, open_archive) -> None:
    archive = open_archive(short_lived(tmp_path, catalogue_url,
                                       policies=[{"name": "typo", "period": "1y", "platforms": ["mastadon"]}]))
    assert RetentionService(archive).warnings() == [
        "retention policy 'typo' matches no configured account"]
    archive.close()


def test_hold_covers_versions_tombstones_and_survives_disposition(archive_30d: Archive, clock) -> None:
    archive = archive_30d
    archive.ingest([make_item("1", "merger talk with #acme"), make_item("2", "lunch menu")])
    archive.ingest([make_item("1", "merger talk with #acme, revised")])
    archive.ingest([make_item("1", deleted=True, status=404)])
    report = HoldService(archive).create("acme-inquiry", Scope("merger"), "SEC inquiry 2026-17")
    assert report.records == 3  # both versions and the tombstone
    for rid in record_ids(archive, native_id="1"):
        assert archive.store.lock_state(record_key(rid)).legal_hold
    clock.advance(days=31)
    dry = DispositionService(archive).dispose(dry_run=True)
    assert [r["native_id"] for r in dry.plan.records] == ["2"]
    assert archive.store.exists(record_key(record_ids(archive, native_id="2")[0]))
    done = DispositionService(archive).dispose()
    assert done.report_id and [r["native_id"] for r in done.plan.records] == ["2"]
    assert not archive.store.exists(record_key(record_ids(archive, native_id="2")[0]))
    archive.checkpoint()
    verified = archive.verify()
    assert verified.ok, verified.problems
    assert verified.counts["disposed"] == 1 and verified.counts["dispositions"] == 1
    with pytest.raises(RetentionError):
        archive.store.delete(record_key(record_ids(archive, native_id="1")[0]))


def test_indexing_holds_what_a_matter_placed_during_an_ingest_missed(archive_30d: Archive) -> None:
    """The safety net: a batch that read the active matters before a new one committed
    (simulated by ingesting without the hook) is held when it is indexed."""
    holds = HoldService(archive_30d)
    report = holds.create("future", Scope("acme"), "litigation foreseeable")
    assert report.records == 0 and "still holds future captures" in report.warnings[0]
    hook, archive_30d.ingestor.hold_new = archive_30d.ingestor.hold_new, None
    archive_30d.ingest([make_item("9", "acme announcement"), make_item("10", "unrelated")])
    archive_30d.ingestor.hold_new = hook
    (missed,) = record_ids(archive_30d, native_id="9")
    assert not archive_30d.store.lock_state(record_key(missed)).legal_hold
    assert archive_30d.index_and_hold().held == 1
    assert archive_30d.store.lock_state(record_key(missed)).legal_hold
    assert holds.show("future")["records"] == 1
    assert archive_30d.index_and_hold().held == 0


def test_the_index_learns_a_records_matters_when_it_catches_up(archive_30d: Archive) -> None:
    archive_30d.ingest([make_item("1", "acme merger"), make_item("2", "lunch")])
    holds = HoldService(archive_30d)
    holds.create("acme-matter", Scope("merger"), "inquiry")
    assert archive_30d.search.lag() == 1  # queued: the hold itself is already in force
    archive_30d.search.index_pending()
    found = archive_30d.search.index.matching_ids("holds:acme-matter", latest_only=False)
    assert found == set(record_ids(archive_30d, native_id="1"))
    holds.release("acme-matter", "closed")
    archive_30d.search.index_pending()
    assert archive_30d.search.index.matching_ids("holds:acme-matter", latest_only=False) == set()


def test_release_keeps_objects_held_by_another_matter(archive_30d: Archive) -> None:
    archive_30d.ingest([make_item("1", "acme merger"), make_item("2", "acme picnic")])
    holds = HoldService(archive_30d)
    holds.create("m1", Scope("acme"), "first")
    overlap = holds.create("m2", Scope("merger"), "second")
    assert overlap.warnings == ["overlaps with active matters: m1"]
    released = holds.release("m1", "closed")
    assert released.records == 1 and "stay held by other matters" in released.warnings[0]
    merger, picnic = record_ids(archive_30d, native_id="1")[0], record_ids(archive_30d, native_id="2")[0]
    assert archive_30d.store.lock_state(record_key(merger)).legal_hold
    assert not archive_30d.store.lock_state(record_key(picnic)).legal_hold
    with pytest.raises(UsageError, match="already released"):
        holds.release("m1", "again")
    with pytest.raises(UsageError, match="no matter named 'nope'"):
        holds.release("nope", "typo")


def test_hold_scope_by_account_and_dates(archive_30d: Archive) -> None:
    archive_30d.ingest([
        make_item("1", "acme one", account="@a@x", created_at="2025-01-10T00:00:00Z"),
        make_item("2", "acme two", account="@b@x", created_at="2025-01-10T00:00:00Z"),
        make_item("3", "acme three", account="@a@x", created_at="2025-03-10T00:00:00Z"),
    ])
    scope = Scope("acme", ("@a@x",), datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC))
    assert HoldService(archive_30d).create("narrow", scope, "scoped").records == 1


def test_bad_hold_requests_are_clear(archive_30d: Archive) -> None:
    holds = HoldService(archive_30d)
    with pytest.raises(UsageError, match="needs a reason"):
        holds.create("m", Scope("x"), " ")
    with pytest.raises(UsageError):
        holds.create("m", Scope('"unbalanced'), "r")
    holds.create("m", Scope("x"), "r")
    with pytest.raises(UsageError, match="exists already"):
        holds.create("m", Scope("y"), "r")


def test_erasure_is_refused_while_kept_and_purged_when_allowed(archive_30d: Archive, clock) -> None:
    subject = "@jo@members.example"
    archive_30d.ingest([make_item("1", "hi from jo", author=subject),
                        make_item("2", "reply to jo", mentions=[subject]),
                        make_item("3", "someone else", author="@sam@x")])
    service = ErasureService(archive_30d)
    first = service.request(subject)
    assert first["status"] == "scheduled"
    assert first["decision"]["reason"] == "retention" and first["decision"]["policies"] == ["default"]
    assert first["decision"]["records"] == 2
    HoldService(archive_30d).create("jo-dispute", Scope('author:"@jo@members.example"'), "complaint")
    clock.advance(days=31)
    (held,) = service.process()
    assert held["status"] == "refused" and held["decision"]["matters"] == ["jo-dispute"]
    HoldService(archive_30d).release("jo-dispute", "settled")
    (purged,) = service.process()
    assert purged["status"] == "purged" and purged["decision"]["records"] == 2
    assert record_ids(archive_30d, native_id="3")
    assert not archive_30d.store.exists(record_key(record_ids(archive_30d, native_id="1")[0]))
    history = service.list()[0]["decisions"]
    assert [d["outcome"] for d in history] == ["refused", "refused", "purged"]
    archive_30d.checkpoint()
    assert archive_30d.verify().ok


def test_the_daily_task_extends_reports_and_decides_erasures(archive_30d: Archive, clock) -> None:
    from archiver.daemon.maintenance import run_maintenance

    archive_30d.ingest([make_item("1", "hello", author="@jo@x")])
    ErasureService(archive_30d).request("@jo@x")
    clock.advance(days=31)
    run = run_maintenance(archive_30d)
    (task,) = [t for t in run.tasks if t.name == "retention"]
    assert task.ok, task.error
    assert task.result["erasure_requests"] == {1: "purged"}
    assert task.result["disposable_records"] == 0  # the erasure took the only record


def test_hold_steps_are_audited_with_the_actor_and_the_reason(archive_30d: Archive) -> None:
    archive_30d.ingest([make_item("1", "merger talk")])
    holds = HoldService(archive_30d)
    holds.create("acme", Scope("merger", ("@org@x.test",)), "SEC inquiry 2026-17")
    archive_30d.ingest([make_item("2", "merger again")])
    archive_30d.actor = "test:counsel"
    holds.release("acme", "inquiry closed")
    assert audit_events(archive_30d, "hold-create") == [("test:officer", {
        "matter": "acme", "query": "merger", "accounts": ["@org@x.test"], "from": None,
        "to": None, "reason": "SEC inquiry 2026-17", "records": 1, "media": 0})]
    assert audit_events(archive_30d, "hold-extend") == [("test:officer", {
        "matter": "acme", "reason": "SEC inquiry 2026-17", "records": 1, "media": 0,
        "at": "ingest"})]
    assert audit_events(archive_30d, "hold-release") == [("test:counsel", {
        "matter": "acme", "reason": "inquiry closed", "records": 2, "released_objects": 2,
        "still_held_by_other_matters": 0})]
    shown = holds.show("acme")
    assert (shown["created_by"], shown["reason"]) == ("test:officer", "SEC inquiry 2026-17")
    assert (shown["released_by"], shown["release_reason"]) == ("test:counsel", "inquiry closed")


def test_an_erasure_is_scheduled_for_when_the_longest_retention_ends(
    tmp_path, catalogue_url, open_archive, clock
) -> None:
    archive = open_archive(short_lived(tmp_path, catalogue_url, policies=[
        {"name": "dm-60d", "period": "60d", "kinds": ["dm"]}]))
    subject = "@jo@members.example"
    archive.ingest([make_item("1", "a post", author=subject),
                    make_item("2", "a dm", kind="dm", author=subject)])
    service = ErasureService(archive)
    first = service.request(subject)
    assert (first["status"], first["due_at"]) == ("scheduled", "2026-03-06T09:30:00.000000Z")
    assert first["decision"]["policies"] == ["default", "dm-60d"]
    assert service.list()[0]["due_at"] == datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
    clock.advance(days=31)  # the post's 30 days are over; the DM's 60 are not
    (second,) = service.process()
    assert (second["status"], second["due_at"]) == ("scheduled", "2026-03-06T09:30:00.000000Z")
    assert second["decision"]["policies"] == ["dm-60d"]
    assert archive.store.exists(record_key(record_ids(archive, native_id="1")[0]))
    clock.advance(days=30)
    (done,) = service.process()
    assert (done["status"], done["due_at"], done["decision"]["records"]) == ("purged", None, 2)
    assert service.list()[0]["due_at"] is None
    archive.close()
