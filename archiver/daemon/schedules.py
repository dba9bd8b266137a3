"""When the daemon captures each account: the daemon's defaults ([daemon] in the
config) overridden per account by a row of `account_schedules` (set with
`archiver schedule set`). Connector settings stay the connector's: a schedule is
the daemon's business, not the platform's.

Ephemeral content (a connector with `ephemeral = True`, e.g. Instagram stories,
gone after 24 hours) is captured at least every `ephemeral_max_interval`: a longer
interval is capped, and a cron line with a longer gap is replaced by that interval.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select

from archiver.clock import Clock
from archiver.errors import UsageError
from config.settings import DaemonSettings
from connectors.base import Account
from storage.catalogue.db import write_transaction
from storage.catalogue.scheduling import account_schedules

CRON_LOOKAHEAD = timedelta(days=8)


@dataclass(frozen=True)
class Schedule:
    """An account's effective schedule."""

    account_id: int
    interval: float | None  # seconds, when not cron
    cron: str | None
    jitter: float
    reconcile_interval: float  # seconds; 0: no reconciliation job
    ephemeral: bool = False
    note: str | None = None  # why it differs from what was asked

    def capture_trigger(self) -> BaseTrigger:
        if self.cron:
            return CronTrigger(
                **_cron_fields(self.cron), timezone=UTC, jitter=int(self.jitter) or None
            )
        assert self.interval is not None
        return IntervalTrigger(
            seconds=self.interval, timezone=UTC, jitter=int(self.jitter) or None
        )

    def reconcile_trigger(self, jitter: float) -> IntervalTrigger | None:
        if self.reconcile_interval <= 0:
            return None
        return IntervalTrigger(
            seconds=self.reconcile_interval,
            timezone=UTC,
            jitter=int(min(jitter, self.reconcile_interval / 2)) or None,
        )

    def describe(self) -> str:
        """Also the job's name: a changed description means a changed schedule."""
        when = f"cron '{self.cron}'" if self.cron else f"every {_human(self.interval or 0)}"
        jitter = f" ±{_human(self.jitter)}" if self.jitter else ""
        return f"{when}{jitter}"

    def as_json(self) -> dict[str, Any]:
        return {
            "capture": self.describe(),
            "interval_seconds": self.interval,
            "cron": self.cron,
            "jitter_seconds": self.jitter,
            "reconcile_interval_seconds": self.reconcile_interval,
            "ephemeral": self.ephemeral,
            "note": self.note,
        }


def effective_schedule(
    account: Account,
    own: dict[str, Any] | None,
    settings: DaemonSettings,
    ephemeral: bool,
    now: datetime | None = None,
) -> Schedule:
    """The daemon's defaults, the account's own row over them, then the ephemeral cap."""
    own = own or {}
    if own.get("capture_interval") is not None:
        interval, cron = float(own["capture_interval"]), None
    elif own.get("capture_cron"):
        interval, cron = None, str(own["capture_cron"])
    elif settings.capture_cron:
        interval, cron = None, settings.capture_cron
    else:
        interval, cron = settings.capture_interval, None
    jitter = own.get("capture_jitter")
    jitter = settings.capture_jitter if jitter is None else float(jitter)
    reconcile = own.get("reconcile_interval")
    reconcile = settings.reconcile_interval if reconcile is None else float(reconcile)
    if account.settings.reconcile_days <= 0:
        reconcile = 0.0
    schedule = Schedule(account.id, interval, cron, jitter, reconcile, ephemeral)
    if not ephemeral:
        return _bounded_jitter(schedule)
    limit = settings.ephemeral_max_interval
    if cron is not None:
        gap = longest_cron_gap(cron, now or datetime.now(UTC))
        if gap > limit:
            schedule = replace(
                schedule,
                interval=limit,
                cron=None,
                note=f"cron '{cron}' leaves {_human(gap)} between runs; ephemeral content "
                f"needs a run at least every {_human(limit)}",
            )
    elif interval is not None and interval > limit:
        schedule = replace(
            schedule,
            interval=limit,
            note=f"every {_human(interval)} capped at {_human(limit)} for ephemeral content",
        )
    return _bounded_jitter(schedule)


def _bounded_jitter(schedule: Schedule) -> Schedule:
    """Jitter spreads runs out; more than half an interval would merge or skip runs."""
    if schedule.interval is not None and schedule.jitter > schedule.interval / 2:
        return replace(schedule, jitter=schedule.interval / 2)
    return schedule


def longest_cron_gap(cron: str, start: datetime) -> float:
    """The longest time in seconds between two fire times in the next eight days."""
    trigger = CronTrigger(**_cron_fields(cron), timezone=UTC)
    previous: datetime | None = None
    current = trigger.get_next_fire_time(None, start)
    longest = 0.0
    end = start + CRON_LOOKAHEAD
    while current is not None and current <= end:
        if previous is not None:
            longest = max(longest, (current - previous).total_seconds())
        previous = current
        current = trigger.get_next_fire_time(current, current + timedelta(seconds=1))
    if previous is None:
        return float("inf")
    return longest or CRON_LOOKAHEAD.total_seconds()


def _cron_fields(cron: str) -> dict[str, str]:
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has 5 fields, this has {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": day_of_week,
    }


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class ScheduleService:
    """The per-account rows of `account_schedules`."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def all(self) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(account_schedules)).mappings().all()
        return {row["account_id"]: dict(row) for row in rows}

    def get(self, account_id: int) -> dict[str, Any] | None:
        return self.all().get(account_id)

    def set(
        self,
        account_id: int,
        *,
        interval: float | None = None,
        cron: str | None = None,
        jitter: float | None = None,
        reconcile_interval: float | None = None,
    ) -> dict[str, Any]:
        """Change what is given, keep the rest; an interval replaces a cron and back."""
        if interval is not None and cron is not None:
            raise UsageError("give an interval or a cron line, not both")
        if interval is not None and interval <= 0:
            raise UsageError("the interval must be more than 0 seconds")
        if cron is not None:
            try:
                CronTrigger(**_cron_fields(cron), timezone=UTC)
            except ValueError as exc:
                raise UsageError(
                    f"{cron!r} is not a crontab line (minute hour day month weekday): {exc}"
                ) from None
        values = dict(self.get(account_id) or {})
        values.pop("account_id", None)
        if interval is not None:
            values.update(capture_interval=interval, capture_cron=None)
        if cron is not None:
            values.update(capture_cron=cron, capture_interval=None)
        if jitter is not None:
            values["capture_jitter"] = jitter
        if reconcile_interval is not None:
            values["reconcile_interval"] = reconcile_interval
        values["updated_at"] = self.clock.now()
        with write_transaction(self.engine) as conn:
            changed = conn.execute(
                account_schedules.update()
                .where(account_schedules.c.account_id == account_id)
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(account_schedules.insert().values(account_id=account_id, **values))
        return {"account_id": account_id, **values}

    def clear(self, account_id: int) -> None:
        """Back to the daemon's defaults."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                account_schedules.delete().where(account_schedules.c.account_id == account_id)
            )
