"""Instagram through the whole capture framework, against the fake Graph API over HTTP:
media, carousel, Reel, Story, comments and DMs; a caption edit, a hidden comment and
deletions; a Story that expires without being called deleted; a DYI export import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.clock import FixedClock
from archiver.records import Record, record_key
from connectors.base import Account
from storage.catalogue.models import records
from tests.connectors.facebook.support import TOKEN, build_export
from tests.fakes import FakeClock
from tests.fakes.meta_graph import IG_PAGE_ID, IG_USER_ID, FakeGraph
from tests.fakes.server import FakeServer

TOKEN_ENV = "IG_TOKEN"
COMMENT_ID = "17858154961981086"
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "instagram" / "dyi_export"


@pytest.fixture
def graph(archive: Archive) -> Iterator[FakeGraph]:
    with FakeServer() as server:
        yield FakeGraph(server, TOKEN, clock=archive.clock.now)


@pytest.fixture
def account(archive: Archive, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return AccountService(archive.engine, archive.clock).add(
        "instagram", "@example_org",
        {"base_url": graph.server.url, "token_env": TOKEN_ENV,
         "allow_media_hosts": ["127.0.0.1"], "ig_user_id": IG_USER_ID,
         "page_id": IG_PAGE_ID, "page_limit": 2},
    )


def runner_for(archive: Archive) -> CaptureRunner:
    http_clock = FakeClock()
    return CaptureRunner(archive, http_options={"clock": http_clock.now,
                                                "sleep": http_clock.sleep})


def latest(archive: Archive, native_id: str) -> tuple[list[str], dict]:
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.record_id, records.c.observation)
            .where(records.c.native_id == native_id).order_by(records.c.version)
        ).all()
    fields = Record.from_bytes(archive.store.get(record_key(rows[-1].record_id))).fields
    return [r.observation for r in rows], fields


def test_capture_edits_deletions_and_an_expiring_story(
    archive: Archive, graph: FakeGraph, account: Account, clock: FixedClock
) -> None:
    runner = runner_for(archive)
    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.by_kind == {"post": 3, "reel": 1, "story": 1, "comment": 2, "reply": 1, "dm": 2}
    _, carousel = latest(archive, graph.carousel["id"])
    assert [m["content_type"] for m in carousel["media"]] == ["image/png", "video/mp4",
                                                              "image/png"]

    graph.edit_caption(graph.carousel["id"], "Three views of the harbour at dawn #harbour")
    graph.hide_ig_comment(COMMENT_ID)
    graph.delete(graph.reel["id"])
    graph.delete(graph.story["id"])  # removed while still live: a deletion
    later_story = graph.add_story("VIDEO")
    graph.rotate_cdn()

    second = runner.run(account)
    assert second.status == "ok", second.errors
    assert (second.counts["new"], second.counts["edited"], second.counts["deleted"]) == (1, 2, 2)
    assert latest(archive, graph.reel["id"])[0] == ["observed", "deleted"]
    observations, story = latest(archive, graph.story["id"])
    assert observations == ["observed", "deleted"] and story["kind"] == "story"
    assert latest(archive, COMMENT_ID)[1]["content"]["hidden"] is True
    observations, carousel = latest(archive, graph.carousel["id"])
    assert observations == ["observed", "edited"]
    assert carousel["content"]["text"].endswith("at dawn #harbour")

    clock.advance(hours=25)  # the later story expires: gone from Graph, not deleted
    graph.expire_story(later_story["id"])
    third = runner.run(account)
    assert third.status == "ok", third.errors
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)
    assert latest(archive, later_story["id"])[0] == ["observed"]

    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)
    archive.checkpoint()
    assert archive.verify().ok


def test_a_dyi_export_imports_once(archive: Archive, account: Account, tmp_path: Path) -> None:
    path = build_export(SAMPLE, tmp_path / "instagram-example_org.zip")
    first = CaptureRunner(archive).run_import(account, "instagram", path)
    assert first.status == "ok", first.errors
    assert first.counts["new"] == 8
    assert first.media == 6  # post, carousel (2), reel, story, DM photo

    again = CaptureRunner(archive).run_import(account, "instagram", path)
    assert (again.counts["new"], again.counts["unchanged"]) == (0, 8)
    with archive.engine.connect() as conn:
        ids = conn.execute(select(records.c.native_id)).scalars().all()
    texts = {latest(archive, native_id)[1]["content"]["text"] for native_id in ids}
    assert {"Sunset at the café ☕️ #coffee with @ig_fan", "Ótimo vídeo!"} <= texts
