"""A pack from a realistic archive: valid for the Library of Congress `bagit`
package and for our offline verifier, with the exact stored bytes, sorted
manifests, the bag-info the standard asks for, custody, certification, audit."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import bagit
from sqlalchemy import select

from archiver.canonical import parse_canonical
from archiver.export.service import ExportRequest, ExportService
from archiver.merkle import leaf_hash
from archiver.records import record_key
from archiver.verify_pack import verify_pack
from storage.catalogue.models import audit_events, records
from tests.export.conftest import MATTER, ORGANISATION, Pack, Realistic


def test_pack_validates_with_bagit_and_with_verify_pack(pack: Pack, realistic: Realistic) -> None:
    bag = bagit.Bag(str(pack.path))
    bag.validate()  # raises BagValidationError on any problem
    assert bag.version_info == (1, 0)
    assert sorted(bag.algorithms) == ["sha256", "sha512"]
    report = verify_pack(pack.path)
    assert report.ok, [f.line() for f in report.failures]
    with realistic.archive.engine.connect() as conn:
        total = len(conn.execute(select(records.c.record_id)).all())
    assert report.counts["records"] == report.counts["proofs"] == total == pack.result.records
    assert report.counts["media"] == pack.result.media == 1
    assert report.key_id == realistic.archive.signer.key_id
    assert report.tree_size == pack.result.tree_size >= total


def test_bag_info_names_the_organisation_matter_query_and_oxum(pack: Pack) -> None:
    info = bagit.Bag(str(pack.path)).info
    assert info["Source-Organization"] == ORGANISATION
    assert info["External-Identifier"] == MATTER
    assert info["Export-Matter"] == MATTER
    assert info["Export-Query"] == "*"
    assert info["Bagging-Date"] == "2026-03-06"
    payload = [p for p in (pack.path / "data").rglob("*") if p.is_file()]
    assert info["Payload-Oxum"] == f"{sum(p.stat().st_size for p in payload)}.{len(payload)}"
    assert info["Signing-Key-Id"] == pack.result.key_id


def test_records_are_byte_identical_to_the_store(pack: Pack, realistic: Realistic) -> None:
    files = sorted((pack.path / "data" / "records").glob("*.json"))
    assert len(files) == pack.result.records
    for file in files:
        stored = realistic.archive.store.get(record_key(file.stem))
        assert file.read_bytes() == stored
        assert hashlib.sha256(stored).hexdigest() == file.stem
        assert (pack.path / "data" / "text" / f"{file.stem}.txt").exists()


def test_manifests_are_sorted_and_cover_every_payload_file_with_both_algorithms(pack: Pack) -> None:
    payload = sorted(
        p.relative_to(pack.path).as_posix() for p in (pack.path / "data").rglob("*") if p.is_file()
    )
    for algorithm in ("sha256", "sha512"):
        lines = (pack.path / f"manifest-{algorithm}.txt").read_text().splitlines()
        listed = [line.split("  ", 1)[1] for line in lines]
        assert listed == payload  # sorted, complete, nothing extra
        for line in lines[:5]:
            digest, path = line.split("  ", 1)
            assert hashlib.new(algorithm, (pack.path / path).read_bytes()).hexdigest() == digest
        tags = [
            line.split("  ", 1)[1]
            for line in (pack.path / f"tagmanifest-{algorithm}.txt").read_text().splitlines()
        ]
        assert tags == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt"]


def records_in_log_order(pack: Path) -> list[str]:
    lines = (pack / "data/custody/records.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["record_id"] for line in lines]


def test_proofs_are_canonical_lines_in_log_order_under_one_signed_tree_head(pack: Pack) -> None:
    checkpoint = json.loads((pack.path / "data/tree-head/checkpoint.json").read_bytes())
    head = checkpoint["tree_head"]
    assert [p.name for p in (pack.path / "data/proofs").iterdir()] == ["proofs-00001.jsonl"]
    data = (pack.path / "data/proofs/proofs-00001.jsonl").read_bytes()
    assert data.endswith(b"\n")
    proofs = [parse_canonical(line) for line in data.split(b"\n")[:-1]]
    assert [p["record_id"] for p in proofs] == records_in_log_order(pack.path)
    for proof in proofs:
        assert proof["schema"] == "social-archiver/inclusion-proof/1"
        assert proof["tree_size"] == head["tree_size"]
        assert proof["root_hash"] == head["root_hash"]
        assert proof["leaf_hash"] == leaf_hash(bytes.fromhex(proof["record_id"])).hex()


def test_proofs_split_into_files_of_at_most_per_file_lines(
    realistic: Realistic, tmp_path: Path
) -> None:
    out = tmp_path / "small-files"
    result = ExportService(realistic.archive, proofs_per_file=4).export(
        ExportRequest(out=out, matter=MATTER)
    )
    files = sorted((out / "data/proofs").iterdir())
    assert [f.name for f in files] == [f"proofs-{n:05d}.jsonl" for n in range(1, len(files) + 1)]
    counts = [f.read_bytes().count(b"\n") for f in files]
    assert len(files) > 2 and counts[:-1] == [4] * (len(files) - 1) and 1 <= counts[-1] <= 4
    ids = [json.loads(line)["record_id"] for f in files for line in f.read_bytes().splitlines()]
    assert ids == records_in_log_order(out) and len(ids) == result.records
    bagit.Bag(str(out)).validate()
    report = verify_pack(out)
    assert report.ok, [f.line() for f in report.failures]
    assert report.counts["proofs"] == result.records
    # the report links each leaf index to the file holding its proof, and names the line
    sixth = ids[5]
    page = (out / "data/report/page-00001.html").read_text(encoding="utf-8")
    assert re.search(
        rf'records/{sixth}\.json">\w+</a> \(v\d+, <a href="\.\./proofs/proofs-00002\.jsonl">'
        rf"leaf \d+</a>, proof in proofs-00002\.jsonl line 2\b",
        page,
    )


def test_custody_names_source_acquisition_tool_hashes_and_history(pack: Pack) -> None:
    lines = (pack.path / "data/custody/records.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == pack.result.records
    photo = next(e for e in entries if e["hashes_at_acquisition"]["media"])
    assert photo["source"]["platform"] == "mastodon"
    assert photo["source"]["api_request_url"].startswith("http://127.0.0.1:")
    assert photo["tool"]["connector"] == "mastodon" and photo["tool"]["connector_version"]
    assert photo["acquired_at"].endswith("Z")
    assert photo["hashes_at_acquisition"]["record_sha256"] == photo["record_id"]
    export = json.loads((pack.path / "data/custody/export.json").read_text(encoding="utf-8"))
    assert export["export"]["by"] == "test:officer"
    assert export["export"]["matter"] == MATTER and export["export"]["query"] == "*"
    assert export["export"]["counts"]["records"] == pack.result.records
    assert export["legal_hold"]["reason"] == "SEC inquiry 2026-17"
    assert [e["action"] for e in export["hold_events"]] == ["hold-create"]
    assert export["verifications"] and export["verifications"][0]["ok"] is True
    assert export["transfers"][0]["received_by"] == "J. Doe"
    assert export["transfers"][0]["purpose"] == "SEC request"
    assert export["tree_head"]["root_hash"] == pack.result.root_hash


def test_certification_template_carries_the_hashes_and_key(pack: Pack) -> None:
    text = (pack.path / "data/certification-fre-902-14.txt").read_text(encoding="utf-8")
    assert "902(14)" in text and ORGANISATION in text
    assert pack.result.root_hash in text and pack.result.key_id in text
    assert f"holds {pack.result.records} record(s)" in text
    assert "penalty of perjury" in text and "Signature: ____" in text


def test_the_export_is_audited(pack: Pack, realistic: Realistic) -> None:
    with realistic.archive.engine.connect() as conn:
        rows = conn.execute(select(audit_events).where(audit_events.c.action == "export")).all()
    row = next(r for r in rows if json.loads(r.params)["out"] == str(pack.path))
    mine = json.loads(row.params)
    assert row.actor == "test:officer"
    assert mine["matter"] == MATTER and mine["records"] == pack.result.records
    assert (
        mine["manifest_sha256"]
        == hashlib.sha256((pack.path / "manifest-sha256.txt").read_bytes()).hexdigest()
    )
    assert mine["recipient"] == "J. Doe"


def test_a_query_gets_each_items_whole_version_chain(realistic: Realistic, tmp_path: Path) -> None:
    """`3.9` matches only the corrected rate (version 2): version 1 comes along, so
    the report can show what changed."""
    result = ExportService(realistic.archive).export(
        ExportRequest(out=tmp_path / "rate", query="3.9")
    )
    assert (result.matched, result.version_history) == (1, 1)
    assert result.records == 2 + result.thread_context  # and the replies, as context
    page = (tmp_path / "rate/data/report/page-00001.html").read_text(encoding="utf-8")
    assert "<del>4.1%</del><ins>3.9%</ins>" in page
    assert "version history" in page
    assert verify_pack(tmp_path / "rate").ok
    assert bagit.Bag(str(tmp_path / "rate")).is_valid()


def test_same_archive_gives_the_same_pack(pack: Pack, realistic: Realistic, tmp_path: Path) -> None:
    """Deterministic output: with a fixed clock only the custody file differs (it
    lists the first export among earlier exports)."""
    again = tmp_path / "acme-pack"
    ExportService(realistic.archive).export(
        ExportRequest(out=again, matter=MATTER, reason="SEC request", recipient="J. Doe")
    )

    def lines(root: Path) -> set[str]:
        return set((root / "manifest-sha256.txt").read_text().splitlines())

    differing = {line.split("  ", 1)[1] for line in lines(pack.path) ^ lines(again)}
    assert differing == {"data/custody/export.json"}


def test_empty_selection_is_refused_and_leaves_nothing(
    realistic: Realistic, tmp_path: Path
) -> None:
    import pytest

    from archiver.errors import UsageError

    with pytest.raises(UsageError, match="covers no records"):
        ExportService(realistic.archive).export(
            ExportRequest(out=tmp_path / "none", query="zzzunmatched")
        )
    assert not (tmp_path / "none").exists()
    with pytest.raises(UsageError, match="no matter named"):
        ExportService(realistic.archive).export(ExportRequest(out=tmp_path / "none", matter="nope"))
    with pytest.raises(UsageError, match="exactly one"):
        ExportService(realistic.archive).export(ExportRequest(out=tmp_path / "none"))


def test_progress_is_reported_for_each_stage(realistic: Realistic, tmp_path: Path) -> None:
    stages: dict[str, tuple[int, int]] = {}
    ExportService(realistic.archive).export(
        ExportRequest(out=tmp_path / "p", query="savings"),
        progress=lambda stage, done, total: stages.__setitem__(stage, (done, total)),
    )
    assert {"records", "media", "load file", "report", "manifests"} <= set(stages)
    assert stages["records"][0] == stages["records"][1]
    shutil.rmtree(tmp_path / "p")


def test_report_times_in_another_zone_name_the_zone(realistic: Realistic, tmp_path: Path) -> None:
    ExportService(realistic.archive).export(
        ExportRequest(out=tmp_path / "ny", query="savings", timezone="America/New_York")
    )
    page = (tmp_path / "ny/data/report/page-00001.html").read_text(encoding="utf-8")
    assert "2026-03-02 08:00:00 EST (UTC-05:00)" in page  # 13:00 UTC
    assert 'datetime="2026-03-02T13:00:00Z"' in page
