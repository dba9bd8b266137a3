"""Capture leases on SQLite and PostgreSQL: one holder at a time, renewal, release,
and a crashed holder's lease expiring so another daemon takes over (and closes the
run the crashed holder left `running`)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.run import ABANDONED
from archiver.clock import FixedClock
from archiver.daemon import Daemon
from archiver.daemon.leases import LeaseManager, current_leases
from storage.catalogue.db import write_transaction
from storage.catalogue.models import capture_runs
from tests.daemon.conftest import Platform, add_account
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer

TTL = 30.0


def an_account(archive: Archive) -> int:
    with FakeServer() as server:
        return add_account(archive, FakeMastodon(server, "t"), "@leased@fake.test").id


def test_one_holder_at_a_time_until_release(archive: Archive, clock: FixedClock) -> None:
    account_id = an_account(archive)
    first = LeaseManager(archive.engine, clock, "daemon-a", TTL)
    second = LeaseManager(archive.engine, clock, "daemon-b", TTL)
    assert first.acquire(account_id)
    assert first.acquire(account_id)  # ours already: taken again (a restart with a fixed name)
    assert not second.acquire(account_id)
    assert current_leases(archive.engine)[account_id].holder == "daemon-a"
    first.release(account_id)
    assert account_id not in current_leases(archive.engine)
    assert second.acquire(account_id)
    assert second.held == [account_id]


def test_a_crashed_holders_lease_expires_and_another_takes_over(
    archive: Archive, clock: FixedClock
) -> None:
    account_id = an_account(archive)
    crashed = LeaseManager(archive.engine, clock, "daemon-crashed", TTL)
    survivor = LeaseManager(archive.engine, clock, "daemon-survivor", TTL)
    assert crashed.acquire(account_id)
    clock.advance(seconds=TTL - 1)
    assert not survivor.acquire(account_id)
    clock.advance(seconds=2)  # no renewal came: the lease ran out
    assert survivor.acquire(account_id)
    lease = current_leases(archive.engine)[account_id]
    assert lease.holder == "daemon-survivor" and lease.expires_at == clock.now() + timedelta(
        seconds=TTL
    )
    # The old holder, back from a stall, finds its lease gone when it renews.
    assert crashed.renew() == [account_id]
    assert crashed.held == []


def test_renewal_keeps_a_long_capture_leased(archive: Archive, clock: FixedClock) -> None:
    account_id = an_account(archive)
    holder = LeaseManager(archive.engine, clock, "daemon-a", TTL)
    other = LeaseManager(archive.engine, clock, "daemon-b", TTL)
    assert holder.acquire(account_id)
    for _ in range(5):
        clock.advance(seconds=TTL / 3)
        assert holder.renew() == []
    assert not other.acquire(account_id)
    assert holder.release_all() == 1


def test_racing_daemons_never_both_win(archive: Archive, clock: FixedClock) -> None:
    account_id = an_account(archive)
    managers = [LeaseManager(archive.engine, clock, f"daemon-{n}", TTL) for n in range(6)]
    start = threading.Barrier(len(managers))
    won: list[str] = []

    def race(manager: LeaseManager) -> None:
        start.wait()
        if manager.acquire(account_id):
            won.append(manager.holder)

    threads = [threading.Thread(target=race, args=(m,)) for m in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert current_leases(archive.engine)[account_id].holder == won[0]


def test_a_renewal_racing_a_release_is_not_a_lost_lease(
    archive: Archive, clock: FixedClock
) -> None:
    account_id = an_account(archive)

    class ReleasingClock:
        """Releases the lease at the moment renew() reads the time: after it listed
        the held leases, before its UPDATE (the race a worker thread can win)."""

        armed = False

        def now(self):  # type: ignore[no-untyped-def]
            if self.armed:
                self.armed = False
                holder.release(account_id)
            return clock.now()

    racing = ReleasingClock()
    holder = LeaseManager(archive.engine, racing, "daemon-a", TTL)  # type: ignore[arg-type]
    assert holder.acquire(account_id)
    racing.armed = True
    assert holder.renew() == []
    assert holder.held == []


def test_only_the_next_lease_holder_closes_a_killed_holders_running_run(
    archive: Archive, clock: FixedClock, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    account = add_account(archive, platform.new(statuses=3), "@left@fake.test")
    killed = LeaseManager(archive.engine, clock, "daemon-killed", TTL)
    assert killed.acquire(account.id)
    with write_transaction(archive.engine) as conn:  # what kill -9 mid-run leaves behind
        left_over = conn.execute(
            capture_runs.insert().values(
                account_id=account.id, connector="mastodon", started_at=clock.now(),
                status="running", errors=[],
            )
        ).inserted_primary_key[0]
    daemon = Daemon(archive, holder="daemon-next")

    def status_of(run_id: int) -> str:
        with archive.engine.connect() as conn:
            return conn.execute(
                select(capture_runs.c.status).where(capture_runs.c.id == run_id)
            ).scalar_one()

    assert daemon.run_account(account.id) is None  # the lease is still live: maybe running
    assert status_of(left_over) == "running"
    clock.advance(seconds=TTL + 1)
    summary = daemon.run_account(account.id)
    assert summary is not None and summary.status == "ok"
    assert status_of(left_over) == "failed" and status_of(summary.run_id) == "ok"
    assert daemon.run_account(account.id) is not None  # nothing left over: no second report
    reported = [r.fields for r in caplog.records if getattr(r, "event", None) == "runs-abandoned"]
    assert reported == [
        {"account_id": account.id, "run_ids": [left_over], "reason": ABANDONED}
    ]
    with archive.engine.connect() as conn:
        audited = [
            (e.actor, json.loads(e.params)) for e in archive.audit.events(conn, "capture-abandoned")
        ]
    assert audited == [
        (
            "daemon:daemon-next",
            {"run_id": left_over, "account_id": account.id, "status": "failed",
             "reason": ABANDONED},
        )
    ]
