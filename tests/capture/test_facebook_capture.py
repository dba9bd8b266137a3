"""Facebook Pages through the whole capture framework, against the fake Graph API over
HTTP: first capture, then an edit, a hidden comment, a late comment and a deletion,
then a quiet run; usage headers pacing the run; a DYI export import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.records import Record, record_key
from connectors.base import Account
from storage.catalogue.models import records
from tests.connectors.facebook.support import TOKEN, build_export
from tests.fakes import FakeClock
from tests.fakes.meta_graph import COMMENTED_POST, PAGE_ID, FakeGraph
from tests.fakes.server import FakeServer

TOKEN_ENV = "FB_PAGE_TOKEN"
HIDDEN = "10158407654328553_10158408043788553"
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "facebook" / "dyi_export"


@pytest.fixture
def graph(archive: Archive) -> Iterator[FakeGraph]:
    with FakeServer() as server:
        yield FakeGraph(server, TOKEN, clock=archive.clock.now)


@pytest.fixture
def account(archive: Archive, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return AccountService(archive.engine, archive.clock).add(
        "facebook", "@fbdevs",
        {"base_url": graph.server.url, "token_env": TOKEN_ENV,
         "allow_media_hosts": ["127.0.0.1"], "page_id": PAGE_ID, "page_limit": 3},
    )


@pytest.fixture
def http_clock() -> FakeClock:
    """The HTTP client's clock: its sleeps are recorded, never slept."""
    return FakeClock()


@pytest.fixture
def runner(archive: Archive, http_clock: FakeClock) -> CaptureRunner:
    return CaptureRunner(
        archive, http_options={"clock": http_clock.now, "sleep": http_clock.sleep}
    )


def latest(archive: Archive, native_id: str) -> tuple[list[str], dict]:
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.record_id, records.c.observation)
            .where(records.c.native_id == native_id).order_by(records.c.version)
        ).all()
    fields = Record.from_bytes(archive.store.get(record_key(rows[-1].record_id))).fields
    return [r.observation for r in rows], fields


def test_capture_edit_hide_delete_and_a_quiet_rerun(
    archive: Archive, graph: FakeGraph, account: Account, runner: CaptureRunner
) -> None:
    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.by_kind == {"post": 6, "comment": 6, "reply": 4, "dm": 2}
    assert first.counts["new"] == 18 and first.counts["edited"] == 0
    assert first.media == 7  # five post images, a DM photo and a DM video

    posts = graph.page_posts()
    edited, busy, gone = posts[1]["id"], posts[2]["id"], posts[-1]["id"]
    graph.edit_post(edited, "Edited: Ninja Van now delivers across all of Southeast Asia.")
    graph.react(busy, 40)
    graph.touch_post(busy)
    graph.hide_comment(HIDDEN)
    late = graph.add_comment(COMMENTED_POST, "Still waiting for an answer…", parent=HIDDEN)
    graph.delete(gone)
    graph.rotate_cdn()

    second = runner.run(account)
    assert second.status == "ok", second.errors
    assert (second.counts["new"], second.counts["edited"], second.counts["deleted"]) == (1, 2, 1)

    third = runner.run(account)
    assert third.status == "ok", third.errors
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)

    observations, fields = latest(archive, edited)
    assert observations == ["observed", "edited"]
    assert fields["content"]["text"].startswith("Edited: Ninja Van")
    assert fields["raw"]["updated_time"] == graph.objects[edited]["updated_time"]
    assert latest(archive, busy)[0] == ["observed"]  # reactions and activity: no version
    observations, fields = latest(archive, HIDDEN)
    assert observations == ["observed", "edited"] and fields["content"]["hidden"] is True
    assert latest(archive, late["id"])[1]["kind"] == "reply"
    observations, fields = latest(archive, gone)
    assert observations == ["observed", "deleted"]
    assert (fields["content"]["error_code"], fields["content"]["error_subcode"]) == (100, 33)

    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)
    archive.checkpoint()
    assert archive.verify().ok


def test_usage_headers_slow_the_run_and_a_nearly_spent_quota_defers_it(
    graph: FakeGraph, account: Account, runner: CaptureRunner, http_clock: FakeClock
) -> None:
    graph.set_usage(85)
    paced = runner.run(account)
    assert paced.status == "ok", paced.errors
    assert http_clock.sleeps
    assert http_clock.sleeps == [pytest.approx(240.0)] * len(http_clock.sleeps)

    graph.set_usage(97)
    deferred = runner.run(account)
    assert deferred.status == "failed"
    assert "rate limited" in deferred.errors[0]["message"]


def test_a_dyi_export_imports_once_with_text_repaired(
    archive: Archive, account: Account, tmp_path: Path
) -> None:
    path = build_export(SAMPLE, tmp_path / "facebook-fbdevs-2024.zip", "facebook-fbdevs-2024/")
    first = CaptureRunner(archive).run_import(account, "facebook", path)
    assert first.status == "ok", first.errors
    assert first.counts["new"] == 10 and first.media == 3

    again = CaptureRunner(archive).run_import(account, "facebook", path)
    assert (again.counts["new"], again.counts["unchanged"]) == (0, 10)

    with archive.engine.connect() as conn:
        ids = conn.execute(select(records.c.native_id)).scalars().all()
    texts = {latest(archive, native_id)[1]["content"]["text"] for native_id in ids}
    assert "Bonjour 👋 ça va ? We'll reply by Monday." in texts
    assert "iCook 愛料理 boosted its user retention by 30% 📈" in texts
    _, fields = latest(archive, ids[0])
    assert fields["capture"]["source"] == "export"
    archive.checkpoint()
    assert archive.verify().ok
