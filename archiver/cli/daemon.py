"""`archiver daemon` (scheduled capture), `archiver schedule ...` (per-account
schedules, pause and resume) and `archiver spool ...` (objects waiting for the store)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from rich.table import Table

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.daemon import Daemon
from archiver.daemon.health import HealthBook
from archiver.daemon.logs import setup_logging
from archiver.daemon.schedules import ScheduleService
from archiver.daemon.service import capture_job_id
from archiver.daemon.status import daemon_status, spool_status
from archiver.daemon.store import spooling_store, thread_safe
from archiver.errors import UsageError
from config.settings import Settings, duration_seconds
from storage.catalogue.scheduling import JOBS_TABLE
from storage.objects.base import ObjectStore
from storage.objects.registry import backend_class
from storage.objects.spool import SpoolingStore, spool_if_enabled, spool_summary


class Duration(click.ParamType):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            return float(duration_seconds(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


def open_daemon_store(settings: Settings) -> ObjectStore:
    """The configured store as the daemon needs it: an unreachable S3 at start-up is
    tolerated when the spool is on (captures wait in the spool), and writes from the
    worker threads are serialised where the backend needs it."""
    store = backend_class(settings.storage.backend).from_settings(settings)
    store = spool_if_enabled(store, settings, tolerate_unreachable_at_start=True)
    try:
        store.check()
    except BaseException:
        store.close()
        raise
    return thread_safe(store)


def status_archive(cli: CliContext) -> Archive:
    """The archive for `status` and `spool status`: opened like the daemon opens it,
    so an unreachable S3 store (with the spool on) still lets them report; the
    caller closes it."""
    settings = cli.settings
    return Archive.open(settings, store=open_daemon_store(settings))


def _log_file(settings: Settings) -> Path | None:
    path = settings.daemon.log_file
    if path is None or path.is_absolute():
        return path
    return settings.archive_dir / path


@click.command("daemon")
@click.option("--name", help="Lease holder name (default: daemon.name, else host:pid).")
@pass_cli
def daemon_command(cli: CliContext, name: str | None) -> None:
    """Capture every account on its schedule until SIGTERM or SIGINT (SIGHUP re-reads
    accounts and schedules). Logs are JSON lines on stderr or daemon.log_file."""
    settings = cli.settings
    handler = setup_logging(_log_file(settings), settings.daemon.log_level)
    archive = Archive.open(settings, store=open_daemon_store(settings))
    graceful = False
    try:
        graceful = Daemon(archive, holder=name).run_forever()
    finally:
        if graceful:
            archive.close()
    if not graceful:
        # Runs still stuck after shutdown_timeout (a hung request): their uncommitted
        # batch rolls back with the process, and the next run resumes from the cursor.
        handler.flush()
        logging.shutdown()
        os._exit(0)


# -- schedules -------------------------------------------------------------------------


@click.group("schedule")
def schedule_group() -> None:
    """When the daemon captures each account; pause and resume accounts."""


def _account_id(cli: CliContext, ref: str) -> int:
    archive = cli.archive()
    return AccountService(archive.engine, archive.clock).get(ref).id


@schedule_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def schedule_list(cli: CliContext, as_json: bool) -> None:
    """Every account's effective schedule and state."""
    status = daemon_status(cli.archive())
    if as_json:
        print_json(status["accounts"])
        return
    table = Table("id", "account", "schedule", "reconcile", "state", "note")
    for row in status["accounts"]:
        schedule = row["schedule"] or {}
        reconcile = schedule.get("reconcile_interval_seconds")
        table.add_row(
            str(row["id"]),
            f"{row['platform']} {row['handle']}" + ("" if row["enabled"] else " (removed)"),
            schedule.get("capture", "?"),
            "never" if not reconcile else f"{reconcile:g}s",
            row["state"],
            schedule.get("note") or "",
        )
    cli.console.print(table)


@schedule_group.command("set")
@click.argument("account")
@click.option("--every", "interval", type=DURATION, help="Capture interval, e.g. 15m, 4h.")
@click.option("--cron", help="Crontab line (UTC) instead of an interval, e.g. '*/10 * * * *'.")
@click.option("--jitter", type=DURATION, help="Random delay added to each run, e.g. 60s.")
@click.option("--reconcile-every", "reconcile", type=DURATION, help="Deletion sweep; 0: never.")
@click.option("--default", "to_default", is_flag=True, help="Back to the daemon's defaults.")
@pass_cli
def schedule_set(
    cli: CliContext,
    account: str,
    interval: float | None,
    cron: str | None,
    jitter: float | None,
    reconcile: float | None,
    to_default: bool,
) -> None:
    """Set an account's schedule (the daemon applies it on SIGHUP or restart)."""
    archive = cli.archive()
    account_id = _account_id(cli, account)
    service = ScheduleService(archive.engine, archive.clock)
    if to_default:
        service.clear(account_id)
        values: dict[str, Any] = {"account_id": account_id, "default": True}
    elif interval is None and cron is None and jitter is None and reconcile is None:
        raise UsageError("give --every, --cron, --jitter, --reconcile-every or --default")
    else:
        values = service.set(
            account_id, interval=interval, cron=cron, jitter=jitter, reconcile_interval=reconcile
        )
    archive.audit.record(
        archive.actor,
        "schedule-set",
        {k: v for k, v in values.items() if k != "updated_at"},
    )
    click.echo(
        f"account {account_id}: schedule saved; send the daemon SIGHUP (or restart it) "
        "to apply it"
    )


@schedule_group.command("pause")
@click.argument("account")
@click.option("--reason", default="paused by an operator", show_default=True)
@pass_cli
def schedule_pause(cli: CliContext, account: str, reason: str) -> None:
    """Stop capturing an account until it is resumed (its jobs stay scheduled)."""
    archive = cli.archive()
    account_id = _account_id(cli, account)
    HealthBook(archive.engine, archive.clock, archive.settings.daemon).pause(account_id, reason)
    archive.audit.record(
        archive.actor, "account-pause", {"account_id": account_id, "reason": reason}
    )
    click.echo(f"account {account_id} paused: {reason}")


@schedule_group.command("resume")
@click.argument("account")
@pass_cli
def schedule_resume(cli: CliContext, account: str) -> None:
    """Resume an account paused after a fatal error (fix its credentials first), or
    clear its backoff or open circuit breaker: its next capture runs within a minute."""
    archive = cli.archive()
    account_id = _account_id(cli, account)
    before = HealthBook(archive.engine, archive.clock, archive.settings.daemon).resume(account_id)
    _run_soon(archive, capture_job_id(account_id))
    archive.audit.record(
        archive.actor, "account-resume", {"account_id": account_id, "was": before.state}
    )
    click.echo(f"account {account_id} resumed (was {before.state})")


def _run_soon(archive: Archive, job_id: str) -> None:
    """Bring the job's next run forward to now in the shared job store; the daemon
    sees it at its next wake-up (at most the index interval away)."""
    store = SQLAlchemyJobStore(engine=archive.engine, tablename=JOBS_TABLE)
    job = store.lookup_job(job_id)
    if job is None:
        return  # not scheduled yet: the daemon's next sync schedules it
    job.next_run_time = datetime.now(UTC)
    store.update_job(job)


# -- the spool -------------------------------------------------------------------------


@click.group("spool")
def spool_group() -> None:
    """Objects captured while the object store was unreachable."""


@spool_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def spool_status_command(cli: CliContext, as_json: bool) -> None:
    """How much waits in the spool, and since when."""
    archive = status_archive(cli)
    try:
        summary = spool_status(archive)
    finally:
        archive.close()
    if as_json:
        print_json(summary)
        return
    click.echo(spool_line(summary))


@spool_group.command("drain")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def spool_drain(cli: CliContext, as_json: bool) -> None:
    """Push spooled objects to the store now, in the order they were spooled."""
    archive = cli.archive()
    spool = spooling_store(archive.store)
    if spool is None:  # switched off, but something may be left from before
        if not spool_summary(archive.settings.spool_dir)["objects"]:
            click.echo("spool is empty")
            return
        spool = SpoolingStore(archive.store, archive.settings.spool_dir)
    report = spool.drain()
    if as_json:
        print_json(report.as_json())
    else:
        click.echo(
            f"drained {report.objects} object(s) in {report.batches} batch(es) "
            f"({report.already_there} already in the store); {report.remaining_objects} left"
            + (f"; stopped: {report.stopped}" if report.stopped else "")
        )
    if report.stopped:
        raise click.exceptions.Exit(3)


def spool_line(summary: dict[str, Any]) -> str:
    state = "on" if summary.get("enabled") else "off"
    text = f"spool     {summary['objects']} object(s), {summary['bytes']} bytes waiting ({state})"
    if summary.get("oldest"):
        text += f", oldest {summary['oldest']}"
    if summary.get("enabled") and summary.get("store_reachable") is False:
        text += "; store unreachable"
    if summary.get("last_drain_error"):
        text += f"; drain failing: {summary['last_drain_error']}"
    if summary["objects"] and not summary.get("enabled"):
        text += "; run `archiver spool drain`"
    return text
