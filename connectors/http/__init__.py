"""The shared HTTP client for connectors: retries, rate limits, size caps, redaction, SSRF guard."""

from __future__ import annotations

from .client import (
    USER_AGENT,
    CredentialsError,
    HttpClient,
    HttpResult,
    HttpStatusError,
    NotFound,
    ResponseTooLargeError,
    decode_json,
)
from .guard import BlockedURLError, check_connected_peer, check_public_url
from .ratelimit import RateLimitState, Throttle, parse_rate_limit, parse_retry_after
from .redact import RedactingFilter, SecretScrubber, redact_headers, redact_url

__all__ = [
    "USER_AGENT",
    "BlockedURLError",
    "CredentialsError",
    "HttpClient",
    "HttpResult",
    "HttpStatusError",
    "NotFound",
    "RateLimitState",
    "RedactingFilter",
    "ResponseTooLargeError",
    "SecretScrubber",
    "Throttle",
    "check_connected_peer",
    "check_public_url",
    "decode_json",
    "parse_rate_limit",
    "parse_retry_after",
    "redact_headers",
    "redact_url",
]
