"""Reddit through the whole capture framework, against the fake API over HTTP: first
capture, an edit and deletions between runs (every earlier version kept behind the
tombstone), a quiet third run, rate-limit pacing on a fake clock, verify."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.records import Record, record_key
from storage.catalogue.models import records
from tests.capture.conftest import png
from tests.fakes import FakeClock
from tests.fakes.reddit import FakeReddit
from tests.fakes.server import FakeServer

TOKEN = "reddit-SECRET-capture-9e2f-do-not-store"


@pytest.fixture
def site() -> FakeReddit:
    with FakeServer() as server:
        yield FakeReddit(server, TOKEN)


def versions(archive: Archive, native_id: str) -> list[dict]:
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.record_id, records.c.observation)
            .where(records.c.native_id == native_id).order_by(records.c.version)
        ).all()
    return [
        {"observation": r.observation,
         **Record.from_bytes(archive.store.get(record_key(r.record_id))).fields}
        for r in rows
    ]


def test_capture_edit_delete_and_a_quiet_rerun(
    archive: Archive, site: FakeReddit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDDIT_TOKEN", TOKEN)
    post = site.submit("Our announcement", "Hello, Reddit")
    site.attach_image(site.submit("A picture")["name"], png(16, 12))
    reply = site.comment(post["name"], "First comment")
    doomed = site.comment(post["name"], "I will be deleted")
    account = AccountService(archive.engine, archive.clock).add(
        "reddit", "u/archiver_test",
        {"base_url": site.server.url, "token_env": "REDDIT_TOKEN",
         "allow_media_hosts": ["127.0.0.1"], "page_limit": 2},
    )
    clock = FakeClock()
    runner = CaptureRunner(archive, http_options={"clock": clock.now, "sleep": clock.sleep})
    site.clock = clock.now

    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.counts["new"] == 4 and first.media == 1
    assert first.by_kind == {"post": 2, "comment": 2}

    site.edit(doomed["name"], "I will be deleted (edited first)")
    site.delete(doomed["name"])
    site.edit(reply["name"], "First comment, corrected")
    site.throttle(remaining=0, reset_in=90)  # Reddit says: no quota until the reset
    second = runner.run(account)
    assert second.status == "ok", second.errors
    assert second.counts["edited"] == 1 and second.counts["deleted"] == 1
    assert 90.0 in clock.sleeps  # paced by x-ratelimit-*, on the fake clock

    third = runner.run(account)
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)

    history = versions(archive, doomed["name"])
    assert [v["observation"] for v in history] == ["observed", "deleted"]
    assert history[0]["content"]["text"] == "I will be deleted"  # kept behind the tombstone
    assert history[1]["content"]["marker"] == "[deleted]"
    corrected = versions(archive, reply["name"])
    assert [v["content"]["text"] for v in corrected] == [
        "First comment", "First comment, corrected",
    ]
    assert corrected[1]["content"]["edited"] == int(site.things[reply["name"]]["edited"])
    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)
    archive.checkpoint()
    assert archive.verify().ok


def test_private_messages_are_captured_as_one_conversation(
    archive: Archive, site: FakeReddit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDDIT_TOKEN", TOKEN)
    question = site.receive_message("a_customer", "My order", "Where is order 1234?")
    answer = site.reply_message(question["name"], "It ships tomorrow.")
    site.comment(site.submit("News", "text")["name"], "congrats!", author="a_customer")
    account = AccountService(archive.engine, archive.clock).add(
        "reddit", "u/archiver_test",
        {"base_url": site.server.url, "token_env": "REDDIT_TOKEN", "page_limit": 2},
    )
    runner = CaptureRunner(archive)

    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.by_kind == {"post": 1, "dm": 2}  # others' comment reply: not archived
    thanks = site.reply_message(answer["name"], "Thanks!")
    second = runner.run(account)
    assert (second.counts["new"], second.by_kind) == (1, {"dm": 1})
    third = runner.run(account)
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)

    thread = [versions(archive, m["name"]) for m in (question, answer, thanks)]
    assert [len(v) for v in thread] == [1, 1, 1]
    assert {v[0]["content"]["conversation_id"] for v in thread} == {question["name"]}
    assert [v[0]["content"]["author"] for v in thread] == [
        "a_customer", "archiver_test", "a_customer"]
    assert question["new"] is True  # capture left it unread
    archive.checkpoint()
    assert archive.verify().ok
