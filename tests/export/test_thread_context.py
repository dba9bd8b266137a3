"""Each selected record comes with its thread (issue 7.2): a reply with what it
answers, a post with its replies, a DM with the rest of its conversation, each
added record marked "thread-context" in custody and badged in the report; and
the catalogue's thread keys, set at ingest, backfilled for older archives and
migrated on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import bagit
from sqlalchemy import inspect, select, update

from archiver.archive import Archive
from archiver.export.service import ExportRequest, ExportResult, ExportService
from archiver.threads import backfill_thread_keys
from archiver.verify_pack import verify_pack
from storage.catalogue.db import open_engine
from storage.catalogue.migrate import upgrade
from storage.catalogue.models import records
from tests.cli.test_cli import run
from tests.export.conftest import Realistic
from tests.support.items import make_item

POST_BADGE = "Context: in the thread of a selected post, not itself selected"
DM_BADGE = "Context: in the conversation of a selected message, not itself selected"


def export(archive: Archive, out: Path, query: str) -> ExportResult:
    result = ExportService(archive).export(ExportRequest(out=out, query=query))
    assert verify_pack(out).ok
    bagit.Bag(str(out)).validate()
    return result


def reasons(pack: Path) -> dict[str, set[str]]:
    """native id -> the reasons its records are in the pack, from custody; the load
    file (what a review tool loads) must say the same."""
    found: dict[str, set[str]] = {}
    for line in (pack / "data/custody/records.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        found.setdefault(entry["source"]["native_id"], set()).add(entry["included_because"])
    loaded: dict[str, set[str]] = {}
    with (pack / "data/loadfile.csv").open(encoding="utf-8-sig", newline="") as rows:
        for row in csv.DictReader(rows):
            loaded.setdefault(row["NativeID"], set()).add(row["IncludedBecause"])
    assert loaded == found
    return found


def articles(pack: Path) -> dict[str, str]:
    """native id -> its item's HTML in the report."""
    html = "".join(
        p.read_text(encoding="utf-8") for p in (pack / "data/report").glob("page-*.html")
    )
    found = {}
    for article in re.findall(r"<article.*?</article>", html, re.S):
        native = re.search(r"native id ([^ ]+) ·", article)
        assert native is not None
        found[native.group(1)] = article
    return found


def bag_description(pack: Path) -> str:
    info = (pack / "bag-info.txt").read_text(encoding="utf-8")
    return next(
        line for line in info.splitlines() if line.startswith("Internal-Sender-Description")
    )


def test_a_reply_comes_with_its_parent_and_root(realistic: Realistic, tmp_path: Path) -> None:
    result = export(realistic.archive, tmp_path / "reply", "existing members qualify")
    assert (result.matched, result.thread_context) == (1, 3)
    assert reasons(tmp_path / "reply") == {
        "1006": {"matched"},
        "1004": {"thread-context"},  # its parent
        "1003": {"thread-context"},  # the root, both versions
    }
    shown = articles(tmp_path / "reply")
    assert POST_BADGE in shown["1004"] and POST_BADGE in shown["1003"]
    assert POST_BADGE not in shown["1006"] and "not in this pack" not in shown["1006"]
    assert "1 matched, 0 added as version history, 3 added as thread context" in bag_description(
        tmp_path / "reply"
    )


def test_a_post_comes_with_its_replies(realistic: Realistic, tmp_path: Path) -> None:
    result = export(realistic.archive, tmp_path / "post", '"New savings rate"')
    assert (result.matched, result.thread_context) == (2, 2)
    assert reasons(tmp_path / "post") == {
        "1003": {"matched"},
        "1004": {"thread-context"},
        "1006": {"thread-context"},
    }
    shown = articles(tmp_path / "post")
    assert "Does this apply" in shown["1004"] and POST_BADGE in shown["1004"]
    assert POST_BADGE not in shown["1003"]


def test_a_dm_comes_with_both_sides_of_its_conversation(
    realistic: Realistic, tmp_path: Path
) -> None:
    result = export(realistic.archive, tmp_path / "dm", "declined")
    assert (result.matched, result.thread_context) == (1, 1)
    assert reasons(tmp_path / "dm") == {"1007": {"matched"}, "1008": {"thread-context"}}
    shown = articles(tmp_path / "dm")
    assert "my card was declined" in shown["1007"] and DM_BADGE not in shown["1007"]
    assert "Sorry about that!" in shown["1008"] and DM_BADGE in shown["1008"]


def fill_thread(archive: Archive) -> None:
    """A post with three replies (one later deleted), and records that share its
    thread id but not its thread: a DM conversation and another account's post."""
    archive.ingest(
        [make_item("root", "launch announcement", thread_id="root")]
        + [make_item(f"r{n}", f"question {n}", kind="reply", in_reply_to="root", thread_id="root")
           for n in (1, 2, 3)]
        + [make_item("dm1", "private", kind="dm", conversation_id="root", participants=["@a@x.test"]),
           make_item("o1", "elsewhere", account="@other@x.test", thread_id="root")]
    )  # fmt: skip
    archive.ingest([make_item("r3", "", deleted=True)])
    archive.search.index_pending()


def test_disposed_thread_records_are_listed_and_other_threads_stay_out(
    archive: Archive, tmp_path: Path
) -> None:
    fill_thread(archive)
    with archive.engine.begin() as conn:
        conn.execute(
            update(records)
            .where(records.c.native_id == "r2")
            .values(disposed_at=archive.clock.now())
        )
    result = export(archive, tmp_path / "q", "announcement")
    # r3 comes twice: its post and its tombstone, which stays in the thread
    assert (result.matched, result.thread_context, result.excluded) == (1, 3, 1)
    assert reasons(tmp_path / "q") == {
        "root": {"matched"},
        "r1": {"thread-context"},
        "r3": {"thread-context"},
    }
    custody = json.loads((tmp_path / "q/data/custody/export.json").read_text(encoding="utf-8"))
    with archive.engine.connect() as conn:
        disposed = conn.execute(select(records.c.record_id).where(records.c.native_id == "r2"))
        assert [e["record_id"] for e in custody["export"]["not_included"]] == list(
            disposed.scalars()
        )
    assert custody["export"]["counts"]["added_as_thread_context"] == 3
    assert [e["reason"] for e in custody["export"]["not_included"]] == ["disposed"]


def test_backfill_fills_what_ingest_sets_and_is_idempotent(archive: Archive) -> None:
    fill_thread(archive)
    now = archive.clock.now()
    with archive.engine.begin() as conn:
        keyed = dict(conn.execute(select(records.c.record_id, records.c.thread_key)).all())
        gone = conn.execute(select(records.c.record_id).where(records.c.native_id == "o1")).scalar()
        conn.execute(update(records).values(thread_key=None))
        # a disposed record's bytes are gone: it is not read and its key stays unknown
        conn.execute(update(records).where(records.c.record_id == gone).values(disposed_at=now))
    assert set(keyed.values()) == {"post:root", "dm:root"}  # o1: same key, other account
    assert backfill_thread_keys(archive.engine, archive.store) == len(keyed) - 1 == 6
    with archive.engine.connect() as conn:
        filled = dict(conn.execute(select(records.c.record_id, records.c.thread_key)).all())
    assert filled == {**keyed, gone: None}
    assert backfill_thread_keys(archive.engine, archive.store) == 0


def test_the_migration_adds_the_column_and_index(catalogue_url: str) -> None:
    engine = open_engine(catalogue_url)
    try:
        upgrade(engine, "0004")
        assert "thread_key" not in {c["name"] for c in inspect(engine).get_columns("records")}
        upgrade(engine)
        found = inspect(engine)
        assert "thread_key" in {c["name"] for c in found.get_columns("records")}
        index = {i["name"]: i["column_names"] for i in found.get_indexes("records")}
        assert index["ix_records_thread"] == ["platform", "account", "thread_key"]
    finally:
        engine.dispose()


def test_db_upgrade_backfills_an_archive_from_before_thread_keys(tmp_path: Path) -> None:
    """An archive at 0004 (the column dropped again) gets the column from the
    migration and its keys from the stored records, once."""
    assert run(tmp_path, "quickstart").returncode == 0
    with sqlite3.connect(tmp_path / "archive/catalogue.sqlite3") as conn:
        conn.executescript(
            "DROP INDEX ix_records_thread; ALTER TABLE records DROP COLUMN thread_key;"
            "UPDATE alembic_version SET version_num = '0004';"
        )
    first = run(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "0004 -> 0005" in first.stdout
    assert "thread keys filled for 10 record(s)" in first.stdout
    again = run(tmp_path, "db", "upgrade")
    assert "thread keys filled for 0 record(s)" in again.stdout
    with sqlite3.connect(tmp_path / "archive/catalogue.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM records WHERE thread_key IS NULL").fetchone() == (
            0,
        )


def test_no_threads_packs_only_what_is_selected_and_says_so(tmp_path: Path) -> None:
    """A narrow production (data minimisation): `--no-threads` leaves the thread
    out, and the custody file and the audit trail record the choice."""
    assert run(tmp_path, "quickstart").returncode == 0
    for flag, context in (("--no-threads", 0), ("--threads", 1)):
        out = tmp_path / f"pack{flag}"
        done = run(tmp_path, "export", "--query", "declined", "--out", str(out), flag)
        assert done.returncode == 0, done.stderr
        assert f"1 matched, 0 added as version history, {context} added as thread context" in (
            done.stdout
        )
        custody = json.loads((out / "data/custody/export.json").read_text(encoding="utf-8"))
        assert custody["export"]["with_threads"] is (context == 1)
        assert custody["export"]["counts"]["added_as_thread_context"] == context
        assert verify_pack(out).ok
    with sqlite3.connect(tmp_path / "archive/catalogue.sqlite3") as conn:
        params = conn.execute(
            "SELECT params FROM audit_events WHERE action = 'export' ORDER BY seq"
        ).fetchall()
    assert [json.loads(p)["with_threads"] for (p,) in params] == [False, True]
