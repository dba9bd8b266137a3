"""Retention rules: which policies apply to a record and until when it must be kept.

The longest applicable period wins (SEC 17a-4 / FINRA 4511: a record subject to
several rules is kept for the longest). The default period always applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from config.period import Period
from config.settings import RetentionSettings

DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class Policy:
    name: str
    period: Period
    counted_from: str  # "captured" | "created"
    platforms: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    def matches(self, platform: str, account: str, kind: str) -> bool:
        return (
            (not self.platforms or platform in self.platforms)
            and (not self.accounts or account in self.accounts)
            and (not self.kinds or kind in self.kinds)
        )

    def until(self, created_at: datetime | None, captured_at: datetime) -> datetime:
        """When this policy lets go; a creation-based rule falls back to capture time
        when the platform gave no creation time."""
        start = created_at if self.counted_from == "created" and created_at else captured_at
        return self.period.after(start)


@dataclass(frozen=True)
class Governing:
    policy: str
    retain_until: datetime


class RetentionRules:
    def __init__(self, settings: RetentionSettings) -> None:
        self.policies = [Policy(DEFAULT_POLICY, settings.default, "captured")] + [
            Policy(
                p.name, Period.parse(p.period), p.counted_from,
                frozenset(p.platforms), frozenset(p.accounts), frozenset(p.kinds),
            )
            for p in settings.policies
        ]

    def applicable(self, platform: str, account: str, kind: str) -> list[Policy]:
        return [p for p in self.policies if p.matches(platform, account, kind)]

    def governing(
        self,
        platform: str,
        account: str,
        kind: str,
        created_at: datetime | None,
        captured_at: datetime,
    ) -> Governing:
        """The policy keeping the record longest, and its retain-until date."""
        best = max(
            (Governing(p.name, p.until(created_at, captured_at))
             for p in self.applicable(platform, account, kind)),
            key=lambda g: g.retain_until,
        )
        return best

    def unmatched(self, accounts: Iterable[tuple[str, str]], kinds: Iterable[str]) -> list[str]:
        """Names of policies that match no configured account (a likely typo)."""
        pairs, kind_set = list(accounts), set(kinds)
        return [
            p.name
            for p in self.policies[1:]
            if not any(p.matches(platform, handle, kind) for platform, handle in pairs
                       for kind in kind_set)
        ]
