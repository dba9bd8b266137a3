"""Rate-limit state from response headers, and a throttle that slows down before the limit.

Platforms spell the same three facts (limit, remaining, reset) in different headers
and units; `parse_rate_limit` folds them all into one `RateLimitState` so the client
can pace itself the same way on every platform.

Reset values that are plain numbers follow one rule, whatever the header family:
a value below ``EPOCH_THRESHOLD`` (10**9 seconds, about 31.7 years) is a delay in
seconds from now (Reddit, the IETF draft ``RateLimit-Reset``); a value at or above it
is a Unix timestamp (X, Bluesky, GitHub-style). No real delay is 31 years long and no
current timestamp is before 2001-09-09, so the two never collide.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)

EPOCH_THRESHOLD = 10**9
"""Numeric reset values below this are delta-seconds; at or above, Unix epoch seconds."""

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def utc_now() -> datetime:
    """The real clock, aware and in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RateLimitState:
    """What the platform said about its quota on the last response.

    `limit` and `remaining` are request counts (or percentage points for Facebook's
    usage headers, with `limit` = 100); `reset_at` is when the quota refills.
    Any of them may be unknown (None). `source` names the header family it came from.
    """

    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    source: str

    def seconds_until_reset(self, now: datetime) -> float | None:
        """Seconds from `now` until the reset, never negative; None when unknown."""
        if self.reset_at is None:
            return None
        return max(0.0, (self.reset_at - now).total_seconds())


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    # requests' CaseInsensitiveDict already folds case, but a plain dict from a
    # test or a stored record does not: fold here so every caller is the same.
    return {str(k).lower(): str(v).strip() for k, v in headers.items()}


def _number(raw: str, header: str) -> float | None:
    """Parse a non-negative finite number, tolerating IETF-draft suffixes like '100;w=60'."""
    text = raw.split(",", 1)[0].split(";", 1)[0].strip()
    try:
        value = float(text)
    except ValueError:
        log.debug("ignoring malformed rate-limit header %s: %r", header, raw)
        return None
    if not math.isfinite(value) or value < 0:
        log.debug("ignoring out-of-range rate-limit header %s: %r", header, raw)
        return None
    return value


def _count(raw: str | None, header: str) -> int | None:
    if raw is None:
        return None
    value = _number(raw, header)
    # Reddit sends remaining as "598.0"; a partial request is not a request, so floor.
    return None if value is None else int(value)


def _reset_from_number(value: float, now: datetime) -> datetime | None:
    try:
        if value >= EPOCH_THRESHOLD:
            return datetime.fromtimestamp(value, UTC)
        return now + timedelta(seconds=value)
    except (OverflowError, OSError, ValueError):
        return None


def _reset_from_text(raw: str, header: str, now: datetime) -> datetime | None:
    """A reset given as a number (see module rule) or an ISO-8601 time (Mastodon)."""
    value = None
    try:
        value = float(raw)
    except ValueError:
        pass
    if value is not None:
        if not math.isfinite(value) or value < 0:
            log.debug("ignoring out-of-range rate-limit header %s: %r", header, raw)
            return None
        return _reset_from_number(value, now)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        log.debug("ignoring malformed rate-limit header %s: %r", header, raw)
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """`Retry-After` (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date."""
    raw = _lower(headers).get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0:
            log.debug("ignoring out-of-range Retry-After: %r", raw)
            return None
        return now + timedelta(seconds=seconds)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        log.debug("ignoring malformed Retry-After: %r", raw)
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _triplet(h: Mapping[str, str], prefix: str, now: datetime) -> RateLimitState | None:
    """The common limit/remaining/reset family under one prefix (X, Bluesky, Mastodon)."""
    names = (f"{prefix}-limit", f"{prefix}-remaining", f"{prefix}-reset")
    if not any(n in h for n in names):
        return None
    limit = _count(h.get(names[0]), names[0])
    remaining = _count(h.get(names[1]), names[1])
    reset_raw = h.get(names[2])
    reset_at = _reset_from_text(reset_raw, names[2], now) if reset_raw else None
    used_name = f"{prefix}-used"
    if limit is None and remaining is not None and used_name in h:
        # Reddit sends used + remaining rather than a limit.
        used = _count(h[used_name], used_name)
        if used is not None:
            limit = used + remaining
    if limit is None and remaining is None and reset_at is None:
        return None
    return RateLimitState(limit, remaining, reset_at, f"{prefix}-*")


_FACEBOOK_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")
_FACEBOOK_PERCENT_KEYS = ("call_count", "total_time", "total_cputime", "acc_id_util_pct")


def _facebook_entries(value: object) -> Iterable[Mapping[str, object]]:
    """Flatten {"<id>": [{...}, ...]} (business use case) and {...} (app usage)."""
    if isinstance(value, Mapping):
        if any(k in value for k in _FACEBOOK_PERCENT_KEYS):
            yield value
        else:
            for nested in value.values():
                yield from _facebook_entries(nested)
    elif isinstance(value, list):
        for nested in value:
            yield from _facebook_entries(nested)


def _facebook(h: Mapping[str, str], now: datetime) -> RateLimitState | None:
    """Facebook/Instagram Graph usage headers: percentages of quota used, worst one wins."""
    worst_pct: float | None = None
    regain_minutes = 0.0
    for name in _FACEBOOK_HEADERS:
        raw = h.get(name)
        if not raw:
            continue
        try:
            decoded = json.loads(raw)
        except ValueError:
            log.debug("ignoring malformed %s header: %r", name, raw)
            continue
        for entry in _facebook_entries(decoded):
            for key in _FACEBOOK_PERCENT_KEYS:
                pct = entry.get(key)
                if isinstance(pct, int | float) and not isinstance(pct, bool) and pct >= 0:
                    worst_pct = pct if worst_pct is None else max(worst_pct, pct)
            regain = entry.get("estimated_time_to_regain_access")
            if isinstance(regain, int | float) and not isinstance(regain, bool) and regain > 0:
                regain_minutes = max(regain_minutes, float(regain))
    if worst_pct is None and regain_minutes == 0:
        return None
    remaining = None if worst_pct is None else max(0, int(100 - worst_pct))
    reset_at = None
    if regain_minutes > 0:
        # A positive regain time means access is already blocked until then.
        remaining = 0
        reset_at = now + timedelta(minutes=regain_minutes)
    return RateLimitState(100, remaining, reset_at, "facebook-usage")


def parse_rate_limit(headers: Mapping[str, str], now: datetime) -> RateLimitState | None:
    """Fold whatever rate-limit headers are present into one state; None if there are none.

    Families are tried in order (IETF/Bluesky ``RateLimit-*``, X ``x-rate-limit-*``,
    Mastodon/Reddit ``X-RateLimit-*``, Facebook usage JSON); the first one present wins.
    A ``Retry-After`` header means "nothing before then": it forces remaining to 0 and
    moves the reset to the later of the two times. Malformed values are ignored.
    """
    h = _lower(headers)
    state = (
        _triplet(h, "ratelimit", now)
        or _triplet(h, "x-rate-limit", now)
        or _triplet(h, "x-ratelimit", now)
        or _facebook(h, now)
    )
    retry_at = parse_retry_after(h, now)
    if retry_at is None:
        return state
    if state is None:
        return RateLimitState(None, 0, retry_at, "retry-after")
    reset_at = retry_at if state.reset_at is None else max(state.reset_at, retry_at)
    return RateLimitState(state.limit, 0, reset_at, state.source)


class Throttle:
    """Says how long to wait before the next request, given the platform's last word.

    With plenty of quota left it never waits. When remaining drops to `low_fraction`
    of the limit or to `floor` requests, it spreads what is left evenly until the
    reset, so the quota runs out as the window ends instead of at its start (we slow
    down before the limit rather than after). With nothing left it waits for the reset.
    """

    def __init__(
        self,
        *,
        low_fraction: float = 0.1,
        floor: int = 0,
        unknown_reset_wait: float = 60.0,
        clock: Clock = utc_now,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.low_fraction = low_fraction
        self.floor = floor
        # With remaining 0 and no reset time there is nothing to compute; wait this long.
        self.unknown_reset_wait = unknown_reset_wait
        self.clock = clock
        self.sleep = sleep
        self.state: RateLimitState | None = None

    def update(self, state: RateLimitState | None) -> None:
        """Remember the newest state; a response without rate-limit headers changes nothing."""
        if state is not None:
            self.state = state

    def is_low(self, state: RateLimitState) -> bool:
        if state.remaining is None:
            return False
        threshold = float(self.floor)
        if state.limit:
            threshold = max(threshold, state.limit * self.low_fraction)
        return state.remaining <= threshold

    def delay(self) -> float:
        """Seconds to wait before the next request (0 when free to go)."""
        state = self.state
        if state is None or state.remaining is None:
            return 0.0
        left = state.seconds_until_reset(self.clock())
        if left is None:
            return self.unknown_reset_wait if state.remaining <= 0 else 0.0
        if left <= 0:
            return 0.0  # the window has reset; the next response brings fresh numbers
        if state.remaining <= 0:
            return left
        if self.is_low(state):
            return left / state.remaining
        return 0.0

    def wait(self) -> float:
        """Sleep for `delay()` and return how long that was."""
        seconds = self.delay()
        if seconds > 0:
            self.sleep(seconds)
        return seconds
