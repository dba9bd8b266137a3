"""verify catches each kind of tampering and names it precisely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from archiver.archive import Archive
from archiver.records import record_key
from archiver.verify import VerifyReport
from storage.catalogue.models import audit_events, log_leaves, records
from tests.support.items import make_item


@pytest.fixture
def filled(archive: Archive) -> Archive:
    archive.ingest(make_item(str(n), f"post number {n}") for n in range(20))
    archive.checkpoint()
    archive.ingest([make_item("3", "edited"), make_item("4", deleted=True, status=404)])
    archive.checkpoint()
    return archive


def kinds(report: VerifyReport) -> set[tuple[str, str]]:
    return {(p.check, p.kind) for p in report.problems if p.severity == "error"}


def object_path(archive: Archive, key: str) -> Path:
    return archive.settings.objects_dir / key


def first_record_id(archive: Archive) -> str:
    with archive.engine.connect() as conn:
        return (
            conn.execute(select(records.c.record_id).order_by(records.c.leaf_index))
            .scalars()
            .first()
        )


def test_a_clean_archive_verifies(filled: Archive) -> None:
    report = filled.verify()
    assert report.ok, report.problems
    assert report.counts["records"] == 22
    assert report.counts["leaves"] == 22
    assert report.counts["checkpoints"] == 2
    assert report.problems == []


def test_one_flipped_byte_in_a_record_is_named_with_expected_and_found(filled: Archive) -> None:
    record_id = first_record_id(filled)
    path = object_path(filled, record_key(record_id))
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01
    path.write_bytes(bytes(data))
    report = filled.verify()
    assert not report.ok
    (problem,) = [p for p in report.problems if p.kind == "hash-mismatch"]
    assert problem.key == record_key(record_id)
    assert (problem.algorithm, problem.expected) == ("sha256", record_id)
    assert problem.found != record_id


def test_a_deleted_object_is_missing(filled: Archive) -> None:
    record_id = first_record_id(filled)
    object_path(filled, record_key(record_id)).unlink()
    report = filled.verify()
    assert kinds(report) == {("records", "missing-object")}
    assert report.problems[0].key == record_key(record_id)


def test_a_deleted_catalogue_row_is_caught(filled: Archive) -> None:
    record_id = first_record_id(filled)
    with filled.engine.begin() as conn:
        conn.execute(delete(records).where(records.c.record_id == record_id))
    report = filled.verify()
    assert ("log", "leaf-record-mismatch") in kinds(report)
    orphans = [p for p in report.problems if p.kind == "uncatalogued-object"]
    assert [p.key for p in orphans] == [record_key(record_id)]


def test_reordered_log_rows_break_the_signed_root(filled: Archive) -> None:
    with filled.engine.begin() as conn:
        # Swap the first two leaves' positions, as a reordering of rows would.
        conn.execute(update(log_leaves).where(log_leaves.c.leaf_index == 0).values(leaf_index=-1))
        conn.execute(update(log_leaves).where(log_leaves.c.leaf_index == 1).values(leaf_index=0))
        conn.execute(update(log_leaves).where(log_leaves.c.leaf_index == -1).values(leaf_index=1))
    report = filled.verify()
    found = kinds(report)
    assert ("checkpoints", "root-mismatch") in found
    assert ("log", "leaf-record-mismatch") in found


def test_an_edited_catalogue_field_is_a_row_mismatch(filled: Archive) -> None:
    record_id = first_record_id(filled)
    with filled.engine.begin() as conn:
        conn.execute(
            update(records).where(records.c.record_id == record_id).values(observation="deleted")
        )
    report = filled.verify()
    (problem,) = [p for p in report.problems if p.kind == "row-mismatch"]
    assert (problem.expected, problem.found) == ("observed", "deleted")


def test_an_edited_audit_event_breaks_the_chain(filled: Archive) -> None:
    with filled.engine.begin() as conn:
        conn.execute(
            update(audit_events).where(audit_events.c.seq == 2).values(actor="someone-else")
        )
    report = filled.verify()
    problems = [p for p in report.problems if p.check == "audit"]
    assert problems and problems[0].key == "audit_events/2"
    assert "event edited" in problems[0].message


def test_a_deleted_audit_event_is_a_gap(filled: Archive) -> None:
    with filled.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 1))
    assert ("audit", "chain-broken") in kinds(filled.verify())


def test_truncating_the_audit_tail_after_a_checkpoint_is_caught(filled: Archive) -> None:
    with filled.engine.begin() as conn:
        last = (
            conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq.desc()))
            .scalars()
            .first()
        )
        conn.execute(delete(audit_events).where(audit_events.c.seq >= last - 2))
        from storage.catalogue.db import advance_chain

        head = conn.execute(
            select(audit_events.c.seq, audit_events.c.event_hash).order_by(
                audit_events.c.seq.desc()
            )
        ).first()
        advance_chain(conn, "audit", head.seq, head.event_hash)
    assert ("audit", "truncated") in kinds(filled.verify())


def test_a_forged_checkpoint_signature_is_caught(filled: Archive) -> None:
    path = sorted((filled.settings.objects_dir / "checkpoints").iterdir())[0]
    os.chmod(path, 0o644)
    forged = path.read_bytes().replace(b'"tree_size":20', b'"tree_size":19')
    assert forged != path.read_bytes()
    path.write_bytes(forged)
    assert ("checkpoints", "bad-signature") in kinds(filled.verify())


def test_records_after_the_latest_checkpoint_are_a_note_not_a_failure(filled: Archive) -> None:
    filled.ingest([make_item("99", "late")])
    report = filled.verify()
    assert report.ok
    assert [p.kind for p in report.problems] == ["unsigned-tail"]


def test_the_parallel_record_pass_finds_the_same_problems(filled: Archive) -> None:
    record_id = first_record_id(filled)
    path = object_path(filled, record_key(record_id))
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-1] + b" ")
    (filled.settings.objects_dir / record_key("f" * 64)).parent.mkdir(parents=True, exist_ok=True)
    (filled.settings.objects_dir / record_key("f" * 64)).write_bytes(b"{}")
    serial = filled.verify(workers=1)
    parallel = filled.verify(workers=2)
    assert parallel.counts["records"] == serial.counts["records"] == 22
    assert {(p.kind, p.key) for p in parallel.problems} == {(p.kind, p.key) for p in serial.problems}
    assert ("hash-mismatch", record_key(record_id)) in {(p.kind, p.key) for p in parallel.problems}
    assert ("uncatalogued-object", record_key("f" * 64)) in {(p.kind, p.key) for p in parallel.problems}
