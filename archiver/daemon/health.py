"""Each account's health under the daemon: exponential backoff, a circuit breaker,
and pausing on fatal errors (expired or revoked credentials) until an operator resumes.

The rules, for consecutive failed runs n = 1, 2, ...:
  - n < breaker_threshold: state "backoff", retry after backoff_base * 2^(n-1),
    at most backoff_max;
  - n >= breaker_threshold: state "open" (the circuit breaker), one trial run
    after breaker_cooldown; a success closes it, a failure opens it again;
  - a fatal run: state "paused", reported once, no runs until `resume`;
  - any success (status ok or partial): state "ok", the count starts again.
An ephemeral account's window is missed when no capture succeeded for a content
lifetime; the first run recorded after that, failed or not, reports it, once.
The state is a catalogue row, so every daemon sharing the catalogue honours it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from archiver.clock import Clock
from archiver.errors import UsageError
from config.settings import DaemonSettings
from storage.catalogue.db import insert_if_absent, write_transaction
from storage.catalogue.scheduling import account_health

log = logging.getLogger(__name__)

OK, BACKOFF, OPEN, PAUSED = "ok", "backoff", "open", "paused"
SUCCESS_STATUSES = ("ok", "partial")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Health:
    account_id: int
    state: str
    consecutive_failures: int
    backoff_until: datetime | None
    paused_reason: str | None
    last_success_at: datetime | None
    last_finished_at: datetime | None
    first_scheduled_at: datetime
    missed_windows: int

    def blocks(self, now: datetime) -> str | None:
        """Why a run must not start now, or None."""
        if self.state == PAUSED:
            return "paused"
        if self.backoff_until is not None and now < self.backoff_until:
            return self.state  # backoff | open
        return None


@dataclass(frozen=True)
class Outcome:
    """What recording one run changed, for the log line."""

    state: str
    consecutive_failures: int
    backoff_until: datetime | None
    newly_paused: bool = False
    breaker_opened: bool = False
    missed_window: bool = False


class HealthBook:
    def __init__(self, engine: Engine, clock: Clock, settings: DaemonSettings) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings

    def get(self, account_id: int) -> Health:
        """The account's health; a first row is made when the daemon first sees it."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(account_health).where(account_health.c.account_id == account_id)
            ).first()
        if row is None:
            self._ensure(account_id)
            return self.get(account_id)
        return Health(
            row.account_id,
            row.state,
            row.consecutive_failures,
            row.backoff_until,
            row.paused_reason,
            row.last_success_at,
            row.last_finished_at,
            row.first_scheduled_at,
            row.missed_windows,
        )

    def ensure(self, account_ids: list[int]) -> None:
        for account_id in account_ids:
            self._ensure(account_id)

    def _ensure(self, account_id: int) -> None:
        with write_transaction(self.engine) as conn:
            insert_if_absent(
                conn,
                account_health,
                "account_id",
                account_id=account_id,
                state=OK,
                consecutive_failures=0,
                missed_windows=0,
                first_scheduled_at=self.clock.now(),
            )

    def started(self, account_id: int, job: str, holder: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                account_health.update()
                .where(account_health.c.account_id == account_id)
                .values(last_job=job, last_started_at=self.clock.now(), last_holder=holder)
            )

    def record(
        self,
        account_id: int,
        *,
        run_id: int | None,
        status: str,
        error: str | None,
        ephemeral: bool = False,
    ) -> Outcome:
        """Record a finished run and decide what happens next (see the module doc)."""
        now = self.clock.now()
        before = self.get(account_id)
        missed = ephemeral and self._first_run_after_missed_window(before, now)
        values: dict[str, Any] = {
            "last_run_id": run_id,
            "last_status": status,
            "last_finished_at": now,
        }
        if missed:
            values["missed_windows"] = before.missed_windows + 1
        if status in SUCCESS_STATUSES:
            values.update(
                state=OK, consecutive_failures=0, backoff_until=None, last_success_at=now
            )
            outcome = Outcome(OK, 0, None, missed_window=missed)
        elif status == "fatal":
            values.update(
                state=PAUSED,
                paused_at=now,
                paused_reason=(error or "fatal error")[:MAX_ERROR_CHARS],
                backoff_until=None,
                last_error_at=now,
                last_error=(error or "")[:MAX_ERROR_CHARS],
            )
            outcome = Outcome(
                PAUSED,
                before.consecutive_failures,
                None,
                newly_paused=before.state != PAUSED,
                missed_window=missed,
            )
        else:
            failures = before.consecutive_failures + 1
            if failures >= self.settings.breaker_threshold:
                state, delay = OPEN, self.settings.breaker_cooldown
            else:
                state = BACKOFF
                delay = min(
                    self.settings.backoff_base * 2 ** (failures - 1), self.settings.backoff_max
                )
            until = now + timedelta(seconds=delay)
            values.update(
                state=state,
                consecutive_failures=failures,
                backoff_until=until,
                last_error_at=now,
                last_error=(error or "")[:MAX_ERROR_CHARS],
            )
            outcome = Outcome(
                state,
                failures,
                until,
                breaker_opened=state == OPEN and before.state != OPEN,
                missed_window=missed,
            )
        with write_transaction(self.engine) as conn:
            conn.execute(
                account_health.update()
                .where(account_health.c.account_id == account_id)
                .values(**values)
            )
        return outcome

    def _first_run_after_missed_window(self, before: Health, now: datetime) -> bool:
        """No success for a content lifetime, and no run recorded since that ran out
        (that run reported it already): while an account keeps failing, its missed
        window is reported once, at the first failure after it, not again at success."""
        window_start = before.last_success_at or before.first_scheduled_at
        deadline = window_start + timedelta(seconds=self.settings.ephemeral_lifetime)
        last_run = before.last_finished_at
        return now > deadline and (last_run is None or last_run <= deadline)

    def pause(self, account_id: int, reason: str) -> None:
        self._ensure(account_id)
        with write_transaction(self.engine) as conn:
            conn.execute(
                account_health.update()
                .where(account_health.c.account_id == account_id)
                .values(state=PAUSED, paused_at=self.clock.now(), paused_reason=reason)
            )

    def resume(self, account_id: int) -> Health:
        """Clear a pause, a backoff or an open breaker: the next scheduled run captures."""
        self._ensure(account_id)
        before = self.get(account_id)
        if before.state == OK:
            raise UsageError(f"account {account_id} is not paused or backing off")
        with write_transaction(self.engine) as conn:
            conn.execute(
                account_health.update()
                .where(account_health.c.account_id == account_id)
                .values(
                    state=OK,
                    consecutive_failures=0,
                    backoff_until=None,
                    paused_at=None,
                    paused_reason=None,
                )
            )
        return before
