"""Effective schedules: defaults, per-account rows, the ephemeral cap, jitter bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from archiver.daemon.schedules import effective_schedule, longest_cron_gap
from config.settings import DaemonSettings
from connectors.base import Account, ConnectorSettings

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
DEFAULTS = DaemonSettings()


def account(reconcile_days: int = 30) -> Account:
    return Account(7, "mastodon", "@a@x", ConnectorSettings(base_url="http://x", reconcile_days=reconcile_days))


def test_the_defaults() -> None:
    schedule = effective_schedule(account(), None, DEFAULTS, ephemeral=False, now=NOW)
    assert (schedule.interval, schedule.cron, schedule.jitter) == (900, None, 60)
    assert schedule.reconcile_interval == 21600
    assert isinstance(schedule.capture_trigger(), IntervalTrigger)
    assert schedule.describe() == "every 15m ±1m"


def test_an_accounts_own_schedule_wins() -> None:
    own = {"capture_cron": "*/10 * * * *", "capture_jitter": 5.0, "reconcile_interval": 0.0}
    schedule = effective_schedule(account(), own, DEFAULTS, ephemeral=False, now=NOW)
    assert schedule.cron == "*/10 * * * *" and schedule.jitter == 5
    assert isinstance(schedule.capture_trigger(), CronTrigger)
    assert schedule.reconcile_trigger(300) is None


def test_no_reconciliation_job_when_the_account_reconciles_nothing() -> None:
    schedule = effective_schedule(account(reconcile_days=0), None, DEFAULTS, False, NOW)
    assert schedule.reconcile_interval == 0


@pytest.mark.parametrize(
    ("own", "expected_interval", "capped"),
    [
        ({"capture_interval": 3600.0}, 3600, False),
        ({"capture_interval": 86400.0}, 14400, True),  # daily would lose stories
        ({"capture_cron": "0 */2 * * *"}, None, False),  # every 2 h: fine
        ({"capture_cron": "0 9 * * *"}, 14400, True),  # daily cron: replaced
    ],
)
def test_ephemeral_content_is_captured_well_within_its_lifetime(
    own: dict, expected_interval: float | None, capped: bool
) -> None:
    schedule = effective_schedule(account(), own, DEFAULTS, ephemeral=True, now=NOW)
    assert schedule.interval == expected_interval
    assert (schedule.note is not None) == capped


def test_jitter_never_exceeds_half_the_interval() -> None:
    own = {"capture_interval": 60.0, "capture_jitter": 600.0}
    assert effective_schedule(account(), own, DEFAULTS, False, NOW).jitter == 30


def test_longest_cron_gap() -> None:
    assert longest_cron_gap("*/10 * * * *", NOW) == 600
    assert longest_cron_gap("0 9 * * mon-fri", NOW) == 3 * 86400
