"""The daemon as a process, against a platform that serves slowly: SIGHUP picks up
a new account; SIGTERM ends the runs after their current item, releases the
leases and exits 0 within a bound; kill -9 in the middle of a capture and a
restart give no duplicates, no gaps, and `archiver verify` passes, the killed run
closed as abandoned; JSON logs go to daemon.log_file, one line per run, no token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select

from archiver.archive import Archive
from archiver.cli.main import cli
from archiver.clock import FixedClock
from archiver.setup import initialise
from config.settings import Settings
from storage.catalogue.models import accounts, audit_events, capture_runs
from storage.catalogue.scheduling import capture_leases
from tests.conftest import START, make_settings
from tests.daemon.conftest import (
    DAEMON_COMMAND,
    FAST_DAEMON,
    TOKEN,
    Platform,
    add_account,
    archived_versions,
    daemon_env,
    oracle_ids,
    refuse_token,
    wait_for,
    write_config,
)

SLOW = 0.05  # seconds per API request
SHUTDOWN_BOUND = 8.0


class DaemonProcess:
    def __init__(self, config: Path, log: Path, name: str | None = None) -> None:
        self.log = log
        command = [*DAEMON_COMMAND, "--config", str(config), "daemon"]
        if name:
            command += ["--name", name]
        self.handle = log.open("ab")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self.handle, env=daemon_env()
        )

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.handle.close()

    def kill(self) -> None:
        self.process.kill()
        self.wait(10)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if name is None or line.get("event") == name:
                lines.append(line)
        return lines


@pytest.fixture
def processes() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.kill()


def running_runs(conn: Connection) -> list[int]:
    return list(
        conn.execute(select(capture_runs.c.id).where(capture_runs.c.status == "running")).scalars()
    )


def setup_archive(tmp_path: Path, **daemon: Any) -> tuple[Settings, Archive, Path]:
    settings = make_settings(
        tmp_path, daemon={**FAST_DAEMON, "log_level": "INFO", **daemon},
        ingest={"batch_size": 10},
    )
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:officer")
    return settings, archive, write_config(tmp_path / "archiver.toml", settings)


def test_sighup_adds_an_account_and_sigterm_stops_cleanly_after_the_current_item(
    tmp_path: Path, platform: Platform, processes: list[DaemonProcess]
) -> None:
    settings, archive, config = setup_archive(tmp_path)
    quick = platform.new(statuses=5)
    add_account(archive, quick, "@first@fake.test")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    processes.append(daemon)
    wait_for(lambda: archived_versions(archive, "@first@fake.test"), timeout=20)

    slow = platform.new(statuses=200, delay=SLOW)
    expected = oracle_ids(tmp_path, slow, "@slow@fake.test")
    add_account(archive, slow, "@slow@fake.test", page_limit=10)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.events("reload"), timeout=10)
    wait_for(lambda: len(archived_versions(archive, "@slow@fake.test")) >= 20, timeout=20)

    asked = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(SHUTDOWN_BOUND + 5) == 0
    assert time.monotonic() - asked < SHUTDOWN_BOUND
    stop = daemon.events("daemon-stop")[-1]
    assert stop["graceful"] and stop["unfinished"] == []
    interrupted = [r for r in daemon.events("run") if r.get("interrupted")]
    assert [r["account"] for r in interrupted] == ["@slow@fake.test"]
    with archive.engine.connect() as conn:
        assert conn.execute(select(capture_leases)).all() == []
        statuses = conn.execute(select(capture_runs.c.status)).scalars().all()
    assert "running" not in statuses  # every run was finished and recorded
    part = archived_versions(archive, "@slow@fake.test")
    assert 0 < len(part) < len(expected) and set(part.values()) == {1}

    # Restarted, it carries on from the saved cursor: the rest, nothing twice.
    again = DaemonProcess(config, tmp_path / "daemon.log")
    processes.append(again)
    wait_for(lambda: set(archived_versions(archive, "@slow@fake.test")) == expected, timeout=40)
    again.signal(signal.SIGINT)
    assert again.wait(SHUTDOWN_BOUND + 5) == 0
    assert set(archived_versions(archive, "@slow@fake.test").values()) == {1}
    archive.close()


def test_kill_9_mid_capture_then_restart_no_duplicates_no_gaps(
    tmp_path: Path, platform: Platform, processes: list[DaemonProcess]
) -> None:
    settings, archive, config = setup_archive(tmp_path, lease_ttl=2)
    slow = platform.new(statuses=200, delay=SLOW)
    handle = "@killed@fake.test"
    expected = oracle_ids(tmp_path, slow, handle)
    add_account(archive, slow, handle, page_limit=10)
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    processes.append(daemon)
    wait_for(lambda: len(archived_versions(archive, handle)) >= 30, timeout=30)
    os.kill(daemon.process.pid, signal.SIGKILL)
    assert daemon.wait(10) == -signal.SIGKILL
    part = archived_versions(archive, handle)
    assert len(part) < len(expected)
    with archive.engine.connect() as conn:  # the dead holder's lease is still there
        assert [r.holder for r in conn.execute(select(capture_leases))] != []
        killed_runs = running_runs(conn)
    assert len(killed_runs) == 1  # the run the kill interrupted

    restarted = DaemonProcess(config, tmp_path / "daemon.log")
    processes.append(restarted)
    wait_for(lambda: set(archived_versions(archive, handle)) == expected, timeout=45)
    restarted.signal(signal.SIGTERM)
    assert restarted.wait(SHUTDOWN_BOUND + 5) == 0
    versions = archived_versions(archive, handle)
    assert set(versions) == expected and set(versions.values()) == {1}

    # The restart closed the killed run once it held the lease: failed, logged, audited.
    with archive.engine.connect() as conn:
        assert running_runs(conn) == []
        killed = conn.execute(
            select(capture_runs).where(capture_runs.c.id == killed_runs[0])
        ).one()
        audited = conn.execute(
            select(audit_events.c.params).where(audit_events.c.action == "capture-abandoned")
        ).scalars().all()
    assert killed.status == "failed" and killed.finished_at is not None
    assert killed.errors[0]["message"].startswith("abandoned: the process capturing it stopped")
    assert [e["run_ids"] for e in restarted.events("runs-abandoned")] == [killed_runs]
    assert [json.loads(params)["run_id"] for params in audited] == killed_runs
    archive.close()

    result = CliRunner().invoke(cli, ["--config", str(config), "verify"])
    assert result.exit_code == 0, result.output


def test_json_logs_go_to_the_configured_file_one_line_per_run_no_token(
    tmp_path: Path, platform: Platform, processes: list[DaemonProcess]
) -> None:
    settings, archive, config = setup_archive(tmp_path, log_file="logs/daemon.log")
    add_account(archive, platform.new(statuses=5), "@fine@fake.test")
    refused = platform.new(statuses=5)
    refuse_token(refused)  # its error quotes the token: the log must not
    add_account(archive, refused, "@refused@fake.test")
    daemon = DaemonProcess(config, tmp_path / "stderr.log")
    processes.append(daemon)
    log_file = settings.archive_dir / "logs" / "daemon.log"  # relative: under the archive
    wait_for(lambda: log_file.exists() and '"account-paused"' in log_file.read_text("utf-8"))
    wait_for(lambda: len(finished_run_ids(archive, "@fine@fake.test")) >= 3)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(SHUTDOWN_BOUND + 5) == 0

    text = log_file.read_text(encoding="utf-8")
    lines = [json.loads(raw) for raw in text.splitlines()]  # every line is one JSON object
    run_ids = [line["run_id"] for line in lines if line.get("event") == "run"]
    with archive.engine.connect() as conn:
        recorded = conn.execute(select(capture_runs.c.id)).scalars().all()
    assert sorted(run_ids) == sorted(recorded)  # one line per run, none missing
    assert {"daemon-start", "daemon-stop"} <= {line.get("event") for line in lines}
    refusal = next(line for line in lines if line.get("event") == "account-paused")
    assert "HTTP 403" in refusal["reason"] and "[REDACTED]" in refusal["reason"]
    assert TOKEN not in text
    assert daemon.events() == []  # nothing left on stderr
    archive.close()


def finished_run_ids(archive: Archive, handle: str) -> list[int]:
    with archive.engine.connect() as conn:
        return list(
            conn.execute(
                select(capture_runs.c.id)
                .join(accounts, accounts.c.id == capture_runs.c.account_id)
                .where(accounts.c.handle == handle, capture_runs.c.status == "ok")
            ).scalars()
        )
