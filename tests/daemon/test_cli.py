"""The daemon's commands and status fields, through the CLI: `archiver status` (table
and --json), `archiver schedule list/set/pause/resume`, `archiver spool status/drain`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.cli.main import cli
from archiver.clock import FixedClock, SystemClock
from archiver.daemon import Daemon
from archiver.daemon.leases import LeaseManager, current_leases, holding
from archiver.daemon.schedules import ScheduleService
from archiver.daemon.status import daemon_status
from archiver.errors import UsageError
from archiver.setup import initialise
from config.settings import Settings
from storage.catalogue.models import capture_runs
from tests.conftest import START
from tests.daemon.conftest import Platform, add_account, write_config


@pytest.fixture
def setup(
    sqlite_daemon_settings: Callable[..., Settings], platform: Platform, tmp_path: Path
) -> tuple[Archive, Path, int]:
    settings = sqlite_daemon_settings(reconcile_interval="6h")
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:officer")
    account = add_account(archive, platform.new(statuses=6), "@cli@fake.test")
    return archive, write_config(tmp_path / "archiver.toml", settings), account.id


def invoke(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_each_accounts_capture_state(setup: tuple[Archive, Path, int]) -> None:
    archive, config, account_id = setup
    daemon = Daemon(archive, holder="test-status")
    daemon.start()
    try:
        daemon.run_account(account_id)
    finally:
        daemon.shutdown(timeout=5)
    summary = json.loads(invoke(config, "status", "--json"))
    row = summary["daemon"]["accounts"][0]
    assert row["id"] == account_id and row["state"] == "ok"
    assert row["last_success_at"] and row["last_error"] is None
    assert row["next_run_at"] and row["next_reconcile_at"]
    assert row["records_captured"] >= 6 and row["last_holder"] == "test-status"
    assert row["schedule"]["capture"] == "every 1s" and row["lease"] is None
    assert summary["spool"]["objects"] == 0 and summary["spool"]["enabled"] is False
    assert summary["index"]["lag"] >= 0 and "last_checkpoint" in summary

    table = invoke(config, "status")
    assert "spool     0 object(s)" in table and "@cli@fake" in table and " ok " in table
    archive.close()


def test_schedule_commands(setup: tuple[Archive, Path, int]) -> None:
    archive, config, account_id = setup
    assert "SIGHUP" in invoke(
        config, "schedule", "set", str(account_id), "--every", "2h", "--jitter", "5m"
    )
    own = ScheduleService(archive.engine, archive.clock).get(account_id)
    assert own["capture_interval"] == 7200 and own["capture_jitter"] == 300
    listed = json.loads(invoke(config, "schedule", "list", "--json"))
    assert listed[0]["schedule"]["capture"] == "every 2h ±5m"

    invoke(config, "schedule", "pause", "@cli@fake.test", "--reason", "legal review")
    assert Daemon(archive, holder="t").run_account(account_id) is None
    row = json.loads(invoke(config, "status", "--json"))["daemon"]["accounts"][0]
    assert row["state"] == "paused" and row["paused_reason"] == "legal review"
    assert "resumed (was paused)" in invoke(config, "schedule", "resume", str(account_id))
    invoke(config, "schedule", "set", str(account_id), "--default")
    assert ScheduleService(archive.engine, archive.clock).get(account_id) is None

    bad = CliRunner().invoke(
        cli, ["--config", str(config), "schedule", "set", str(account_id), "--cron", "every day"]
    )
    assert isinstance(bad.exception, UsageError) and "5 fields" in str(bad.exception)
    archive.close()


def test_spool_commands_on_an_empty_spool(setup: tuple[Archive, Path, int]) -> None:
    _, config, _ = setup
    assert "0 object(s)" in invoke(config, "spool", "status")
    assert "spool is empty" in invoke(config, "spool", "drain")


def test_an_ephemeral_account_shows_its_capped_schedule_and_a_missed_window(
    setup: tuple[Archive, Path, int],
) -> None:
    archive, _, _ = setup
    stories = AccountService(archive.engine, archive.clock).add(
        "instagram", "@stories", {"base_url": "http://127.0.0.1:9", "ig_user_id": "1784"}
    )
    ScheduleService(archive.engine, archive.clock).set(stories.id, interval=86400)
    Daemon(archive, holder="t").health.ensure([stories.id])  # the daemon has seen it

    def row() -> dict:
        return next(r for r in daemon_status(archive)["accounts"] if r["id"] == stories.id)

    assert row()["ephemeral"] and row()["schedule"]["interval_seconds"] == 14400
    assert "capped" in row()["schedule"]["note"] and not row()["missed_window"]
    archive.clock.advance(hours=25)  # nothing captured for longer than a story lives
    assert row()["missed_window"] and row()["state"] == "ok"
    archive.close()


def test_a_hand_run_capture_leaves_an_account_a_daemon_is_capturing(
    sqlite_daemon_settings: Callable[..., Settings], platform: Platform, tmp_path: Path
) -> None:
    """`archiver capture` takes each account's lease like a daemon: an account a
    daemon holds is skipped with a word saying who has it (two captures of one
    account would each take the other's run for abandoned), the others are
    captured, and no lease of its own is left behind."""
    settings = sqlite_daemon_settings()
    initialise(settings)
    archive = Archive.open(settings, clock=SystemClock(), actor="test:officer")
    busy = add_account(archive, platform.new(statuses=3), "@busy@fake.test")
    free = add_account(archive, platform.new(statuses=4), "@free@fake.test")
    daemon = LeaseManager(archive.engine, SystemClock(), "daemon-elsewhere", 600)
    assert daemon.acquire(busy.id)
    config = write_config(tmp_path / "archiver.toml", settings)
    result = CliRunner().invoke(cli, ["--config", str(config), "capture"])
    assert result.exit_code == 0, result.output
    assert "skipped mastodon @busy@fake.test: daemon-elsewhere is capturing it now" in result.output
    with archive.engine.connect() as conn:
        runs = conn.execute(select(capture_runs.c.account_id, capture_runs.c.status)).all()
    assert runs == [(free.id, "ok")]
    leases = current_leases(archive.engine)
    assert list(leases) == [busy.id] and leases[busy.id].holder == "daemon-elsewhere"


def test_a_held_lease_is_renewed_while_the_capture_runs(
    archive: Archive, platform: Platform
) -> None:
    account = add_account(archive, platform.new(), "@long@fake.test").id
    clock = FixedClock(START)
    mine = LeaseManager(archive.engine, clock, "capture:by-hand", 0.3)
    other = LeaseManager(archive.engine, clock, "daemon-elsewhere", 0.3)
    with holding(mine, account) as held:
        assert held
        clock.advance(seconds=1)  # past the ttl: only a renewal keeps the lease
        deadline = time.monotonic() + 10
        while current_leases(archive.engine)[account].expires_at <= clock.now():
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)
        assert not other.acquire(account)
        with holding(other, account) as also:
            assert not also
    assert current_leases(archive.engine) == {}
    assert other.acquire(account)
