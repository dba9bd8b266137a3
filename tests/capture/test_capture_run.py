"""The capture framework end to end, with the separately installed demo connector."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.errors import UsageError
from archiver.records import Record, record_key
from connectors.base import Account
from connectors.registry import connector_names
from storage.catalogue.models import capture_runs, cursors, records
from tests.capture.conftest import (
    TOKEN,
    DemoPlatform,
    ctrl_c_at_second_page,
    png,
    the_run_failed_as_interrupted,
)
from tests.fakes import FakeClock

pytestmark = pytest.mark.usefixtures("demo_plugin")


def add_account(
    archive: Archive, platform: DemoPlatform, handle: str = "@org", **overrides
) -> Account:
    settings = {
        "base_url": platform.server.url,
        "token_env": "DEMO_TOKEN",
        "allow_media_hosts": ["127.0.0.1"],
        **overrides,
    }
    return AccountService(archive.engine, archive.clock).add("demo", handle, settings)


@pytest.fixture
def runner(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> CaptureRunner:
    monkeypatch.setenv("DEMO_TOKEN", TOKEN)
    clock = FakeClock()
    return CaptureRunner(
        archive, http_options={"clock": clock.now, "sleep": clock.sleep, "backoff_base": 0.01}
    )


def record_count(archive: Archive) -> int:
    with archive.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(records)).scalar_one()


def test_a_separately_installed_connector_is_listed(demo_plugin: Path) -> None:
    assert "demo" in connector_names()
    env_path = f"{demo_plugin}"
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {env_path!r}); "
            "from archiver.cli.main import main; sys.argv=['archiver','connectors','list','--json']; main()",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"name": "demo"' in listed.stdout
    assert "archiver_demo_connector" in listed.stdout


def test_capture_pages_save_the_cursor_and_rerun_adds_nothing(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    for n in range(1, 8):
        demo_platform.post(n, f"post {n}")
    account = add_account(archive, demo_platform)
    first = runner.run(account)
    assert first.status == "ok", first.errors
    assert first.counts["new"] == 7
    with archive.engine.connect() as conn:
        assert conn.execute(select(cursors.c.value)).scalar_one() == "6"
    again = runner.run(account)
    assert again.counts["new"] == 0
    assert record_count(archive) == 7


def test_a_crash_mid_run_then_rerun_gives_no_duplicates_and_no_gaps(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    for n in range(1, 11):
        demo_platform.post(n, f"post {n}")
    demo_platform.fail_after_pages = 2
    account = add_account(archive, demo_platform)
    crashed = runner.run(account)
    assert crashed.status == "failed"
    assert "RetriableError" in crashed.errors[0]["message"]
    assert crashed.counts["new"] == 6
    demo_platform.fail_after_pages = None
    resumed = runner.run(account)
    assert resumed.status == "ok"
    assert resumed.counts["new"] == 4
    with archive.engine.connect() as conn:
        ids = sorted(int(x) for x in conn.execute(select(records.c.native_id)).scalars())
    assert ids == list(range(1, 11))
    archive.checkpoint()
    assert archive.verify().ok


def test_ctrl_c_mid_run_keeps_whole_pages_and_ends_the_run_as_failed(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C between two pages: the run row says failed, not running for ever."""
    for n in range(1, 11):
        demo_platform.post(n, f"post {n}")
    account = add_account(archive, demo_platform)
    monkeypatch.setattr(archive.settings.ingest, "batch_size", 3)
    ctrl_c_at_second_page(runner, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        runner.run(account, reconcile=False)
    the_run_failed_as_interrupted(archive)
    assert record_count(archive) == 3
    archive.checkpoint()
    assert archive.verify().ok


def test_deletions_become_tombstones_with_evidence_and_edits_versions(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    demo_platform.post(1, "keep")
    demo_platform.post(2, "will be deleted")
    demo_platform.post(3, "will be edited")
    account = add_account(archive, demo_platform)
    runner.run(account)
    del demo_platform.items[2]
    demo_platform.items[3]["text"] = "edited text"
    second = runner.run(account)
    assert second.counts["deleted"] == 1
    assert second.counts["edited"] == 1
    with archive.engine.connect() as conn:
        row = conn.execute(select(records).where(records.c.observation == "deleted")).one()
    tombstone = Record.from_bytes(archive.store.get(record_key(row.record_id))).fields
    assert tombstone["content"]["status"] == 404
    assert "Record not found" in tombstone["content"]["body"]
    assert tombstone["native_id"] == "2"
    assert record_count(archive) == 5


def test_one_failing_account_never_stops_the_others(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    demo_platform.post(1, "hello")
    broken = add_account(archive, demo_platform, "@broken", token_env="UNSET_TOKEN_VAR")
    dead = add_account(archive, demo_platform, "@dead", base_url="http://127.0.0.1:9")
    good = add_account(archive, demo_platform, "@good")
    results = [runner.run(a) for a in (broken, dead, good)]
    assert [r.status for r in results] == ["fatal", "failed", "ok"]
    assert "UNSET_TOKEN_VAR is not set" in results[0].errors[0]["message"]
    assert results[2].counts["new"] == 1
    with archive.engine.connect() as conn:
        statuses = (
            conn.execute(select(capture_runs.c.status).order_by(capture_runs.c.id)).scalars().all()
        )
    assert statuses == ["fatal", "failed", "ok"]


def test_media_is_stored_with_metadata_and_bad_media_is_refused(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    demo_platform.post(1, "with a picture", image=png(40, 30))
    demo_platform.post(2, "pixel bomb", image=png(1, 1)[:16] + b"\x00" * 8)
    big = png(20000, 3000)  # 60 megapixels: over the guard, though the file is small
    demo_platform.post(3, "huge image", image=big)
    account = add_account(archive, demo_platform, max_media_bytes=2_000_000)
    summary = runner.run(account)
    assert summary.counts["new"] == 3
    assert summary.media == 1
    messages = " ".join(e["message"] for e in summary.errors)
    assert "pixel limit" in messages
    with archive.engine.connect() as conn:
        rid = conn.execute(
            select(records.c.record_id).where(records.c.native_id == "1")
        ).scalar_one()
    media = Record.from_bytes(archive.store.get(record_key(rid))).fields["media"]
    assert media[0]["width"] == 40 and media[0]["height"] == 30
    assert media[0]["metadata"]["format"] == "PNG"
    assert archive.store.exists(
        f"media/sha256/{media[0]['sha256'][:2]}/{media[0]['sha256'][2:4]}/{media[0]['sha256']}"
    )
    archive.checkpoint()
    assert archive.verify().ok


def test_oversized_media_is_refused_by_the_cap(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    demo_platform.post(1, "30 MB", image=b"\x89PNG" + b"\x00" * (30 * 1024 * 1024))
    summary = runner.run(add_account(archive, demo_platform, max_media_bytes=5 * 1024 * 1024))
    assert summary.counts["new"] == 1 and summary.media == 0
    assert any("5242880" in e["message"] or "cap" in e["message"].lower() for e in summary.errors)


def test_the_token_never_lands_in_records(
    archive: Archive, runner: CaptureRunner, demo_platform: DemoPlatform
) -> None:
    demo_platform.post(1, "hi")
    runner.run(add_account(archive, demo_platform))
    for key in archive.store.keys("records/"):
        assert TOKEN.encode() not in archive.store.get(key)


def test_unknown_connector_and_bad_settings_are_clear_errors(archive: Archive) -> None:
    service = AccountService(archive.engine, archive.clock)
    with pytest.raises(UsageError, match="no connector named 'myspace'"):
        service.add("myspace", "@x", {"base_url": "http://x"})
    with pytest.raises(UsageError, match="base_url"):
        service.add("demo", "@x", {"token_env": "X"})
