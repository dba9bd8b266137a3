"""The contract every connector meets, run against each platform's fake over HTTP and
through the whole capture framework (on SQLite and PostgreSQL):
complete, faithful, polite and unbreakable, and every bad input ends with a clear
message in the run's record, earlier records intact and verify passing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner, RunSummary
from archiver.records import Record, record_key
from connectors.base import Account
from storage.catalogue.models import Base, records
from tests.connectors.contract.harnesses import HARNESSES, Harness, png
from tests.fakes import FakeClock
from tests.fakes.server import FakeServer


@pytest.fixture(params=HARNESSES, ids=lambda h: h.platform)
def harness(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with FakeServer() as server:
        built = request.param(server, FakeClock())
        monkeypatch.setenv(built.token_env, built.env_value)
        yield built


MAX_RETRIES = 2  # so a storm of MAX_RETRIES + 1 errors exhausts exactly one run


class Platform:
    """The harness plus an account on it and a runner with an instant clock."""

    def __init__(self, archive: Archive, harness: Harness, **settings: object) -> None:
        self.archive = archive
        self.harness = harness
        self.account: Account = AccountService(archive.engine, archive.clock).add(
            harness.platform, harness.handle, harness.settings(**settings)
        )
        clock = harness.clock
        self.runner = CaptureRunner(
            archive,
            http_options={"clock": clock.now, "sleep": clock.sleep, "max_retries": MAX_RETRIES},
        )

    def run(self) -> RunSummary:
        return self.runner.run(self.account)

    def record_count(self) -> int:
        with self.archive.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(records)).scalar_one()

    def latest(self, native_id: str) -> dict:
        with self.archive.engine.connect() as conn:
            record_id = conn.execute(
                select(records.c.record_id)
                .where(records.c.native_id == native_id)
                .order_by(records.c.version.desc())
                .limit(1)
            ).scalar_one()
        return Record.from_bytes(self.archive.store.get(record_key(record_id))).fields

    def verified(self) -> bool:
        self.archive.checkpoint()
        report = self.archive.verify()
        return report.ok


def test_capture_then_a_quiet_rerun(archive: Archive, harness: Harness) -> None:
    ids = [harness.publish(f"post {n}") for n in range(3)]
    platform = Platform(archive, harness)
    first = platform.run()
    assert first.status == "ok", first.errors
    assert first.counts["new"] >= 3
    assert all(platform.latest(native_id)["content"]["text"] for native_id in ids)
    again = platform.run()
    assert (again.counts["new"], again.counts["edited"], again.counts["deleted"]) == (0, 0, 0)
    assert platform.verified()


def test_edits_are_versions_and_deletions_tombstones(archive: Archive, harness: Harness) -> None:
    kept, gone = harness.publish("rate is 4.1%"), harness.publish("to be deleted")
    platform = Platform(archive, harness)
    platform.run()
    harness.edit(kept, "rate is 3.9%")
    harness.delete(gone)
    second = platform.run()
    assert second.status == "ok", second.errors
    assert second.counts["edited"] >= 1 and second.counts["deleted"] == 1
    assert "3.9%" in platform.latest(kept)["content"]["text"]
    tombstone = platform.latest(gone)
    assert tombstone["observation"] == "deleted" and tombstone["content"]
    with archive.engine.connect() as conn:
        versions = conn.execute(
            select(func.count()).where(records.c.native_id == gone)
        ).scalar_one()
    assert versions == 2  # the post itself is still there beside its tombstone
    assert platform.verified()


def test_a_rate_limit_is_waited_out(archive: Archive, harness: Harness) -> None:
    harness.publish("hello")
    harness.rate_limit_once()
    summary = Platform(archive, harness).run()
    assert summary.status == "ok", summary.errors
    assert summary.counts["new"] >= 1


def test_a_500_storm_fails_the_run_clearly_and_keeps_what_was_archived(
    archive: Archive, harness: Harness
) -> None:
    harness.publish("before the storm")
    platform = Platform(archive, harness)
    platform.run()
    before = platform.record_count()
    harness.publish("during the storm")
    harness.fail_listing(MAX_RETRIES + 1)
    stormy = platform.run()
    assert stormy.status == "failed"
    assert "500" in stormy.errors[0]["message"]
    assert platform.record_count() == before
    assert platform.verified()
    recovered = platform.run()
    assert recovered.status == "ok" and recovered.counts["new"] >= 1


def test_a_truncated_response_loses_nothing(archive: Archive, harness: Harness) -> None:
    harness.publish("first")
    platform = Platform(archive, harness)
    platform.run()
    harness.publish("second")
    harness.truncate_listing()
    summary = platform.run()
    if summary.status != "ok":  # retried or not, the run says what happened
        assert summary.errors and summary.errors[0]["message"]
    final = platform.run()
    assert final.status == "ok"
    assert platform.record_count() >= 2
    assert platform.verified()


def test_html_and_script_in_content_are_kept_raw_and_inert_in_text(
    archive: Archive, harness: Harness
) -> None:
    hostile = 'hi <script>alert("x")</script> <a href="javascript:alert(1)">link</a>'
    native_id = harness.publish(hostile)
    platform = Platform(archive, harness)
    platform.run()
    fields = platform.latest(native_id)
    assert "alert" in str(fields["raw"])  # the payload is kept exactly
    if harness.html_content:  # reduced to plain text: no markup survives
        assert "<script" not in fields["content"]["text"]
        assert "javascript:" not in fields["content"]["text"]
    else:  # plain text already: kept exactly as written (escaping is the renderer's job)
        assert fields["content"]["text"] == hostile


def test_secrets_never_land_in_records_or_the_catalogue(archive: Archive, harness: Harness) -> None:
    harness.publish("hello", image=png())
    harness.fail_listing(MAX_RETRIES + 1)  # error messages (with URLs) reach run rows
    platform = Platform(archive, harness)
    platform.run()
    platform.run()
    for key in archive.store.keys(""):
        data = archive.store.get(key)
        for secret in harness.secrets:
            assert secret.encode() not in data, f"{secret} found in {key}"
    with archive.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                text = repr(tuple(row))
                for secret in harness.secrets:
                    assert secret not in text, f"{secret} found in catalogue table {table.name}"


def test_media_is_kept_and_bombs_and_oversize_files_are_refused(
    archive: Archive, harness: Harness
) -> None:
    good = harness.publish("a picture", image=png(30, 20))
    harness.publish("a bomb", image=png(20000, 3000))
    harness.publish("too big", image=b"\x89PNG" + b"\x00" * (6 * 1024 * 1024))
    platform = Platform(archive, harness, max_media_bytes=5 * 1024 * 1024)
    summary = platform.run()
    assert summary.counts["new"] >= 3
    messages = " ".join(e["message"] for e in summary.errors)
    assert "pixel limit" in messages
    assert "5,242,880" in messages or "5242880" in messages
    media = platform.latest(good)["media"]
    assert media and media[0]["width"] == 30 and media[0]["height"] == 20
    assert platform.verified()


@pytest.mark.parametrize(
    "harness_class", [h for h in HARNESSES if h.raw_bytes], ids=lambda h: h.platform
)
def test_invalid_utf8_is_kept_losslessly(
    archive: Archive, harness_class: type[Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"<p>caf\xe9 \xff ok</p>"
    with FakeServer() as server:
        harness = harness_class(server, FakeClock())
        monkeypatch.setenv(harness.token_env, harness.env_value)
        native_id = harness.publish(body)
        platform = Platform(archive, harness)
        assert platform.run().status == "ok"
        raw = platform.latest(native_id)["raw"]
    assert harness.raw_text(raw).encode("utf-8", "surrogateescape") == body
    assert platform.verified()
