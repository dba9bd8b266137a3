"""The daemon in-process with its real scheduler: jobs in the catalogue's job store,
reconciled with the accounts on reload, job state kept across restarts, captures
and housekeeping running on short intervals; missed runs coalesced, runs later than
the misfire grace skipped."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.clock import FixedClock
from archiver.daemon import Daemon
from archiver.daemon.schedules import ScheduleService
from archiver.setup import initialise
from config.settings import Settings
from storage.catalogue.models import capture_runs, checkpoints
from storage.catalogue.scheduling import JOBS_TABLE, daemon_jobs
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


def job_options(daemon: Daemon) -> dict[str, tuple[bool, int, int | None]]:
    return {
        job.id: (job.coalesce, job.max_instances, job.misfire_grace_time)
        for job in daemon.scheduler.get_jobs()
    }


def test_every_job_coalesces_runs_alone_and_takes_the_configured_misfire_grace(
    daemon_settings: Callable[..., Settings], platform: Platform
) -> None:
    settings = daemon_settings(capture_interval="1h", reconcile_interval="6h", misfire_grace=123)
    archive = open_archive(settings)
    account = add_account(archive, platform.new(), "@opts@fake.test")
    daemon = Daemon(archive, holder="test-opts")
    daemon.start()
    try:
        options = job_options(daemon)
    finally:
        assert daemon.shutdown(timeout=5)
    assert set(options) == {f"capture:{account.id}", f"reconcile:{account.id}", "checkpoint",
                            "maintenance", "index"}
    assert set(options.values()) == {(True, 1, 123)}
    stored = job_rows(archive)

    # A restart with another grace gives it to the jobs kept in the store, next runs unchanged.
    changed = settings.daemon.model_copy(update={"misfire_grace": 45})
    restarted = Daemon(archive, settings=changed, holder="test-opts-2")
    report = restarted.start()
    try:
        assert set(job_options(restarted).values()) == {(True, 1, 45)}
        assert report.rescheduled == [] and job_rows(archive) == stored
    finally:
        assert restarted.shutdown(timeout=5)
        archive.close()


def set_next_run(archive: Archive, job_id: str, when: datetime) -> None:
    """Make a stored job due at `when`, as if every daemon had been down since then.
    Through the job store alone: a scheduler, even paused, may run what is due."""
    store = SQLAlchemyJobStore(engine=archive.engine, tablename=JOBS_TABLE)
    store.start(BackgroundScheduler(timezone=UTC), "default")
    job = store.lookup_job(job_id)
    job.next_run_time = when
    store.update_job(job)


def test_missed_runs_are_coalesced_into_one_and_runs_later_than_the_grace_are_skipped(
    daemon_settings: Callable[..., Settings], platform: Platform
) -> None:
    settings = daemon_settings(capture_interval="1m", misfire_grace="1h")
    archive = open_archive(settings)
    every_minute = add_account(archive, platform.new(statuses=2), "@minutely@fake.test")
    daily = add_account(archive, platform.new(statuses=2), "@daily@fake.test")
    ScheduleService(archive.engine, archive.clock).set(daily.id, interval=86400)
    first = Daemon(archive, holder="test-misfire-1")
    first.start()  # puts the jobs in the store
    assert first.shutdown(timeout=5)
    runs_before = {a.id: len(run_ids(archive, a.id)) for a in (every_minute, daily)}

    now = datetime.now(UTC)
    set_next_run(archive, f"capture:{every_minute.id}", now - timedelta(minutes=10))  # 11 due
    set_next_run(archive, f"capture:{daily.id}", now - timedelta(hours=2))  # 1 h too late
    restarted = Daemon(archive, holder="test-misfire-2")
    restarted.start()
    try:
        wait_for(lambda: len(run_ids(archive, every_minute.id)) > runs_before[every_minute.id])
        wait_for(lambda: all(
            restarted.next_run(f"capture:{a.id}") > datetime.now(UTC) for a in (every_minute, daily)
        ))
        time.sleep(2)  # room for any replayed run to show
        runs_after = {a.id: len(run_ids(archive, a.id)) for a in (every_minute, daily)}
        next_daily = restarted.next_run(f"capture:{daily.id}")
    finally:
        assert restarted.shutdown(timeout=10)
        archive.close()
    assert runs_after[every_minute.id] == runs_before[every_minute.id] + 1  # not 11
    assert runs_after[daily.id] == runs_before[daily.id]  # skipped, not run late
    assert next_daily - now > timedelta(hours=21)  # the next occurrence, a day after the missed one


def run_ids(archive: Archive, account_id: int) -> list[int]:
    with archive.engine.connect() as conn:
        return list(
            conn.execute(
                select(capture_runs.c.id).where(capture_runs.c.account_id == account_id)
            ).scalars()
        )
