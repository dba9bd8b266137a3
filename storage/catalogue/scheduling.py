"""Catalogue tables of the capture daemon: per-account schedules, each account's
health (backoff, circuit breaker, pause), capture leases shared by several daemons,
and APScheduler's job store.

Leases and health live in SQL so that several daemons on one PostgreSQL catalogue
agree on who captures an account and on its failure state.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Column, Float, ForeignKey, Integer, LargeBinary, String, Table, Text, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from storage.catalogue.models import Base, UTCDateTime

JOBS_TABLE = "daemon_jobs"


class AccountScheduleRow(Base):
    """An account's own schedule; a NULL column means the daemon's default."""

    __tablename__ = "account_schedules"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    capture_interval: Mapped[float | None] = mapped_column(Float)  # seconds
    capture_cron: Mapped[str | None] = mapped_column(String(120))  # crontab line, UTC
    capture_jitter: Mapped[float | None] = mapped_column(Float)
    reconcile_interval: Mapped[float | None] = mapped_column(Float)  # 0: never
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountHealthRow(Base):
    """How an account's scheduled captures are going, written by the lease holder.

    state: ok | backoff (failing, retried after backoff_until) | open (circuit
    breaker open after repeated failures: one trial run after backoff_until) |
    paused (fatal error, e.g. expired credentials: nothing runs until resumed).
    """

    __tablename__ = "account_health"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="ok")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    last_job: Mapped[str | None] = mapped_column(String(16))  # capture | reconcile
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_holder: Mapped[str | None] = mapped_column(String(255))
    missed_windows: Mapped[int] = mapped_column(Integer, default=0)  # ephemeral content
    first_scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaptureLeaseRow(Base):
    """Who captures an account now. Taken with an atomic UPDATE ... WHERE expired OR
    mine (or an INSERT that loses cleanly on conflict), renewed while capturing,
    deleted when done; a crashed holder's lease simply expires."""

    __tablename__ = "capture_leases"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


# APScheduler 3's SQLAlchemyJobStore table, exactly as it declares it (it checks for the
# table and finds it): declared here so the migration owns the catalogue's schema.
daemon_jobs = Table(
    JOBS_TABLE,
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)

# Typed as Table (what they are), so insert/update/delete type-check.
account_schedules = cast(Table, AccountScheduleRow.__table__)
account_health = cast(Table, AccountHealthRow.__table__)
capture_leases = cast(Table, CaptureLeaseRow.__table__)
