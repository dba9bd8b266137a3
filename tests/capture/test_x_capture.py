"""X through the whole capture framework (SQLite and PostgreSQL), against the fake API over
HTTP: capture, an edit and a deletion between runs, a quiet third run; then imports of
"Download your archive" zips built from the real fixture files, alone and overlapping
API captures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.records import Record, record_key
from connectors.base import Account
from storage.catalogue.models import records
from tests.connectors.x.archives import (
    POSTS,
    TWEET_COUNT,
    archive_time,
    build_archive,
    dms_from_api,
    edited_version,
)
from tests.connectors.x.support import TOKEN
from tests.fakes import FakeClock
from tests.fakes.server import FakeServer
from tests.fakes.x import ORG_ID, PHOTO_ID, FakeX, png

TOKEN_ENV = "X_BEARER_TOKEN_TEST"


@dataclass
class Setup:
    archive: Archive
    x: FakeX
    account: Account
    runner: CaptureRunner


@pytest.fixture
def setup(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    clock = FakeClock(archive.clock.now())  # the platform's "now" is the archive's
    with FakeServer() as server:
        x = FakeX(server, TOKEN, clock=clock.now)
        account = AccountService(archive.engine, archive.clock).add(
            "x", "@darkliquid",
            {"base_url": server.url, "token_env": TOKEN_ENV, "user_id": ORG_ID,
             "allow_media_hosts": ["127.0.0.1"]},
        )
        runner = CaptureRunner(archive, http_options={"clock": clock.now, "sleep": clock.sleep})
        yield Setup(archive, x, account, runner)


def versions(archive: Archive, native_id: str) -> list[tuple[str, dict]]:
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.record_id, records.c.observation)
            .where(records.c.native_id == native_id).order_by(records.c.version)
        ).all()
    return [
        (row.observation, Record.from_bytes(archive.store.get(record_key(row.record_id))).fields)
        for row in rows
    ]


def count(archive: Archive) -> int:
    with archive.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(records)).scalar_one()


def quiet(summary) -> bool:
    return (summary.counts["new"], summary.counts["edited"], summary.counts["deleted"]) == (0, 0, 0)


def test_capture_edit_delete_and_a_quiet_rerun(setup: Setup) -> None:
    archive, x, runner = setup.archive, setup.x, setup.runner
    pictured = x.post("Our new branch", photos=[(png(), "The front door")])
    changing = x.post("Rate is 4.1%")
    reply = x.reply(pictured, "Looks great!")
    x.add_dm("Can you call me back?")
    first = runner.run(setup.account)
    assert first.status == "ok", first.errors
    assert first.counts["new"] == TWEET_COUNT + 4
    assert first.by_kind["dm"] == 1 and first.by_kind["reply"] == 23 + 1
    assert first.media == 2  # the new photo and the archive tweet's photo

    x.edit(changing, "Rate is 3.9%")
    x.delete(pictured)
    x.add_dm("Thanks, talk soon", sender=ORG_ID, recipient="1106739631557472256")
    second = runner.run(setup.account)
    assert second.status == "ok", second.errors
    assert (second.counts["new"], second.counts["edited"], second.counts["deleted"]) == (1, 1, 1)
    assert quiet(runner.run(setup.account))

    edited = versions(archive, changing)
    assert [(o, f["content"]["text"]) for o, f in edited] == [
        ("observed", "Rate is 4.1%"), ("edited", "Rate is 3.9%")]
    gone = versions(archive, pictured)
    assert [o for o, _ in gone] == ["observed", "deleted"]
    evidence = gone[-1][1]["content"]
    assert evidence["status"] == 200 and "resource-not-found" in evidence["body"]
    assert gone[0][1]["media"][0]["metadata"]["description"] == "The front door"
    assert [o for o, _ in versions(archive, reply)] == ["observed"]  # its parent's deletion
    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)
    archive.checkpoint()
    assert archive.verify().ok


def test_the_fixture_archive_imports_and_a_re_import_adds_nothing(
    setup: Setup, tmp_path: Path
) -> None:
    archive, runner = setup.archive, setup.runner
    gone = next(p for p in POSTS if p["id_str"] == "1561850194110595073")
    path = build_archive(
        tmp_path / "twitter-2023-07-02.zip",
        posts=[p for p in POSTS if p is not gone], deleted=[gone], parts=2,
    )
    first = runner.run_import(setup.account, "x", path)
    assert first.status == "ok", first.errors
    assert (first.counts["new"], first.counts["deleted"]) == (TWEET_COUNT, 1)
    assert first.media == 1
    assert [o for o, _ in versions(archive, gone["id_str"])] == ["observed", "deleted"]
    tombstone = versions(archive, gone["id_str"])[-1][1]
    assert tombstone["content"] == {"source": "deleted-tweets.js",
                                    "deleted_at": "2023-06-01T10:00:00.000Z"}
    assert tombstone["capture"]["source"] == "export"
    stored = count(archive)
    again = runner.run_import(setup.account, "x", path)
    assert quiet(again) and again.counts["unchanged"] == TWEET_COUNT + 1
    assert count(archive) == stored
    photo = versions(archive, PHOTO_ID)[0][1]
    assert photo["media"][0]["source_url"].startswith("archive:data/tweets_media/")
    archive.checkpoint()
    assert archive.verify().ok


def test_an_import_overlapping_api_captures_merges_into_the_same_items(
    setup: Setup, tmp_path: Path
) -> None:
    archive, x, runner = setup.archive, setup.x, setup.runner
    x.add_dm("Is the branch open on Saturday?")
    x.add_dm("Yes, 9 to 12", sender=ORG_ID, recipient="1106739631557472256")
    original = next(p for p in POSTS if p["id_str"] == "1560185144006295552")
    edit_id = x.edit(original["id_str"], "Jinx by Isidor, on repeat")
    first, edit = edited_version(original, edit_id, "Jinx by Isidor, on repeat",
                                 archive_time(x.tweets[edit_id]["created_at"]))
    path = build_archive(
        tmp_path / "export.zip",
        posts=[first if p is original else p for p in POSTS] + [edit],
        dms=dms_from_api(x.dm_events.values()),
    )
    captured = runner.run(setup.account)
    assert captured.status == "ok", captured.errors
    assert captured.counts["new"] == TWEET_COUNT + 2
    stored = count(archive)
    imported = runner.run_import(setup.account, "x", path)
    assert imported.status == "ok", imported.errors
    assert quiet(imported) and imported.counts["unchanged"] == TWEET_COUNT + 1 + 2
    assert count(archive) == stored  # same items, no new versions
    assert [o for o, _ in versions(archive, original["id_str"])] == ["observed", "edited"]
    assert quiet(runner.run(setup.account))


def test_an_api_capture_after_an_import_adds_only_what_the_archive_lacks(
    setup: Setup, tmp_path: Path
) -> None:
    archive, x, runner = setup.archive, setup.x, setup.runner
    imported = runner.run_import(setup.account, "x", build_archive(tmp_path / "export.zip"))
    assert imported.counts["new"] == TWEET_COUNT
    news = x.post("Posted after the export")
    captured = runner.run(setup.account)
    assert captured.status == "ok", captured.errors
    assert (captured.counts["new"], captured.counts["edited"]) == (1, 0)
    assert [o for o, _ in versions(archive, news)] == ["observed"]

