"""Backoff, the circuit breaker, pauses and ephemeral windows: the rules of
archiver/daemon/health.py on a fixed clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.daemon.health import HealthBook
from archiver.errors import UsageError
from config.settings import DaemonSettings
from tests.daemon.conftest import add_account
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer

SETTINGS = DaemonSettings(
    backoff_base=60, backoff_max=600, breaker_threshold=5, breaker_cooldown="6h",
    ephemeral_lifetime="24h",
)


@pytest.fixture
def book(sqlite_archive: Archive, clock: FixedClock) -> HealthBook:
    return HealthBook(sqlite_archive.engine, clock, SETTINGS)


@pytest.fixture
def account_id(sqlite_archive: Archive) -> int:
    with FakeServer() as server:
        return add_account(sqlite_archive, FakeMastodon(server, "t"), "@h@fake.test").id


def test_failures_back_off_exponentially_then_open_the_breaker(
    book: HealthBook, account_id: int, clock: FixedClock
) -> None:
    waits = []
    for _ in range(4):
        outcome = book.record(account_id, run_id=1, status="failed", error="HTTP 500")
        waits.append((outcome.backoff_until - clock.now()).total_seconds())
        assert outcome.state == "backoff" and not outcome.breaker_opened
    assert waits == [60, 120, 240, 480]
    assert book.get(account_id).blocks(clock.now()) == "backoff"
    fifth = book.record(account_id, run_id=2, status="failed", error="HTTP 500")
    assert fifth.state == "open" and fifth.breaker_opened
    assert fifth.backoff_until == clock.now() + timedelta(hours=6)
    clock.advance(hours=6, seconds=1)
    assert book.get(account_id).blocks(clock.now()) is None  # one trial run
    again = book.record(account_id, run_id=3, status="failed", error="still 500")
    assert again.state == "open" and not again.breaker_opened  # reported when it opened
    recovered = book.record(account_id, run_id=4, status="ok", error=None)
    assert recovered.state == "ok" and book.get(account_id).consecutive_failures == 0


def test_a_long_outage_waits_at_most_backoff_max(book: HealthBook, account_id: int) -> None:
    capped = HealthBook(book.engine, book.clock, SETTINGS.model_copy(update={"breaker_threshold": 50}))
    for _ in range(12):
        outcome = capped.record(account_id, run_id=1, status="failed", error="x")
    assert (outcome.backoff_until - book.clock.now()).total_seconds() == 600


def test_fatal_pauses_once_until_resumed(
    book: HealthBook, account_id: int, clock: FixedClock
) -> None:
    first = book.record(account_id, run_id=1, status="fatal", error="token expired")
    assert first.newly_paused and first.state == "paused"
    assert book.get(account_id).blocks(clock.now() + timedelta(days=30)) == "paused"
    assert not book.record(account_id, run_id=2, status="fatal", error="x").newly_paused
    assert book.resume(account_id).state == "paused"
    assert book.get(account_id).blocks(clock.now()) is None
    with pytest.raises(UsageError, match="not paused"):
        book.resume(account_id)


def test_an_ephemeral_account_without_success_for_a_lifetime_missed_a_window(
    book: HealthBook, account_id: int, clock: FixedClock
) -> None:
    assert not book.record(account_id, run_id=1, status="ok", error=None, ephemeral=True).missed_window
    clock.advance(hours=23)
    assert not book.record(account_id, run_id=2, status="ok", error=None, ephemeral=True).missed_window
    clock.advance(hours=25)
    late = book.record(account_id, run_id=3, status="ok", error=None, ephemeral=True)
    assert late.missed_window and book.get(account_id).missed_windows == 1
    clock.advance(hours=25)  # the same gap on a non-ephemeral account is no loss
    assert not book.record(account_id, run_id=4, status="ok", error=None).missed_window


def test_a_window_missed_while_failing_is_reported_once_at_the_first_failure_after_it(
    book: HealthBook, account_id: int, clock: FixedClock
) -> None:
    def missed(status: str) -> bool:
        return book.record(
            account_id, run_id=1, status=status, error="HTTP 500", ephemeral=True
        ).missed_window

    assert not missed("ok")
    clock.advance(hours=20)
    assert not missed("failed")  # failing, but stories from 20 h ago are still there
    clock.advance(hours=5)
    assert missed("failed")  # 25 h without a success: some stories are gone
    assert book.get(account_id).missed_windows == 1
    clock.advance(hours=3)
    assert not missed("failed")  # the same window: not again
    clock.advance(hours=3)
    assert not missed("ok")  # nor when capture recovers
    clock.advance(hours=25)
    assert missed("fatal")  # a new window, missed again: a fatal run reports it too
    assert book.get(account_id).missed_windows == 2
