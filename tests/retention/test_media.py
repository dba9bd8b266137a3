"""Media blobs under holds, disposition and erasure: a blob is held with the records
showing it, and goes only when every record showing it goes and no matter holds it."""

from __future__ import annotations

from sqlalchemy import select

from archiver.archive import Archive
from archiver.canonical import sha256_hex
from archiver.disposition import DispositionService
from archiver.erasure import ErasureService
from archiver.holds import HoldService, Scope
from archiver.records import media_key
from storage.catalogue.retention import hold_media, record_media
from tests.retention.helpers import record_ids, showing
from tests.support.items import make_item

SHARED, LUNCH, PICNIC = b"\x89PNG shared", b"\x89PNG lunch", b"\x89PNG picnic"


def blob_held(archive: Archive, data: bytes) -> bool:
    return archive.store.lock_state(media_key(sha256_hex(data))).legal_hold


def blob_stored(archive: Archive, data: bytes) -> bool:
    return archive.store.exists(media_key(sha256_hex(data)))


def test_a_blob_is_held_with_its_records_and_disposed_after_the_last_of_them(
    archive_30d: Archive, clock
) -> None:
    archive = archive_30d
    archive.ingest([
        showing(archive, make_item("1", "merger photo"), SHARED),
        showing(archive, make_item("2", "lunch"), SHARED, LUNCH),
        showing(archive, make_item("3", "picnic"), PICNIC),
    ])
    with archive.engine.connect() as conn:
        shown = set(conn.execute(select(record_media.c.record_id, record_media.c.sha256)).all())
    (merger,), (lunch,), (picnic,) = (record_ids(archive, native_id=n) for n in "123")
    assert shown == {(merger, sha256_hex(SHARED)), (lunch, sha256_hex(SHARED)),
                     (lunch, sha256_hex(LUNCH)), (picnic, sha256_hex(PICNIC))}

    report = HoldService(archive).create("acme", Scope("merger"), "inquiry")
    assert (report.records, report.media) == (1, 1)
    with archive.engine.connect() as conn:
        assert list(conn.execute(select(hold_media.c.sha256))) == [(sha256_hex(SHARED),)]
    assert blob_held(archive, SHARED) and not blob_held(archive, LUNCH)

    clock.advance(days=31)
    dry = DispositionService(archive).dispose(dry_run=True)
    assert sorted(dry.plan.media) == sorted([sha256_hex(LUNCH), sha256_hex(PICNIC)])
    assert all(blob_stored(archive, b) for b in (SHARED, LUNCH, PICNIC))
    done = DispositionService(archive).dispose()
    assert [r["native_id"] for r in done.plan.records] == ["2", "3"]
    assert not blob_stored(archive, LUNCH) and not blob_stored(archive, PICNIC)
    assert blob_stored(archive, SHARED)  # the held merger photo still shows it

    HoldService(archive).release("acme", "closed")
    assert not blob_held(archive, SHARED)
    last = DispositionService(archive).dispose()
    # Its other viewer went in the first run: only the merger post is left to count.
    assert [r["native_id"] for r in last.plan.records] == ["1"]
    assert last.plan.media == [sha256_hex(SHARED)]
    assert not blob_stored(archive, SHARED)
    archive.checkpoint()
    verified = archive.verify()
    assert verified.ok, verified.problems
    assert verified.counts["dispositions"] == 2


def test_a_blob_shown_by_a_record_that_stays_does_not_go(archive_30d: Archive, clock) -> None:
    archive = archive_30d
    archive.ingest([showing(archive, make_item("1", "old"), SHARED)])
    clock.advance(days=20)
    archive.ingest([showing(archive, make_item("2", "newer"), SHARED)])
    clock.advance(days=15)  # the first is 35 days old, the second 15
    plan = DispositionService(archive).plan()
    assert [r["native_id"] for r in plan.records] == ["1"] and plan.media == []


def test_erasure_purges_the_subjects_media_and_keeps_the_rest(archive_30d: Archive, clock) -> None:
    archive = archive_30d
    archive.ingest([
        showing(archive, make_item("1", "jo's photo", author="@jo@x"), LUNCH),
        showing(archive, make_item("2", "someone else's", author="@sam@x"), PICNIC),
    ])
    clock.advance(days=31)
    purged = ErasureService(archive).request("@jo@x")
    assert purged["status"] == "purged"
    assert (purged["decision"]["records"], purged["decision"]["media"]) == (1, 1)
    assert not blob_stored(archive, LUNCH) and blob_stored(archive, PICNIC)
