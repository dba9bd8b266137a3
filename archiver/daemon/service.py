"""The capture daemon: APScheduler 3 with its job store in the catalogue.

Jobs, in two job stores:
  - "default" (the catalogue's `daemon_jobs` table, shared by every daemon on the
    catalogue): per account `capture:<id>` and `reconcile:<id>`, plus `checkpoint`
    and `maintenance`. Their next run times survive restarts.
  - "local" (memory, this process only): `index` (the Whoosh index is local to the
    host) and `spool-drain` (so is the spool).
Every job coalesces missed runs, runs at most one instance at a time, and is skipped
when more than `misfire_grace` late. Account runs go to a pool of `workers` threads,
so one slow or failing account never holds up the others; housekeeping has its own
two threads. A lease per account (leases.py) keeps two daemons off one account, and
account health (health.py) decides backoff, the circuit breaker and pauses.

`sync_jobs` reconciles the job store with the accounts table and the schedules:
new accounts get jobs, removed ones lose them, changed schedules are rescheduled,
and unchanged jobs keep their next run time. It runs at start and on SIGHUP.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import ABANDONED, RunSummary, abandon_running_runs
from archiver.daemon import jobs
from archiver.daemon.health import HealthBook
from archiver.daemon.leases import LeaseManager, default_holder
from archiver.daemon.logs import event
from archiver.daemon.maintenance import run_maintenance
from archiver.daemon.runner import DaemonCaptureRunner
from archiver.daemon.schedules import ScheduleService, effective_schedule
from archiver.daemon.store import spooling_store
from archiver.errors import ArchiverError, UsageError
from archiver.search_service import IndexBusy
from config.settings import DaemonSettings
from connectors.base import Account
from connectors.registry import load_connector
from storage.catalogue.models import accounts, chain_heads, checkpoints
from storage.catalogue.scheduling import JOBS_TABLE
from storage.objects.base import ObjectExistsError

log = logging.getLogger(__name__)

SHARED, LOCAL = "default", "local"
ACCOUNTS_POOL, HOUSEKEEPING_POOL = "default", "housekeeping"
FIRST_RUN_SPREAD = 30.0  # seconds over which new accounts' first captures are spread
BUSY_RETRY = 60.0  # a reconciliation that found the account busy tries again this soon
POLL_SECONDS = 0.2


def capture_job_id(account_id: int) -> str:
    return f"capture:{account_id}"


def reconcile_job_id(account_id: int) -> str:
    return f"reconcile:{account_id}"


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _JobSpec:
    func: str
    trigger: BaseTrigger
    name: str
    args: tuple[Any, ...] = ()
    executor: str = ACCOUNTS_POOL
    first_run: datetime | None = None


class Daemon:
    """One daemon process (or, in tests, one per process at a time: the job functions
    find it through archiver.daemon.jobs)."""

    def __init__(
        self,
        archive: Archive,
        *,
        settings: DaemonSettings | None = None,
        holder: str | None = None,
        http_options: dict[str, Any] | None = None,
    ) -> None:
        self.archive = archive
        self.settings = settings or archive.settings.daemon
        self.holder = holder or self.settings.name or default_holder()
        self.http_options = dict(http_options or {})
        self.stop_event = threading.Event()
        self.leases = LeaseManager(
            archive.engine, archive.clock, self.holder, self.settings.lease_ttl
        )
        self.health = HealthBook(archive.engine, archive.clock, self.settings)
        self.schedules = ScheduleService(archive.engine, archive.clock)
        self.accounts = AccountService(archive.engine, archive.clock)
        self.scheduler: BackgroundScheduler | None = None
        self._running: dict[int, str] = {}  # account id -> job, in this process
        self._running_changed = threading.Condition()
        self._heartbeat: threading.Thread | None = None
        self._reload = threading.Event()
        self._terminate = threading.Event()
        self._heartbeat_stop = threading.Event()  # after the runs: leases stay renewed

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> SyncReport:
        """Start scheduling: the job store is reconciled before any job can run."""
        # Built once here, not lazily in several worker threads at once.
        _ = self.archive.ingestor, self.archive.search
        jobs.attach(self)
        self.scheduler = self._build_scheduler()
        self.scheduler.start(paused=True)
        report = self.sync_jobs()
        self.scheduler.resume()
        self._heartbeat = threading.Thread(
            target=self._renew_leases, name="lease-heartbeat", daemon=True
        )
        self._heartbeat.start()
        event(
            "daemon-start",
            holder=self.holder,
            pid=os.getpid(),
            workers=self.settings.workers,
            added=len(report.added),
            rescheduled=len(report.rescheduled),
            removed=len(report.removed),
            kept=report.kept,
        )
        return report

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop: no new runs; running ones end after their current item (committed,
        cursors saved); leases given back. True if every run ended within `timeout`."""
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        started = time.monotonic()
        self.stop_event.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with self._running_changed:
            self._running_changed.wait_for(lambda: not self._running, timeout=timeout)
            unfinished = dict(self._running)
        self._heartbeat_stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        try:
            released = self.leases.release_all()
        except ArchiverError as exc:
            released = 0
            log.error("could not release leases (they will expire): %s", exc)
        jobs.detach(self)
        event(
            "daemon-stop",
            holder=self.holder,
            graceful=not unfinished,
            seconds=round(time.monotonic() - started, 3),
            unfinished=[f"{job}:{account_id}" for account_id, job in unfinished.items()],
            leases_released=released,
        )
        return not unfinished

    def run_forever(self) -> bool:
        """Run until SIGTERM or SIGINT; SIGHUP re-reads accounts and schedules.
        Returns whether the shutdown was graceful."""
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        try:
            self.start()
            while not self._terminate.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    report = self.sync_jobs()
                    event(
                        "reload",
                        added=report.added,
                        rescheduled=report.rescheduled,
                        removed=report.removed,
                        kept=report.kept,
                        problems=report.problems,
                    )
                self._terminate.wait(POLL_SECONDS)
        finally:
            graceful = self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return graceful

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self._terminate.set()

    def request_stop(self) -> None:
        self._terminate.set()

    def request_reload(self) -> None:
        self._reload.set()

    # -- the job store ---------------------------------------------------------
    def _build_scheduler(self) -> BackgroundScheduler:
        return BackgroundScheduler(
            jobstores={
                SHARED: SQLAlchemyJobStore(engine=self.archive.engine, tablename=JOBS_TABLE),
                LOCAL: MemoryJobStore(),
            },
            executors={
                ACCOUNTS_POOL: ThreadPoolExecutor(self.settings.workers),
                HOUSEKEEPING_POOL: ThreadPoolExecutor(2),
            },
            job_defaults=self._job_options(),
            timezone=UTC,
        )

    def _job_options(self) -> dict[str, Any]:
        """What every job gets: missed runs coalesced into one, never two at once, and
        skipped when later than the misfire grace."""
        return {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(self.settings.misfire_grace),
        }

    def desired_jobs(self) -> tuple[dict[str, _JobSpec], dict[str, _JobSpec], list[str]]:
        """(shared jobs, local jobs, problems) as the accounts and settings ask now."""
        settings = self.settings
        now = datetime.now(UTC)
        shared: dict[str, _JobSpec] = {}
        problems: list[str] = []
        own = self.schedules.all()
        enabled = self.accounts.list()
        self.health.ensure([a.id for a in enabled])
        for account in enabled:
            try:
                ephemeral = load_connector(account.platform).ephemeral
            except UsageError as exc:
                problems.append(f"account {account.id} ({account.handle}): {exc}")
                continue
            schedule = effective_schedule(account, own.get(account.id), settings, ephemeral, now)
            if schedule.note:
                problems.append(f"account {account.id} ({account.handle}): {schedule.note}")
            label = f"{account.platform} {account.handle}"
            spread = min(FIRST_RUN_SPREAD, schedule.interval or FIRST_RUN_SPREAD)
            shared[capture_job_id(account.id)] = _JobSpec(
                "archiver.daemon.jobs:capture",
                schedule.capture_trigger(),
                f"capture {label}: {schedule.describe()}",
                (account.id,),
                first_run=now + timedelta(seconds=random.uniform(0, spread)),
            )
            reconcile = schedule.reconcile_trigger(settings.reconcile_jitter)
            if reconcile is not None:
                shared[reconcile_job_id(account.id)] = _JobSpec(
                    "archiver.daemon.jobs:reconcile",
                    reconcile,
                    f"reconcile {label}: every {schedule.reconcile_interval:g}s",
                    (account.id,),
                )
        shared["checkpoint"] = _JobSpec(
            "archiver.daemon.jobs:checkpoint",
            IntervalTrigger(seconds=settings.checkpoint_interval, timezone=UTC),
            f"checkpoint: every {settings.checkpoint_interval:g}s",
            executor=HOUSEKEEPING_POOL,
        )
        shared["maintenance"] = _JobSpec(
            "archiver.daemon.jobs:maintenance",
            CronTrigger.from_crontab(settings.maintenance_cron, timezone=UTC),
            f"maintenance: cron '{settings.maintenance_cron}'",
            executor=HOUSEKEEPING_POOL,
        )
        local = {
            "index": _JobSpec(
                "archiver.daemon.jobs:index",
                IntervalTrigger(seconds=settings.index_interval, timezone=UTC),
                f"index catch-up: every {settings.index_interval:g}s",
                executor=HOUSEKEEPING_POOL,
            )
        }
        if spooling_store(self.archive.store) is not None:
            local["spool-drain"] = _JobSpec(
                "archiver.daemon.jobs:drain_spool",
                IntervalTrigger(seconds=settings.spool_drain_interval, timezone=UTC),
                f"spool drain: every {settings.spool_drain_interval:g}s",
                executor=HOUSEKEEPING_POOL,
                first_run=now,
            )
        return shared, local, problems

    def sync_jobs(self) -> SyncReport:
        """Make the job stores hold exactly the jobs the accounts and settings ask for,
        keeping the next run time of every job whose schedule did not change."""
        scheduler = self.scheduler
        if scheduler is None:
            raise RuntimeError("start the daemon before syncing its jobs")
        shared, local, problems = self.desired_jobs()
        report = SyncReport(problems=problems)
        options = self._job_options()
        for store, wanted in ((SHARED, shared), (LOCAL, local)):
            existing = {job.id: job for job in scheduler.get_jobs(jobstore=store)}
            for job_id, spec in wanted.items():
                job = existing.get(job_id)
                if job is None:
                    extra = {} if spec.first_run is None else {"next_run_time": spec.first_run}
                    scheduler.add_job(
                        spec.func,
                        spec.trigger,
                        args=spec.args,
                        id=job_id,
                        name=spec.name,
                        jobstore=store,
                        executor=spec.executor,
                        replace_existing=True,
                        **extra,
                    )
                    report.added.append(job_id)
                elif job.name != spec.name or job.executor != spec.executor:
                    scheduler.modify_job(
                        job_id, jobstore=store, name=spec.name, executor=spec.executor, **options
                    )
                    scheduler.reschedule_job(job_id, jobstore=store, trigger=spec.trigger)
                    report.rescheduled.append(job_id)
                else:
                    if any(getattr(job, key) != value for key, value in options.items()):
                        # A stored job keeps the options it was added with (the settings
                        # at the time): a restart with a new misfire_grace gives it that.
                        try:
                            scheduler.modify_job(job_id, jobstore=store, **options)
                        except JobLookupError:
                            continue  # another daemon removed it meanwhile
                    report.kept += 1
            for job_id in existing:
                if job_id not in wanted:
                    try:
                        scheduler.remove_job(job_id, jobstore=store)
                    except JobLookupError:
                        continue  # another daemon removed it first
                    report.removed.append(job_id)
        for problem in problems:
            log.warning("schedule: %s", problem)
        return report

    def next_run(self, job_id: str) -> datetime | None:
        if self.scheduler is None:
            return None
        job = self.scheduler.get_job(job_id, jobstore=SHARED)
        return None if job is None else job.next_run_time

    # -- account runs ----------------------------------------------------------
    def run_account(self, account_id: int, job: str = "capture") -> RunSummary | None:
        """One scheduled run of one account, if its health, the lease and this
        process's other runs allow; returns the run's summary, None if skipped."""
        if self.stop_event.is_set():
            return None
        account = self._enabled_account(account_id)
        if account is None:
            return None  # removed since the job was scheduled; the next sync drops it
        now = self.archive.clock.now()
        health = self.health.get(account_id)
        blocked = health.blocks(now)
        if blocked is not None:
            log.debug("%s of account %d skipped: %s", job, account_id, blocked)
            return None
        with self._running_changed:
            if account_id in self._running:
                busy = self._running[account_id]
                self._later(reconcile_job_id(account_id), BUSY_RETRY, only_if=job == "reconcile")
                event("run-skipped", account_id=account_id, job=job, reason=f"{busy} running")
                return None
            self._running[account_id] = job
        try:
            if not self.leases.acquire(account_id):
                event(
                    "run-skipped",
                    account_id=account_id,
                    job=job,
                    reason="another daemon holds the lease",
                )
                return None
            try:
                self._close_abandoned_runs(account_id)
                self.health.started(account_id, job, self.holder)
                runner = DaemonCaptureRunner(self.archive, self.stop_event, self.http_options)
                summary = runner.run(account, reconcile=job == "reconcile")
            finally:
                self.leases.release(account_id)
            self._after_run(account, job, summary)
            return summary
        finally:
            with self._running_changed:
                self._running.pop(account_id, None)
                self._running_changed.notify_all()

    def _close_abandoned_runs(self, account_id: int) -> None:
        """Runs a killed process left `running`: with the lease held, none is live."""
        run_ids = abandon_running_runs(self.archive, account_id, f"daemon:{self.holder}")
        if run_ids:
            event(
                "runs-abandoned",
                logging.WARNING,
                account_id=account_id,
                run_ids=run_ids,
                reason=ABANDONED,
            )

    def _enabled_account(self, account_id: int) -> Account | None:
        with self.archive.engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        if row is None or not row.enabled:
            return None
        model = load_connector(row.platform).settings_model
        return Account(row.id, row.platform, row.handle, model(**row.settings))

    def _after_run(self, account: Account, job: str, summary: RunSummary) -> None:
        error = "; ".join(e["message"] for e in summary.errors[:3]) or None
        fields: dict[str, Any] = {
            "account_id": account.id,
            "account": account.handle,
            "platform": account.platform,
            "job": job,
            "run_id": summary.run_id,
            "status": summary.status,
            **summary.counts,
            "media": summary.media,
            "seconds": round(summary.seconds, 3),
            "holder": self.holder,
        }
        interrupted = self.stop_event.is_set() and any(
            "ShutdownRequested" in e["message"] for e in summary.errors
        )
        if interrupted:  # not the account's fault: no backoff
            event("run", **fields, interrupted=True)
            return
        ephemeral = load_connector(account.platform).ephemeral
        outcome = self.health.record(
            account.id,
            run_id=summary.run_id,
            status=summary.status,
            error=error,
            ephemeral=ephemeral,
        )
        fields.update(
            state=outcome.state,
            consecutive_failures=outcome.consecutive_failures,
            backoff_until=outcome.backoff_until,
        )
        if error:
            fields["error"] = error
        level = logging.INFO if summary.status in ("ok", "partial") else logging.WARNING
        event("run", level, **fields)
        if outcome.newly_paused:
            self.archive.audit.record(
                f"daemon:{self.holder}",
                "account-pause",
                {"account_id": account.id, "reason": error or "fatal error"},
            )
            event(
                "account-paused",
                logging.ERROR,
                account_id=account.id,
                account=account.handle,
                platform=account.platform,
                reason=error,
                fix=f"fix the credentials, then run `archiver schedule resume {account.id}`",
            )
        if outcome.breaker_opened:
            event(
                "breaker-open",
                logging.WARNING,
                account_id=account.id,
                account=account.handle,
                failures=outcome.consecutive_failures,
                trial_at=outcome.backoff_until,
            )
        if outcome.missed_window:
            event(
                "ephemeral-window-missed",
                logging.WARNING,
                account_id=account.id,
                account=account.handle,
                run_id=summary.run_id,
                status=summary.status,
                lifetime_seconds=self.settings.ephemeral_lifetime,
            )
        if outcome.backoff_until is not None:
            self._move_next_run(capture_job_id(account.id), outcome.backoff_until)

    def _move_next_run(self, job_id: str, when: datetime) -> None:
        """Retry at the end of the backoff (sooner or later than the schedule says)."""
        if self.scheduler is None or not self.scheduler.running:
            return
        try:
            self.scheduler.modify_job(job_id, jobstore=SHARED, next_run_time=when)
        except JobLookupError:
            pass

    def _later(self, job_id: str, seconds: float, only_if: bool = True) -> None:
        if only_if:
            self._move_next_run(job_id, datetime.now(UTC) + timedelta(seconds=seconds))

    # -- housekeeping ----------------------------------------------------------
    def checkpoint(self) -> None:
        """Sign a tree head if the log grew since the last one."""
        if self.stop_event.is_set():
            return
        with self.archive.engine.connect() as conn:
            leaves = conn.execute(
                select(chain_heads.c.length).where(chain_heads.c.name == "log")
            ).scalar_one()
            signed = conn.execute(select(func.max(checkpoints.c.tree_size))).scalar()
        if leaves <= (signed or 0):
            return
        try:
            checkpoint = self.archive.checkpoint()
        except (ObjectExistsError, SqlIntegrityError):
            # Another daemon on this catalogue signed the same tree size a moment before
            # (its object or row came first); this transaction rolled back.
            log.info("checkpoint at %d leaves already signed by another daemon", leaves)
            return
        if checkpoint is not None:
            event("checkpoint", tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash)

    def index(self) -> None:
        if self.stop_event.is_set():
            return
        try:
            run = self.archive.index_and_hold()
        except IndexBusy as exc:
            log.debug("index catch-up skipped: %s", exc)
            return
        if run.indexed or run.skipped:
            event("index", **run.as_json())

    def maintenance(self) -> None:
        run = run_maintenance(self.archive)
        for task in run.tasks:
            event(
                "maintenance-task",
                logging.INFO if task.ok else logging.ERROR,
                task=task.name,
                ok=task.ok,
                seconds=round(task.seconds, 3),
                result=task.result,
                error=task.error,
            )
        event("maintenance", tasks=len(run.tasks), ok=run.ok)

    def drain_spool(self) -> None:
        spool = spooling_store(self.archive.store)
        if spool is None:
            return
        try:
            report = spool.drain()
        except ArchiverError as exc:
            event("spool-drain", logging.ERROR, error=str(exc), **spool.spool.summary())
            return
        if report.objects or report.stopped:
            event(
                "spool-drain",
                logging.INFO if not report.stopped else logging.WARNING,
                **report.as_json(),
            )

    def _renew_leases(self) -> None:
        interval = max(self.settings.lease_ttl / 3, 0.05)
        while not self._heartbeat_stop.wait(interval):
            try:
                lost = self.leases.renew()
            except ArchiverError as exc:
                log.error("lease renewal failed: %s", exc)
                continue
            for account_id in lost:
                event("lease-lost", logging.WARNING, account_id=account_id, holder=self.holder)
