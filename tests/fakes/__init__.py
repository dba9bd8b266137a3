"""Fakes for tests: a real HTTP platform server (`server.py`) and a clock that sleeps instantly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock whose `sleep` records the duration and moves time on, without waiting.

    Pass `clock=fake.now, sleep=fake.sleep` to anything that paces itself (HttpClient,
    Throttle), then assert on `fake.sleeps`.
    """

    def __init__(self, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> None:
        self.current = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)

    def epoch(self, offset: float = 0) -> int:
        """Unix seconds `offset` from now, for reset headers."""
        return int((self.current + timedelta(seconds=offset)).timestamp())
