"""Rate-limit headers in every platform's spelling, and the throttle's pacing."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http.ratelimit import (
    RateLimitState,
    Throttle,
    parse_rate_limit,
    parse_retry_after,
)

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
EPOCH_NOW = int(NOW.timestamp())


def test_mastodon_iso_reset() -> None:
    state = parse_rate_limit(
        {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "299",
            "X-RateLimit-Reset": "2024-03-01T12:05:00.000Z",
        },
        NOW,
    )
    assert state == RateLimitState(300, 299, NOW + timedelta(minutes=5), "x-ratelimit-*")


def test_mastodon_reset_with_offset_is_normalised_to_utc() -> None:
    state = parse_rate_limit({"x-ratelimit-reset": "2024-03-01T13:05:00+01:00"}, NOW)
    assert state is not None and state.reset_at == NOW + timedelta(minutes=5)
    assert state.reset_at.tzinfo == UTC


def test_x_epoch_reset() -> None:
    state = parse_rate_limit(
        {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": "12",
            "x-rate-limit-reset": str(EPOCH_NOW + 600),
        },
        NOW,
    )
    assert state == RateLimitState(900, 12, NOW + timedelta(minutes=10), "x-rate-limit-*")


def test_bluesky_epoch_reset() -> None:
    state = parse_rate_limit(
        {
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": "2999",
            "RateLimit-Reset": str(EPOCH_NOW + 300),
            "RateLimit-Policy": "3000;w=300",
        },
        NOW,
    )
    assert state == RateLimitState(3000, 2999, NOW + timedelta(seconds=300), "ratelimit-*")


def test_ietf_draft_delta_reset_and_policy_suffix() -> None:
    # draft-ietf-httpapi-ratelimit-headers: Reset is delta-seconds; Limit may carry a policy.
    state = parse_rate_limit(
        {"RateLimit-Limit": "100, 100;w=60", "RateLimit-Remaining": "40", "RateLimit-Reset": "30"},
        NOW,
    )
    assert state == RateLimitState(100, 40, NOW + timedelta(seconds=30), "ratelimit-*")


def test_reddit_seconds_remaining_and_float_remaining() -> None:
    state = parse_rate_limit(
        {"x-ratelimit-used": "2", "x-ratelimit-remaining": "598.0", "x-ratelimit-reset": "372"}, NOW
    )
    assert state == RateLimitState(600, 598, NOW + timedelta(seconds=372), "x-ratelimit-*")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("999999999", NOW + timedelta(seconds=999_999_999)),  # just below: a delta
        ("1000000000", datetime.fromtimestamp(1_000_000_000, UTC)),  # at the threshold: epoch
    ],
)
def test_numeric_reset_rule(value: str, expected: datetime) -> None:
    state = parse_rate_limit({"ratelimit-reset": value}, NOW)
    assert state is not None and state.reset_at == expected


def test_header_names_are_case_insensitive() -> None:
    lower = parse_rate_limit({"x-rate-limit-remaining": "5"}, NOW)
    upper = parse_rate_limit({"X-RATE-LIMIT-REMAINING": "5"}, NOW)
    assert lower == upper and lower is not None and lower.remaining == 5


def test_facebook_business_use_case_usage() -> None:
    usage = {
        "112233": [
            {
                "type": "pages",
                "call_count": 28,
                "total_cputime": 91,
                "total_time": 45,
                "estimated_time_to_regain_access": 0,
            }
        ]
    }
    state = parse_rate_limit({"X-Business-Use-Case-Usage": json.dumps(usage)}, NOW)
    assert state == RateLimitState(100, 9, None, "facebook-usage")


def test_facebook_app_usage_and_regain_time() -> None:
    headers = {
        "x-app-usage": json.dumps({"call_count": 10, "total_time": 5, "total_cputime": 2}),
        "x-business-use-case-usage": json.dumps(
            {"1": [{"call_count": 100, "estimated_time_to_regain_access": 15}]}
        ),
    }
    state = parse_rate_limit(headers, NOW)
    assert state == RateLimitState(100, 0, NOW + timedelta(minutes=15), "facebook-usage")


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after({"Retry-After": "120"}, NOW) == NOW + timedelta(seconds=120)
    assert parse_retry_after({"retry-after": "Fri, 01 Mar 2024 12:01:00 GMT"}, NOW) == (
        NOW + timedelta(minutes=1)
    )


def test_retry_after_alone_means_wait() -> None:
    state = parse_rate_limit({"Retry-After": "5"}, NOW)
    assert state == RateLimitState(None, 0, NOW + timedelta(seconds=5), "retry-after")


def test_retry_after_takes_the_later_reset() -> None:
    state = parse_rate_limit(
        {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "3",
            "x-rate-limit-reset": str(EPOCH_NOW + 10),
            "Retry-After": "60",
        },
        NOW,
    )
    assert state == RateLimitState(15, 0, NOW + timedelta(seconds=60), "x-rate-limit-*")


def test_no_headers_no_state() -> None:
    assert parse_rate_limit({"Content-Type": "application/json"}, NOW) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Reset": "next tuesday"},
        {"x-rate-limit-remaining": "-4"},
        {"x-rate-limit-remaining": "nan"},
        {"RateLimit-Reset": "inf"},
        {"Retry-After": "soon"},
        {"x-app-usage": "{not json"},
        {"x-app-usage": '{"call_count": "lots"}'},
    ],
)
def test_malformed_headers_are_ignored_and_logged(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="connectors.http.ratelimit"):
        state = parse_rate_limit(headers, NOW)
    assert state is None or (state.remaining is None and state.reset_at is None)


def test_malformed_field_does_not_hide_good_ones() -> None:
    state = parse_rate_limit(
        {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "x",
            "x-rate-limit-reset": str(EPOCH_NOW + 60),
        },
        NOW,
    )
    assert state == RateLimitState(15, None, NOW + timedelta(seconds=60), "x-rate-limit-*")


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "X-RateLimit-Reset",
                "x-rate-limit-reset",
                "RateLimit-Reset",
                "x-ratelimit-remaining",
                "ratelimit-limit",
                "Retry-After",
                "x-app-usage",
                "x-business-use-case-usage",
                "x-ratelimit-used",
            ]
        ),
        st.text(max_size=40),
    )
)
def test_parser_never_crashes(headers: dict[str, str]) -> None:
    state = parse_rate_limit(headers, NOW)
    assert state is None or isinstance(state, RateLimitState)


# -- Throttle ----------------------------------------------------------------------------
def _throttle(state: RateLimitState | None, **kw: float) -> Throttle:
    throttle = Throttle(clock=lambda: NOW, sleep=lambda s: None, **kw)  # type: ignore[arg-type]
    throttle.update(state)
    return throttle


def test_plenty_left_means_no_wait() -> None:
    assert _throttle(RateLimitState(300, 200, NOW + timedelta(seconds=60), "t")).delay() == 0


def test_low_remaining_spreads_requests_until_reset() -> None:
    # 10% of 300 is 30: with 30 left and 60 s to go, one request every 2 s.
    state = RateLimitState(300, 30, NOW + timedelta(seconds=60), "t")
    assert _throttle(state).delay() == pytest.approx(2.0)


def test_floor_applies_without_a_limit() -> None:
    state = RateLimitState(None, 4, NOW + timedelta(seconds=40), "t")
    assert _throttle(state).delay() == 0
    assert _throttle(state, floor=5).delay() == pytest.approx(10.0)


def test_exhausted_waits_until_reset() -> None:
    assert _throttle(RateLimitState(300, 0, NOW + timedelta(seconds=90), "t")).delay() == 90


def test_past_reset_means_go() -> None:
    assert _throttle(RateLimitState(300, 0, NOW - timedelta(seconds=1), "t")).delay() == 0


def test_exhausted_without_reset_uses_fallback() -> None:
    state = RateLimitState(100, 0, None, "t")
    assert _throttle(state, unknown_reset_wait=30).delay() == 30


def test_update_without_state_keeps_the_last_one() -> None:
    throttle = _throttle(RateLimitState(300, 0, NOW + timedelta(seconds=5), "t"))
    throttle.update(None)
    assert throttle.delay() == 5


def test_wait_sleeps_through_the_injected_sleep() -> None:
    slept: list[float] = []
    throttle = Throttle(clock=lambda: NOW, sleep=slept.append)
    throttle.update(RateLimitState(10, 0, NOW + timedelta(seconds=3), "t"))
    assert throttle.wait() == 3
    assert slept == [3]
