"""Retention periods written as '6y', '3y6m', '90d', '1y2m3d'."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PERIOD = re.compile(r"^(?:(?P<y>\d+)y)?(?:(?P<m>\d+)m)?(?:(?P<d>\d+)d)?$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar period; compared by its length in days (approximately) for 'longest wins'."""

    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip().lower())
        if not text.strip() or not match:
            raise ValueError(
                f"{text!r} is not a period: write years, months and days like '6y', '3y6m' or '90d'"
            )
        return cls(int(match["y"] or 0), int(match["m"] or 0), int(match["d"] or 0))

    def after(self, start: datetime) -> datetime:
        """The moment this period after `start` ends (Feb 29 + 1y -> Feb 28)."""
        month_index = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = start.day
        while True:
            try:
                end = start.replace(year=year, month=month, day=day)
                break
            except ValueError:
                day -= 1

        return end + timedelta(days=self.days)

    def approx_days(self) -> int:
        return self.years * 366 + self.months * 31 + self.days

    def __str__(self) -> str:
        parts = [
            f"{n}{u}" for n, u in ((self.years, "y"), (self.months, "m"), (self.days, "d")) if n
        ]
        return "".join(parts) or "0d"
