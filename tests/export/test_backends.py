"""Selection and the tree head on SQLite and PostgreSQL: a matter's records and a
query's, completed with their version chains, disposed records listed not packed,
and many pages and PDF volumes (the PDF drawn in a worker process)."""

from __future__ import annotations

import json
from pathlib import Path

import bagit
from sqlalchemy import update

from archiver.archive import Archive
from archiver.export.service import ExportRequest, ExportService
from archiver.holds import HoldService, Scope
from archiver.verify_pack import verify_pack
from storage.catalogue.models import records
from tests.support.items import make_item


def fill(archive: Archive) -> None:
    archive.ingest([make_item(f"p{n}", f"quarterly update number {n}", thread_id="p0" if n else None,
                              in_reply_to="p0" if n else None) for n in range(12)])  # fmt: skip
    archive.ingest([make_item("p3", "quarterly update number 3, corrected")])
    archive.ingest([make_item("p5", "", deleted=True)])
    archive.ingest([make_item("dm1", "private note", kind="dm", conversation_id="c9", participants=["@a@x.test"])])
    archive.search.index_pending()


def test_matter_and_query_exports_on_both_catalogues(archive: Archive, tmp_path: Path) -> None:
    fill(archive)
    HoldService(archive).create("m1", Scope("corrected OR private"), "test")
    result = ExportService(archive).export(ExportRequest(out=tmp_path / "matter", matter="m1"))
    # the correction matched; its first version comes along as version history, and
    # the rest of its thread (p0 and its replies, with p5's tombstone) as context
    assert (result.matched, result.version_history, result.thread_context) == (2, 1, 12)
    assert result.records == 15
    assert verify_pack(tmp_path / "matter").ok
    bagit.Bag(str(tmp_path / "matter")).validate()
    query = ExportService(archive).export(ExportRequest(out=tmp_path / "query", query="quarterly"))
    assert query.records == 12 + 1 + 1  # every post, the correction and the tombstone
    assert verify_pack(tmp_path / "query").ok
    # nothing new since: the same signed tree head is used again
    assert query.tree_size == result.tree_size and query.root_hash == result.root_hash


def test_disposed_records_are_listed_not_packed(archive: Archive, tmp_path: Path) -> None:
    fill(archive)
    with archive.engine.begin() as conn:
        conn.execute(update(records).where(records.c.native_id == "p7").values(disposed_at=archive.clock.now()))
    result = ExportService(archive).export(ExportRequest(out=tmp_path / "q", query="quarterly"))
    assert result.excluded == 1 and result.records == 13 and result.warnings
    export = json.loads((tmp_path / "q/data/custody/export.json").read_text(encoding="utf-8"))
    assert [e["reason"] for e in export["export"]["not_included"]] == ["disposed"]
    assert verify_pack(tmp_path / "q").ok


def test_many_pages_and_pdf_volumes_from_a_worker(sqlite_archive: Archive, tmp_path: Path) -> None:
    archive = sqlite_archive
    items = [make_item(f"t{n}", f"thread {n} starts", thread_id=f"t{n}") for n in range(9)]
    items += [make_item(f"r{n}", f"reply {n}", kind="reply", in_reply_to="t0", thread_id="t0") for n in range(3)]
    archive.ingest(items)
    archive.search.index_pending()
    service = ExportService(archive, pdf_worker_from=1, html_page_records=3, pdf_volume_records=4)
    result = service.export(ExportRequest(out=tmp_path / "big", query="thread OR reply"))
    report = tmp_path / "big/data/report"
    pages = sorted(p.name for p in report.glob("page-*.html"))
    volumes = sorted(p.name for p in report.glob("report-*.pdf"))
    assert len(pages) >= 3 and len(volumes) >= 2
    index = (report / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{name}"' in index for name in pages + volumes)
    second = (report / pages[1]).read_text(encoding="utf-8")
    assert 'href="page-00001.html">previous page' in second and 'href="page-00003.html">next page' in second
    first = (report / pages[0]).read_text(encoding="utf-8")
    assert first.index("thread 0 starts") < first.index("reply 0")  # a thread is never split
    assert result.records == 12
    assert verify_pack(tmp_path / "big").ok
    bagit.Bag(str(tmp_path / "big")).validate()
