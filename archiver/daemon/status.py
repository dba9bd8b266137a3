"""The daemon's side of `archiver status`: per account what ran, what failed, what
runs next and what holds it back; who holds leases; what waits in the spool.
Read from the catalogue alone, so it works with or without a daemon running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.daemon.health import PAUSED
from archiver.daemon.leases import current_leases
from archiver.daemon.schedules import effective_schedule
from archiver.daemon.store import spooling_store
from connectors.base import Account
from connectors.registry import load_connector
from storage.catalogue.models import accounts, capture_runs
from storage.catalogue.scheduling import account_health, account_schedules, daemon_jobs
from storage.objects.spool import spool_summary

SUCCESS = ("ok", "partial")
FAILURE = ("failed", "fatal")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def daemon_status(archive: Archive) -> dict[str, Any]:
    now = archive.clock.now()
    settings = archive.settings.daemon
    with archive.engine.connect() as conn:
        account_rows = conn.execute(select(accounts).order_by(accounts.c.id)).all()
        health = {
            row.account_id: row for row in conn.execute(select(account_health)).all()
        }
        own = {
            row["account_id"]: dict(row)
            for row in conn.execute(select(account_schedules)).mappings().all()
        }
        next_runs = {
            row.id: row.next_run_time
            for row in conn.execute(select(daemon_jobs.c.id, daemon_jobs.c.next_run_time))
        }
        captured = dict(
            conn.execute(
                select(
                    capture_runs.c.account_id,
                    func.sum(capture_runs.c.new + capture_runs.c.edited + capture_runs.c.deleted),
                ).group_by(capture_runs.c.account_id)
            ).all()
        )
        last_success = dict(
            conn.execute(
                select(capture_runs.c.account_id, func.max(capture_runs.c.finished_at))
                .where(capture_runs.c.status.in_(SUCCESS))
                .group_by(capture_runs.c.account_id)
            ).all()
        )
        latest_failure_ids = (
            select(func.max(capture_runs.c.id).label("id"))
            .where(capture_runs.c.status.in_(FAILURE))
            .group_by(capture_runs.c.account_id)
            .subquery()
        )
        last_failure = {
            row.account_id: row
            for row in conn.execute(
                select(
                    capture_runs.c.account_id,
                    capture_runs.c.finished_at,
                    capture_runs.c.status,
                    capture_runs.c.errors,
                ).where(capture_runs.c.id.in_(select(latest_failure_ids.c.id)))
            )
        }
    leases = current_leases(archive.engine)
    connectors: dict[str, Any] = {}  # an entry-point scan per platform, not per account
    rows = []
    for row in account_rows:
        state = health.get(row.id)
        try:
            if row.platform not in connectors:
                connectors[row.platform] = load_connector(row.platform)
            connector = connectors[row.platform]
            ephemeral = connector.ephemeral
            account_settings = connector.settings_model(**row.settings)
            account = Account(row.id, row.platform, row.handle, account_settings)
            schedule: dict[str, Any] | None = effective_schedule(
                account, own.get(row.id), settings, ephemeral, now
            ).as_json()
        except Exception:  # noqa: BLE001 - a broken plugin must not hide the other accounts
            ephemeral, schedule = False, None
        failure = last_failure.get(row.id)
        success_at = last_success.get(row.id)
        if success_at is not None:
            success_at = success_at.replace(tzinfo=UTC) if success_at.tzinfo is None else success_at
        lease = leases.get(row.id)
        window_start = success_at or (state.first_scheduled_at if state else None)
        missed_now = bool(
            ephemeral
            and row.enabled
            and window_start is not None
            and now - window_start > timedelta(seconds=settings.ephemeral_lifetime)
        )
        errors = failure.errors if failure is not None else []
        rows.append(
            {
                "id": row.id,
                "platform": row.platform,
                "handle": row.handle,
                "enabled": bool(row.enabled),
                "state": state.state if state else "new",
                "consecutive_failures": state.consecutive_failures if state else 0,
                "backoff_until": _iso(state.backoff_until) if state else None,
                "paused_reason": state.paused_reason if state and state.state == PAUSED else None,
                "last_success_at": _iso(success_at),
                "last_error_at": _iso(failure.finished_at) if failure is not None else None,
                "last_error": errors[0]["message"] if errors else None,
                "last_holder": state.last_holder if state else None,
                "next_run_at": _timestamp(next_runs.get(f"capture:{row.id}")),
                "next_reconcile_at": _timestamp(next_runs.get(f"reconcile:{row.id}")),
                "records_captured": int(captured.get(row.id) or 0),
                "lease": None
                if lease is None or lease.expires_at < now
                else {"holder": lease.holder, "expires_at": _iso(lease.expires_at)},
                "ephemeral": ephemeral,
                "missed_window": missed_now,
                "missed_windows": state.missed_windows if state else 0,
                "schedule": schedule,
            }
        )
    live = [lease for lease in leases.values() if lease.expires_at >= now]
    return {
        "accounts": rows,
        "leases": len(live),
        "lease_holders": sorted({lease.holder for lease in live}),
        "jobs_scheduled": len(next_runs),
    }


def spool_status(archive: Archive) -> dict[str, Any]:
    """The spool in front of the store, or what a switched-off spool still holds."""
    spool = spooling_store(archive.store)
    if spool is not None:
        return spool.status()
    summary = spool_summary(archive.settings.spool_dir)
    summary.update(enabled=False)
    return summary


def _timestamp(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()
