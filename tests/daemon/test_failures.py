"""Failures under the daemon: expired or refused credentials pause an account
(reported once, not hammered, resumed by an operator; the others carry on); a
failing platform backs off and opens the circuit breaker; stories failing past
their lifetime report the missed window once; a slow or failing account never
holds up the others."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.cli.main import cli
from archiver.clock import FixedClock
from archiver.daemon import Daemon
from archiver.daemon.logs import JsonFormatter
from archiver.daemon.status import daemon_status
from archiver.setup import initialise
from config.settings import Settings
from storage.catalogue.models import audit_events
from tests.conftest import START
from tests.daemon.conftest import (
    TOKEN,
    TOKEN_ENV,
    Platform,
    add_account,
    archived_versions,
    refuse_token,
    wait_for,
    write_config,
)
from tests.fakes.server import FakeServer, Reply

NO_RETRIES = {"max_retries": 0}


def open_archive(settings: Settings) -> Archive:
    initialise(settings)
    return Archive.open(settings, clock=FixedClock(START), actor="test:officer")


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict]:
    return [
        {**r.fields, "level": r.levelname}
        for r in caplog.records
        if getattr(r, "event", None) == name
    ]


def audited_actions(archive: Archive) -> list[str]:
    with archive.engine.connect() as conn:
        return list(conn.execute(select(audit_events.c.action)).scalars())


def status_rows(config: Path) -> list[dict]:
    """`archiver status --json`'s per-account rows, as an operator would read them."""
    status = CliRunner().invoke(cli, ["--config", str(config), "status", "--json"])
    assert status.exit_code == 0, status.output
    return json.loads(status.output)["daemon"]["accounts"]


def test_expired_credentials_pause_the_account_once_until_resumed(
    sqlite_daemon_settings: Callable[..., Settings],
    platform: Platform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = sqlite_daemon_settings()
    archive = open_archive(settings)
    fake = platform.new(statuses=3)
    account = add_account(archive, fake, "@expired@fake.test")
    monkeypatch.setenv(TOKEN_ENV, "an-expired-token")
    daemon = Daemon(archive, holder="test-fatal", http_options=NO_RETRIES)

    summary = daemon.run_account(account.id)
    assert summary is not None and summary.status == "fatal"
    requests_when_paused = len(fake.server.requests)
    for _ in range(3):  # the schedule keeps firing: nothing reaches the platform
        archive.clock.advance(hours=1)
        assert daemon.run_account(account.id) is None
    assert len(fake.server.requests) == requests_when_paused

    paused = events(caplog, "account-paused")
    assert len(paused) == 1 and paused[0]["level"] == "ERROR"
    assert "401" in paused[0]["reason"] or "token" in paused[0]["reason"].lower()
    assert f"archiver schedule resume {account.id}" in paused[0]["fix"]
    assert TOKEN not in json.dumps(paused, default=str)
    assert audited_actions(archive).count("account-pause") == 1

    config = write_config(tmp_path / "archiver.toml", settings)
    row = status_rows(config)[0]
    assert row["state"] == "paused" and row["paused_reason"]
    assert row["last_error"] and row["last_success_at"] is None

    # The operator fixes the token and resumes: the next run captures.
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    resumed = CliRunner().invoke(cli, ["--config", str(config), "schedule", "resume", str(account.id)])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed (was paused)" in resumed.output
    summary = daemon.run_account(account.id)
    assert summary is not None and summary.status == "ok"
    assert archived_versions(archive, "@expired@fake.test")
    archive.close()


def test_a_failing_platform_backs_off_then_opens_the_breaker(
    sqlite_daemon_settings: Callable[..., Settings],
    platform: Platform,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = sqlite_daemon_settings(backoff_base=60, breaker_threshold=3, breaker_cooldown="1h")
    archive = open_archive(settings)
    fake = platform.new(statuses=3)
    fake.fail(1000, status=503)
    account = add_account(archive, fake, "@down@fake.test")
    daemon = Daemon(archive, holder="test-backoff", http_options=NO_RETRIES)

    assert daemon.run_account(account.id).status == "failed"
    assert daemon.run_account(account.id) is None  # within the backoff: skipped, no request
    archive.clock.advance(seconds=61)
    assert daemon.run_account(account.id).status == "failed"  # retried after 60 s
    archive.clock.advance(seconds=121)  # then 120 s
    assert daemon.run_account(account.id).status == "failed"  # third: the breaker opens
    archive.clock.advance(minutes=30)
    assert daemon.run_account(account.id) is None
    opened = events(caplog, "breaker-open")
    assert len(opened) == 1 and opened[0]["failures"] == 3
    runs = events(caplog, "run")
    assert [r["state"] for r in runs] == ["backoff", "backoff", "open"]
    assert all(r["status"] == "failed" and "503" in r["error"] for r in runs)

    fake._faults.clear()  # the platform recovers; the trial run after the cooldown closes it
    archive.clock.advance(minutes=31)
    assert daemon.run_account(account.id).status == "ok"
    assert events(caplog, "run")[-1]["state"] == "ok"
    archive.close()


def test_one_slow_account_never_delays_the_others(
    sqlite_daemon_settings: Callable[..., Settings], platform: Platform
) -> None:
    settings = sqlite_daemon_settings(workers=2)
    archive = open_archive(settings)
    slow = platform.new(statuses=30, delay=1.0)
    quick = [platform.new(statuses=5) for _ in range(3)]
    add_account(archive, slow, "@slow@fake.test")
    for n, fake in enumerate(quick):
        add_account(archive, fake, f"@quick{n}@fake.test")
    daemon = Daemon(archive, holder="test-isolation")
    started = time.monotonic()
    daemon.start()
    try:
        wait_for(lambda: all(archived_versions(archive, f"@quick{n}@fake.test") for n in range(3)),
                 timeout=15)
        quick_done = time.monotonic() - started
        assert not archived_versions(archive, "@slow@fake.test")  # still on its first pages
    finally:
        daemon.shutdown(timeout=10)
    assert quick_done < 10
    archive.close()


def test_every_run_is_one_json_log_line(
    sqlite_daemon_settings: Callable[..., Settings], platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    archive = open_archive(sqlite_daemon_settings())
    account = add_account(archive, platform.new(statuses=4), "@logged@fake.test")
    Daemon(archive, holder="test-logs").run_account(account.id)
    record = next(r for r in caplog.records if getattr(r, "event", None) == "run")
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "run" and line["status"] == "ok" and line["job"] == "capture"
    assert line["account_id"] == account.id and line["new"] >= 4 and line["holder"] == "test-logs"
    assert {"time", "level", "run_id", "seconds", "state"} <= set(line)
    archive.close()


def test_a_refused_token_pauses_its_account_once_and_the_others_carry_on(
    sqlite_daemon_settings: Callable[..., Settings],
    platform: Platform,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = sqlite_daemon_settings()
    archive = open_archive(settings)
    refused = platform.new(statuses=3)
    refuse_token(refused)  # HTTP 403: revoked, or without the scopes; the token is sent
    bad = add_account(archive, refused, "@refused@fake.test")
    fine = [platform.new(statuses=3) for _ in range(2)]
    good = [add_account(archive, fake, f"@fine{n}@fake.test") for n, fake in enumerate(fine)]
    daemon = Daemon(archive, holder="test-refused", http_options=NO_RETRIES)
    daemon.start()
    try:
        wait_for(lambda: events(caplog, "account-paused"))
        requests_when_paused = len(refused.server.requests)
        runs_then = len(events(caplog, "run"))
        # Each other account runs twice more on its 1 s schedule; the refused one is not asked.
        wait_for(lambda: len(events(caplog, "run")) >= runs_then + 2 * len(good), timeout=15)
        assert len(refused.server.requests) == requests_when_paused
    finally:
        assert daemon.shutdown(timeout=10)

    paused = events(caplog, "account-paused")
    assert len(paused) == 1 and paused[0]["account_id"] == bad.id
    assert paused[0]["level"] == "ERROR" and "HTTP 403" in paused[0]["reason"]
    assert "scopes" in paused[0]["reason"] and f"schedule resume {bad.id}" in paused[0]["fix"]
    lines = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert TOKEN not in lines and "[REDACTED]" in lines
    runs = events(caplog, "run")
    assert [r["status"] for r in runs if r["account_id"] == bad.id] == ["fatal"]
    assert {r["status"] for r in runs if r["account_id"] != bad.id} == {"ok"}
    for account in good:
        assert archived_versions(archive, account.handle)
    assert audited_actions(archive).count("account-pause") == 1

    states = {row["id"]: row for row in status_rows(write_config(tmp_path / "archiver.toml", settings))}
    assert states[bad.id]["state"] == "paused" and "403" in states[bad.id]["paused_reason"]
    assert all(states[account.id]["state"] == "ok" for account in good)
    archive.close()


def test_stories_failing_past_their_lifetime_report_the_missed_window_once(
    sqlite_daemon_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    archive = open_archive(sqlite_daemon_settings(ephemeral_lifetime="24h"))
    with FakeServer() as graph:
        graph.add("GET", re.compile(r"/.*"), Reply(503))  # the platform is down for days
        stories = AccountService(archive.engine, archive.clock).add(
            "instagram", "@stories",
            {"base_url": graph.url, "token_env": TOKEN_ENV, "ig_user_id": "1784"},
        )
        daemon = Daemon(archive, holder="test-stories", http_options=NO_RETRIES)
        statuses = []
        for _ in range(7):  # a try every 6 h (past any backoff or breaker cooldown)
            summary = daemon.run_account(stories.id)
            statuses.append(summary.status if summary else None)
            archive.clock.advance(hours=6, seconds=1)
    assert statuses == ["failed"] * 7
    missed = events(caplog, "ephemeral-window-missed")
    assert len(missed) == 1 and missed[0]["account_id"] == stories.id
    assert missed[0]["level"] == "WARNING" and missed[0]["lifetime_seconds"] == 86400
    runs = [r["run_id"] for r in events(caplog, "run")]
    assert runs.index(missed[0]["run_id"]) == 4  # the try at 24 h 4 s, the first past 24 h
    row = next(r for r in daemon_status(archive)["accounts"] if r["id"] == stories.id)
    assert row["missed_window"] and row["missed_windows"] == 1
    archive.close()
