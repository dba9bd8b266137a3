"""Two daemon processes sharing one PostgreSQL catalogue (and the archive directory)
capture a set of accounts on a slow platform: leases keep them off each other's
accounts, so no account is ever captured by both at once, and every item the
platform served is archived exactly once."""

from __future__ import annotations

import signal
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.setup import initialise
from storage.catalogue.models import capture_runs
from storage.catalogue.scheduling import capture_leases
from tests.conftest import START, make_settings
from tests.daemon.conftest import (
    FAST_DAEMON,
    Platform,
    add_account,
    archived_versions,
    oracle_ids,
    wait_for,
    write_config,
)
from tests.daemon.test_process import DaemonProcess
from tests.support import postgres

ACCOUNTS = 6


@pytest.fixture
def postgres_url(postgres_reason: str | None) -> Iterator[str]:
    if postgres_reason:
        pytest.skip(postgres_reason)
    with postgres.fresh_database() as url:
        yield url


def test_two_daemons_share_the_accounts_without_double_capture(
    tmp_path: Path, postgres_url: str, platform: Platform
) -> None:
    settings = make_settings(
        tmp_path, postgres_url, daemon={**FAST_DAEMON, "workers": 2},
        ingest={"batch_size": 10},
    )
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:officer")
    fakes = [platform.new(statuses=60, delay=0.02) for _ in range(ACCOUNTS)]
    handles = [f"@shared{n}@fake.test" for n in range(ACCOUNTS)]
    for fake, handle in zip(fakes, handles, strict=True):
        add_account(archive, fake, handle, page_limit=10)
    config = write_config(tmp_path / "archiver.toml", settings)

    daemons = [
        DaemonProcess(config, tmp_path / f"daemon-{name}.log", name=f"daemon-{name}")
        for name in ("a", "b")
    ]
    def finished_ok() -> set[int]:
        with archive.engine.connect() as conn:
            return set(conn.execute(
                select(capture_runs.c.account_id).where(capture_runs.c.status == "ok")
            ).scalars())

    try:
        wait_for(lambda: len(finished_ok()) == ACCOUNTS, timeout=40)
        for fake in fakes:  # more comes in while both keep capturing
            fake.post_status("<p>posted while two daemons run</p>")
        expected = {h: oracle_ids(tmp_path, f, h) for f, h in zip(fakes, handles, strict=True)}
        wait_for(
            lambda: all(set(archived_versions(archive, h)) == expected[h] for h in handles),
            timeout=30,
        )
    finally:
        for daemon in daemons:
            daemon.signal(signal.SIGTERM)
        codes = [daemon.wait(20) for daemon in daemons]
    assert codes == [0, 0], "\n".join(d.log.read_text(encoding="utf-8")[-4000:] for d in daemons)
    for handle in handles:
        versions = archived_versions(archive, handle)
        assert set(versions) == expected[handle]
        assert set(versions.values()) == {1}, handle

    holders = {run["holder"] for d in daemons for run in d.events("run")}
    assert holders == {"daemon-a", "daemon-b"}  # both worked, on different accounts at a time
    with archive.engine.connect() as conn:
        runs = conn.execute(
            select(capture_runs.c.account_id, capture_runs.c.started_at, capture_runs.c.finished_at)
            .order_by(capture_runs.c.started_at)
        ).all()
        assert conn.execute(select(capture_leases)).all() == []
    by_account = defaultdict(list)
    for run in runs:
        by_account[run.account_id].append(run)
    for account_runs in by_account.values():
        for earlier, later in zip(account_runs, account_runs[1:], strict=False):
            assert earlier.finished_at <= later.started_at  # never two at once
    archive.checkpoint()
    assert archive.verify().ok
    archive.close()
