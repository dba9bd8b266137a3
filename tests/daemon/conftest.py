"""Fixtures of the daemon tests: fake Mastodon instances over real HTTP, accounts
aimed at them, an oracle capture to compare with, and daemon settings with short
intervals."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.clock import FixedClock
from archiver.setup import initialise
from config.settings import Settings
from connectors.base import Account
from storage.catalogue.models import records
from tests.conftest import START, make_settings
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer, RecordedRequest, Reply

TOKEN = "daemon-test-token-4b1d"
TOKEN_ENV = "ARCHIVER_TEST_DAEMON_TOKEN"
REPO = Path(__file__).resolve().parents[2]

# Intervals short enough for tests; the daemon's own defaults are minutes and hours.
FAST_DAEMON: dict[str, Any] = {
    "capture_interval": 1,
    "capture_jitter": 0,
    "reconcile_interval": 0,
    "checkpoint_interval": 1,
    "index_interval": 1,
    "spool_drain_interval": 1,
    "backoff_base": 60,
    "lease_ttl": 3,
    "shutdown_timeout": 10,
    "workers": 3,
}


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


class Platform:
    """Fake Mastodon instances, one per account, over real HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.instances: list[FakeMastodon] = []

    def new(self, statuses: int = 0, delay: float = 0.0) -> FakeMastodon:
        server = FakeServer().start()
        fake = FakeMastodon(server, TOKEN)
        for n in range(statuses):
            fake.post_status(f"<p>Announcement {n}: branch hours and rates</p>")
        if delay:
            slow_down(fake, delay)
        self.instances.append(fake)
        return fake

    def stop(self) -> None:
        for fake in self.instances:
            fake.server.stop()


def slow_down(fake: FakeMastodon, seconds: float) -> None:
    """Every API reply waits `seconds` first: a platform that serves slowly."""
    handle = fake._handle

    def slow(request: RecordedRequest) -> Reply:
        time.sleep(seconds)
        return handle(request)

    fake.server.add("GET", re.compile(r"/api/.*"), slow)


def refuse_token(fake: FakeMastodon) -> None:
    """Every API request is refused with HTTP 403 (a token revoked or without the
    scopes), the reply quoting the token it was given, so a leak of it would show."""

    def refuse(request: RecordedRequest) -> Reply:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        message = f"This action is outside the authorized scopes of token {presented}"
        return Reply.json({"error": message}, status=403)

    fake.server.add("GET", re.compile(r"/api/.*"), refuse)


@pytest.fixture
def platform() -> Iterator[Platform]:
    made = Platform()
    yield made
    made.stop()


def add_account(archive: Archive, fake: FakeMastodon, handle: str, **extra: Any) -> Account:
    return AccountService(archive.engine, archive.clock).add(
        "mastodon",
        handle,
        {"base_url": fake.server.url, "token_env": TOKEN_ENV, "allow_media_hosts": ["127.0.0.1"],
         **extra},
    )


def oracle_ids(tmp_path: Path, fake: FakeMastodon, handle: str) -> set[str]:
    """What a plain, uninterrupted capture of the platform archives: the native ids."""
    settings = make_settings(tmp_path / f"oracle-{handle.strip('@').replace('@', '-')}")
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:oracle")
    try:
        account = add_account(archive, fake, handle)
        summary = CaptureRunner(archive).run(account, reconcile=False)
        assert summary.status == "ok", summary.errors
        with archive.engine.connect() as conn:
            return set(conn.execute(select(records.c.native_id)).scalars())
    finally:
        archive.close()


def archived_versions(archive: Archive, handle: str) -> dict[str, int]:
    """native id -> how many records the archive holds for it."""
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.native_id, func.count())
            .where(records.c.account == handle)
            .group_by(records.c.native_id)
        ).all()
    return {row[0]: row[1] for row in rows}


@pytest.fixture
def daemon_settings(tmp_path: Path, catalogue_url: str) -> Callable[..., Settings]:
    def build(**daemon: Any) -> Settings:
        return make_settings(
            tmp_path, catalogue_url, daemon={**FAST_DAEMON, **daemon}, ingest={"batch_size": 10}
        )

    return build


@pytest.fixture
def sqlite_daemon_settings(tmp_path: Path) -> Callable[..., Settings]:
    """daemon_settings on SQLite only, for tests where the catalogue's dialect adds
    nothing (the lease, scheduling and two-daemon tests run on PostgreSQL too)."""

    def build(**daemon: Any) -> Settings:
        return make_settings(tmp_path, daemon={**FAST_DAEMON, **daemon}, ingest={"batch_size": 10})

    return build


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def write_config(path: Path, settings: Settings) -> Path:
    """A TOML config equivalent to `settings` (for daemon subprocesses)."""
    lines = [f'[archive]\ndir = "{settings.archive.dir}"', "[catalogue]"]
    lines.append(f'url = "{settings.catalogue_url}"')
    lines.append(f"[ingest]\nbatch_size = {settings.ingest.batch_size}")
    lines.append("[daemon]")
    for key, value in settings.daemon.model_dump(mode="json").items():
        if value is None:
            continue
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def daemon_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env[TOKEN_ENV] = TOKEN
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


DAEMON_COMMAND = [sys.executable, "-m", "archiver.cli"]
