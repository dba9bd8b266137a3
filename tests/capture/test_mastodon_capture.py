"""Mastodon through the whole capture framework, against the fake instance over HTTP:
first capture, an edit and a deletion between runs, a quiet third run, verify."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.records import Record, record_key
from storage.catalogue.models import records
from tests.connectors.mastodon.support import TOKEN
from tests.fakes import FakeClock
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer


@pytest.fixture
def instance() -> FakeMastodon:
    with FakeServer() as server:
        yield FakeMastodon(server, TOKEN)


def test_capture_edit_delete_and_a_quiet_rerun(
    archive: Archive, instance: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
    account = AccountService(archive.engine, archive.clock).add(
        "mastodon", "@org@fake.test",
        {"base_url": instance.server.url, "token_env": "MASTODON_TOKEN",
         "allow_media_hosts": ["127.0.0.1"]},
    )
    clock = FakeClock()
    runner = CaptureRunner(archive, http_options={"clock": clock.now, "sleep": clock.sleep})
    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.counts["new"] >= len(instance.org_statuses())
    assert first.by_kind.get("dm", 0) >= 1

    statuses = instance.org_statuses()
    gone, changed = statuses[0]["id"], statuses[1]["id"]
    instance.delete_status(gone)
    instance.edit_status(changed, content="<p>corrected <script>alert(1)</script>text</p>")
    second = runner.run(account)
    assert second.status == "ok", second.errors
    assert second.counts["deleted"] == 1
    assert second.counts["edited"] >= 1

    third = runner.run(account)
    assert (third.counts["new"], third.counts["edited"], third.counts["deleted"]) == (0, 0, 0)

    with archive.engine.connect() as conn:
        versions = conn.execute(
            select(records.c.record_id, records.c.observation)
            .where(records.c.native_id == changed).order_by(records.c.version)
        ).all()
    assert [v.observation for v in versions][-1] == "edited"
    latest = Record.from_bytes(archive.store.get(record_key(versions[-1].record_id))).fields
    assert "alert(1)" not in latest["content"]["text"]  # script bodies are dropped from text
    assert "<script>" in latest["raw"]["content"]  # the raw payload is kept exactly
    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)
    archive.checkpoint()
    assert archive.verify().ok
