"""LinkedIn through the whole capture framework, against the fake API over HTTP: first
capture with media, an edit and deletions between runs (earlier versions kept behind
the tombstones), a quiet third run, a 429 waited out on a fake clock, verify."""

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
from tests.fakes.linkedin import FIRST_IMAGE, FIRST_POST, ORG, FakeLinkedIn
from tests.fakes.server import FakeServer

TOKEN = "AQX-linkedin-SECRET-capture-31f0-do-not-store"


@pytest.fixture
def site() -> FakeLinkedIn:
    with FakeServer() as server:
        yield FakeLinkedIn(server, TOKEN)


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
    archive: Archive, site: FakeLinkedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINKEDIN_TOKEN", TOKEN)
    site.add_asset(FIRST_IMAGE, png(20, 10))
    announcement = site.post("We are hiring {hashtag|\\#|jobs}")["id"]
    doomed = site.post("Posted by mistake")["id"]
    question = site.comment(announcement, "Remote possible?")["commentUrn"]
    account = AccountService(archive.engine, archive.clock).add(
        "linkedin", "Acme on LinkedIn",
        {"token_env": "LINKEDIN_TOKEN", "base_url": site.server.url, "organization_urn": ORG,
         "allow_media_hosts": ["127.0.0.1"], "page_size": 2},
    )
    clock = FakeClock()
    runner = CaptureRunner(archive, http_options={"clock": clock.now, "sleep": clock.sleep})

    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.by_kind == {"post": 3, "comment": 1}
    assert first.media == 1

    site.edit(announcement, "We are hiring {hashtag|\\#|jobs}, remote too")
    site.delete(doomed)
    site.comment(announcement, "Great, applying!")
    site.rate_limit(times=1, retry_after="20")
    second = runner.run(account)
    assert second.status == "ok", second.errors
    assert (second.counts["new"], second.counts["edited"], second.counts["deleted"]) == (1, 1, 1)
    assert 20.0 in clock.sleeps

    third = runner.run(account)
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)

    assert [v["observation"] for v in versions(archive, doomed)] == ["observed", "deleted"]
    assert versions(archive, doomed)[0]["content"]["text"] == "Posted by mistake"
    texts = [v["content"]["text"] for v in versions(archive, announcement)]
    assert texts == ["We are hiring #jobs", "We are hiring #jobs, remote too"]
    assert len(versions(archive, question)) == 1
    stored = versions(archive, FIRST_POST)[0]
    assert stored["media"][0]["width"] == 20
    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)
    archive.checkpoint()
    assert archive.verify().ok
