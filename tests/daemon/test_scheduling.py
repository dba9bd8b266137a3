"""The daemon in-process with its real scheduler: jobs in the catalogue's job store,
reconciled with the accounts on reload, job state kept across restarts, captures
and housekeeping running on short intervals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.clock import FixedClock
from archiver.daemon import Daemon
from archiver.daemon.schedules import ScheduleService
from archiver.setup import initialise
from config.settings import Settings
from storage.catalogue.models import checkpoints
from storage.catalogue.scheduling import daemon_jobs
from tests.conftest import START
from tests.daemon.conftest import Platform, add_account, archived_versions, wait_for


def open_archive(settings: Settings) -> Archive:
    initialise(settings)
    return Archive.open(settings, clock=FixedClock(START), actor="test:officer")


def job_rows(archive: Archive) -> dict[str, float | None]:
    with archive.engine.connect() as conn:
        return dict(conn.execute(select(daemon_jobs.c.id, daemon_jobs.c.next_run_time)).all())


def test_jobs_follow_the_accounts_and_keep_their_state_across_restarts(
    daemon_settings: Callable[..., Settings], platform: Platform
) -> None:
    settings = daemon_settings(capture_interval="1h", reconcile_interval="6h")
    archive = open_archive(settings)
    fake = platform.new()
    first = add_account(archive, fake, "@first@fake.test")
    second = add_account(archive, fake, "@second@fake.test")
    daemon = Daemon(archive, holder="test-a")
    report = daemon.start()
    try:
        assert sorted(report.added) == sorted(
            [f"capture:{first.id}", f"reconcile:{first.id}", f"capture:{second.id}",
             f"reconcile:{second.id}", "checkpoint", "maintenance", "index"]
        )
        stored = job_rows(archive)
        assert set(stored) == {f"capture:{first.id}", f"reconcile:{first.id}",
                               f"capture:{second.id}", f"reconcile:{second.id}",
                               "checkpoint", "maintenance"}  # index is per daemon (memory)
        # Reconcile with nothing changed: everything kept, next run times untouched.
        again = daemon.sync_jobs()
        assert (again.added, again.rescheduled, again.removed) == ([], [], [])
        assert job_rows(archive) == stored

        # A removed account loses its jobs, a new one gets them, a rescheduled one moves.
        AccountService(archive.engine, archive.clock).remove(str(second.id))
        third = add_account(archive, fake, "@third@fake.test")
        ScheduleService(archive.engine, archive.clock).set(first.id, interval=7200)
        report = daemon.sync_jobs()
        assert sorted(report.removed) == [f"capture:{second.id}", f"reconcile:{second.id}"]
        assert sorted(report.added) == [f"capture:{third.id}", f"reconcile:{third.id}"]
        assert report.rescheduled == [f"capture:{first.id}"]
        assert "every 2h" in daemon.scheduler.get_job(f"capture:{first.id}").name
        before_restart = job_rows(archive)
    finally:
        assert daemon.shutdown(timeout=5)

    # A restart finds the jobs in the catalogue and keeps their next run times.
    restarted = Daemon(archive, holder="test-b")
    report = restarted.start()
    try:
        assert report.added == ["index"] and report.rescheduled == [] and report.removed == []
        assert job_rows(archive) == before_restart
    finally:
        restarted.shutdown(timeout=5)
        archive.close()


def test_accounts_are_captured_on_schedule_and_housekeeping_runs(
    daemon_settings: Callable[..., Settings], platform: Platform
) -> None:
    settings = daemon_settings()
    archive = open_archive(settings)
    fakes = [platform.new(statuses=15) for _ in range(3)]
    handles = [f"@org{n}@fake.test" for n in range(3)]
    for fake, handle in zip(fakes, handles, strict=True):
        add_account(archive, fake, handle)
    daemon = Daemon(archive, holder="test-sched")
    daemon.start()
    try:
        wait_for(lambda: all(archived_versions(archive, h) for h in handles))
        fakes[0].post_status("<p>new since the first run</p>")
        wait_for(lambda: len(archived_versions(archive, handles[0]))
                 > len(archived_versions(archive, handles[1])))
        wait_for(lambda: archive.search.lag() == 0)

        def signed() -> int:
            with archive.engine.connect() as conn:
                return len(conn.execute(select(checkpoints.c.tree_size)).all())

        wait_for(signed)
    finally:
        assert daemon.shutdown(timeout=10)
    for handle in handles:
        assert set(archived_versions(archive, handle).values()) == {1}
    archive.checkpoint()
    assert archive.verify().ok
    archive.close()


def test_a_new_account_is_captured_soon_and_spread_out(
    daemon_settings: Callable[..., Settings], platform: Platform
) -> None:
    settings = daemon_settings(capture_interval="1h")
    archive = open_archive(settings)
    account = add_account(archive, platform.new(statuses=2), "@soon@fake.test")
    daemon = Daemon(archive, holder="test-soon")
    daemon.start()
    try:
        next_run = daemon.next_run(f"capture:{account.id}")
        assert next_run is not None
        assert next_run - datetime.now(UTC) < timedelta(seconds=31)  # not an hour away
    finally:
        daemon.shutdown(timeout=5)
        archive.close()


@pytest.fixture(autouse=True)
def _no_leftover_daemon() -> None:
    from archiver.daemon import jobs

    assert jobs._current is None
