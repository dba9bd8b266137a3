"""Bluesky through the whole capture framework, against the fake PDS/AppView over HTTP:
posts, a reply, a DM, an image; then an edit (new cid), a deleted post and a deleted DM."""

from __future__ import annotations

import pytest

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from tests.capture.conftest import png
from tests.fakes import FakeClock
from tests.fakes.bluesky import APP_PASSWORD, JWT_MARK, FakeBluesky
from tests.fakes.server import FakeServer


@pytest.fixture
def sky() -> FakeBluesky:
    with FakeServer() as server:
        yield FakeBluesky(server)


def test_capture_edit_and_deletions_then_a_quiet_rerun(
    archive: Archive, sky: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSKY_APP_PASSWORD", APP_PASSWORD)
    first_post = sky.add_post("Branch hours change on Friday")
    edited = sky.add_post("Rate is 4.1%")
    sky.add_post("With a picture", images=[(png(), "a red square")])
    sky.add_reply(first_post, "Thanks!")
    convo = sky.add_convo("member.test")
    message = sky.add_message(convo, "Please call us about your application")
    account = AccountService(archive.engine, archive.clock).add(
        "bluesky", sky.account.handle,
        {"base_url": sky.server.url, "token_env": "BSKY_APP_PASSWORD",
         "allow_media_hosts": ["127.0.0.1"]},
    )
    clock = FakeClock()
    runner = CaptureRunner(archive, http_options={"clock": clock.now, "sleep": clock.sleep})
    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.counts["new"] >= 5
    assert first.by_kind.get("dm") == 1 and first.media == 1

    sky.edit_post(edited, text="Rate is 3.9%")
    sky.delete_post(first_post)
    sky.delete_message(convo, message)
    second = runner.run(account)
    assert second.status == "ok", second.errors
    assert second.counts["edited"] == 1
    assert second.counts["deleted"] == 2

    third = runner.run(account)
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)
    for key in archive.store.keys("records/"):
        data = archive.store.get(key)
        assert APP_PASSWORD.encode() not in data and JWT_MARK.encode() not in data
    archive.checkpoint()
    assert archive.verify().ok
