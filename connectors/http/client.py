"""The one HTTP client every connector uses: retries, rate limits, size caps, redaction.

Connectors only say what to fetch (GET, or POST for login-style procedures); this
module decides how politely and how safely:
  - connection errors, timeouts, truncated bodies and 5xx are retried here with
    exponential backoff and full jitter, then surface as `RetriableError`;
  - 429 and rate-limit headers pace requests through a `Throttle` per host, slowing
    down before the limit; a wait longer than `max_rate_limit_wait` is handed back to
    the framework as `RetriableError(retry_after=...)` instead of blocking a worker;
  - 401/403 are `CredentialsError` (a `FatalError`): retrying cannot fix a token;
  - 404/410 are `NotFound` (a `SkippableError` carrying the body): deletion evidence;
  - other 4xx are `HttpStatusError` (skippable: this item is bad, not the account);
  - a body over the size cap is `ResponseTooLargeError` (skippable: the same request
    would be just as large next time; raising the cap is a config change);
  - a complete body that is not JSON is `RetriableError` at once (usually a proxy's
    error page or a half-deployed API), without burning retries here.
Every URL and header that leaves this module in a result, a log line or an error
message has secrets redacted.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from archiver import __version__
from archiver.errors import FatalError, RetriableError, SkippableError

from .guard import check_connected_peer, check_public_url
from .ratelimit import Clock, RateLimitState, Sleep, Throttle, parse_rate_limit, utc_now
from .redact import SECRET_HEADERS, SECRET_PARAMS, SecretScrubber, redact_text, redact_url

log = logging.getLogger(__name__)

USER_AGENT = f"social-archiver/{__version__} (self-hosted compliance archiver)"
MiB = 1024 * 1024
ERROR_BODY_LIMIT = 1 * MiB  # how much of an error response we keep (NotFound evidence)
EXCERPT_CHARS = 300
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_KEPT_HEADERS = frozenset(
    {
        "date",
        "content-type",
        "content-length",
        "content-encoding",
        "etag",
        "last-modified",
        "link",
        "retry-after",
        "x-request-id",
        "request-id",
        "x-amzn-requestid",
        "x-transaction-id",
        "x-fb-trace-id",
        "x-fb-rev",
        "x-app-usage",
        "x-business-use-case-usage",
        "x-ad-account-usage",
    }
)


class HttpStatusError(SkippableError):
    """The server refused this one request (a 4xx other than 401/403/429)."""

    def __init__(
        self, url: str, status: int, body: bytes, hint: str = "", method: str = "GET"
    ) -> None:
        self.url = url
        self.status = status
        self.body = body
        excerpt = body[:EXCERPT_CHARS].decode("utf-8", errors="replace")
        super().__init__(f"{method} {url} returned HTTP {status}{hint}: {excerpt!r}")


class NotFound(HttpStatusError):
    """404 or 410: the object is gone (or never was); callers use it as deletion evidence."""


class CredentialsError(FatalError):
    """401 or 403: the token is invalid, expired, or lacks the permission for this URL."""

    def __init__(self, url: str, status: int, excerpt: str, method: str = "GET") -> None:
        self.url = url
        self.status = status
        super().__init__(
            f"{method} {url} returned HTTP {status}: check the account's access token and its "
            f"permissions (scopes) on the platform; server said {excerpt!r}"
        )


class ResponseTooLargeError(SkippableError):
    """The body exceeded the configured cap; the same request would exceed it again."""

    def __init__(self, url: str, limit: int, seen: int, method: str = "GET") -> None:
        self.url = url
        self.limit = limit
        super().__init__(
            f"{method} {url}: response is larger than the {limit}-byte cap (at least {seen} "
            "bytes); raise the cap in the connector settings if this is expected"
        )


@dataclass(frozen=True)
class HttpResult:
    """One successful response. `url` and `headers` are redacted and safe to store.

    `links` holds the parsed Link header with *real* URLs, for following pages; store
    `capture_metadata()` rather than `links`. `data` is the parsed JSON (get_json).
    """

    status: int
    url: str
    headers: dict[str, str]
    body: bytes
    data: Any = None
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    rate_limit: RateLimitState | None = None
    attempts: int = 1

    def capture_metadata(self) -> dict[str, Any]:
        """What a record keeps about how it was fetched: no secrets, no cookies."""
        return {"request_url": self.url, "status": self.status, "headers": dict(self.headers)}


class _Transient(Exception):
    """A transport failure worth retrying (never leaves this module)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class _Raw:
    status: int
    url: str  # real URL, for following redirects
    headers: requests.structures.CaseInsensitiveDict[str]
    body: bytes
    rate_limit: RateLimitState | None


def decode_json(body: bytes) -> Any:
    """Parse JSON bytes losslessly: invalid UTF-8 becomes lone surrogates
    (errors="surrogateescape"), so `s.encode("utf-8", "surrogateescape")` gives the
    original bytes back instead of U+FFFD replacing them. The raw bytes are kept too."""
    return json.loads(body.decode("utf-8-sig", errors="surrogateescape"))


class HttpClient:
    """A requests.Session with the archiver's policies; one per connector account.

    Not shared between threads: the per-host pacing state is plain Python state.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        auth_headers: Mapping[str, str] | None = None,
        auth_hosts: Iterable[str] | None = None,
        secrets: Iterable[str] = (),
        secret_params: Iterable[str] = (),
        user_agent_suffix: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        max_rate_limit_wait: float = 300.0,
        max_response_bytes: int = 16 * MiB,
        max_media_bytes: int = 200 * MiB,
        max_redirects: int = 5,
        allow_hosts: Iterable[str] = (),
        allow_private: bool = False,
        throttle_low_fraction: float = 0.1,
        throttle_floor: int = 0,
        clock: Clock = utc_now,
        sleep: Sleep = time.sleep,
        rng: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        """`auth_headers` go only to `auth_hosts` (default: base_url's host), never to
        media CDNs or redirect targets elsewhere; their values are redacted everywhere.
        `allow_hosts`/`allow_private` relax the media guard (see guard.py)."""
        self.base_url = base_url.rstrip("/") if base_url else None
        self.auth_headers = dict(auth_headers or {})
        hosts = set(auth_hosts or ())
        if not hosts and self.base_url:
            hosts.add(urlsplit(self.base_url).netloc.lower())
        if self.auth_headers and not hosts:
            raise ValueError("auth_headers need base_url or auth_hosts to say where they may go")
        self.auth_hosts = {h.lower() for h in hosts}
        self.scrubber = SecretScrubber(secrets)
        for value in self.auth_headers.values():
            self.scrubber.register(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "token", "basic", "bot", "oauth"):
                self.scrubber.register(credential.strip())
        self.secret_params = tuple(secret_params)
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_response_bytes = max_response_bytes
        self.max_media_bytes = max_media_bytes
        self.max_redirects = max_redirects
        self.allow_hosts = tuple(allow_hosts)
        self.allow_private = allow_private
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self.throttle_low_fraction = throttle_low_fraction
        self.throttle_floor = throttle_floor
        self._throttles: dict[str, Throttle] = {}
        self.session = session or requests.Session()
        agent = f"{USER_AGENT} {user_agent_suffix}" if user_agent_suffix else USER_AGENT
        self.session.headers["User-Agent"] = agent
        self.session.headers.update(headers or {})

    # -- public API -----------------------------------------------------------------------
    def get_json(
        self,
        url_or_path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """GET and parse JSON. A path is appended to base_url as is ("/accounts/1")."""
        merged = {"Accept": "application/json", **(headers or {})}
        raw, attempts = self._execute(
            self._absolute(url_or_path), params, merged, self.max_response_bytes, guarded=False
        )
        return self._result(raw, self._decode(raw, "GET"), attempts)

    def post_json(
        self,
        url_or_path: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """POST `payload` as JSON (no body when None) and parse the JSON answer.

        For API procedures that are safe to repeat (log in, refresh a session): the
        retry, rate-limit, status and redaction rules are exactly those of get_json.
        The request body is never logged or put in a result; register any secret it
        holds (a password) with `scrubber` so an echo of it in a response is redacted.
        """
        merged = {"Accept": "application/json", **(headers or {})}
        body = None
        if payload is not None:
            merged.setdefault("Content-Type", "application/json")
            body = json.dumps(payload).encode("utf-8")
        raw, attempts = self._execute(
            self._absolute(url_or_path),
            None,
            merged,
            self.max_response_bytes,
            guarded=False,
            method="POST",
            body=body,
        )
        return self._result(raw, self._decode(raw, "POST"), attempts)

    def _decode(self, raw: _Raw, method: str) -> Any:
        """The JSON body, or RetriableError at once for a complete body that is not JSON."""
        if raw.status == 204 or not raw.body:
            return None
        try:
            return decode_json(raw.body)
        except json.JSONDecodeError as exc:
            raise RetriableError(
                f"{method} {self.redact(raw.url)}: HTTP {raw.status} body is not valid JSON "
                f"({exc.msg} at character {exc.pos} of {len(raw.body)} bytes); usually a proxy "
                "error page or a cut-off response, so try again later"
            ) from None

    def get_bytes(
        self,
        url: str,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """Download media with a size cap, refusing non-public addresses unless allowed."""
        cap = self.max_media_bytes if max_bytes is None else max_bytes
        raw, attempts = self._execute(self._absolute(url), None, headers or {}, cap, guarded=True)
        return self._result(raw, None, attempts)

    def redact(self, url: str) -> str:
        """`url` with secret parameters and registered secrets replaced."""
        return redact_url(url, self.secret_params, self.scrubber)

    def throttle_for(self, url: str) -> Throttle:
        """The pacing state for `url`'s host (quotas are per host, not per client)."""
        host = urlsplit(url).netloc.lower()
        if host not in self._throttles:
            self._throttles[host] = Throttle(
                low_fraction=self.throttle_low_fraction,
                floor=self.throttle_floor,
                clock=self.clock,
                sleep=self.sleep,
            )
        return self._throttles[host]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request loop -----------------------------------------------------------------
    def _absolute(self, url_or_path: str) -> str:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url_or_path):
            return url_or_path
        if not self.base_url:
            raise ValueError(f"relative path {url_or_path!r} needs a client base_url")
        return f"{self.base_url}/{url_or_path.lstrip('/')}"

    def _execute(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        max_bytes: int,
        *,
        guarded: bool,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[_Raw, int]:
        """Send until success, a final answer, or the retry budget is spent."""
        attempt = 0  # retries so far (transient failures, 5xx, 429)
        redirects = 0
        while True:
            prepared = self._prepare(url, params, headers, method, body)
            shown = self.redact(prepared.url or url)
            if guarded:
                check_public_url(
                    prepared.url or url,
                    allow_hosts=self.allow_hosts,
                    allow_private=self.allow_private,
                )
            self._pace(prepared.url or url, shown, method)
            try:
                raw = self._send_once(prepared, shown, max_bytes, guarded=guarded, method=method)
            except _Transient as exc:
                attempt += 1
                log.debug(
                    "%s %s failed: %s (attempt %d)", method, shown, self._scrub(exc.reason), attempt
                )
                if attempt > self.max_retries:
                    raise RetriableError(
                        f"{method} {shown}: {self._scrub(exc.reason)}; gave up after {attempt} "
                        "attempts"
                    ) from None
                self.sleep(self._backoff(attempt))
                continue
            log.debug(
                "%s %s -> %d (%d bytes, attempt %d)",
                method,
                shown,
                raw.status,
                len(raw.body),
                attempt + 1,
            )
            status = raw.status
            if status in REDIRECT_STATUSES and "location" in raw.headers:
                redirects += 1
                if redirects > self.max_redirects:
                    raise HttpStatusError(shown, status, b"", " (too many redirects)", method)
                url, params = urljoin(raw.url, raw.headers["location"]), None
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body = "GET", None  # RFC 9110 section 15.4: what clients do
                continue
            if status == 429 or status >= 500:
                attempt += 1
                wait = self._retry_wait(raw, attempt)
                if attempt > self.max_retries:
                    raise RetriableError(
                        f"{method} {shown}: HTTP {status} {self._excerpt(raw.body)!r}; gave up "
                        f"after {attempt} attempts",
                        retry_after=wait,
                    )
                if status >= 500 and self.throttle_for(raw.url).delay() <= 0:
                    self.sleep(wait)  # 5xx without Retry-After: plain backoff
                continue  # a 429 (or Retry-After) is waited out by _pace
            self._raise_for_status(raw, shown, method)
            return raw, attempt + 1

    def _prepare(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        method: str = "GET",
        body: bytes | None = None,
    ) -> requests.PreparedRequest:
        secret_names = SECRET_PARAMS | {p.lower() for p in self.secret_params}
        for name, value in (params or {}).items():
            if name.lower() in secret_names and isinstance(value, str):
                self.scrubber.register(value)  # so it is scrubbed wherever it turns up
        merged = dict(headers)
        if urlsplit(url).netloc.lower() in self.auth_hosts:
            merged.update(self.auth_headers)
        request = requests.Request(
            method, url, params=dict(params or {}), headers=merged, data=body
        )
        try:
            return self.session.prepare_request(request)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            shown = self.redact(url)
            raise SkippableError(f"invalid URL {shown}: {self._scrub(str(exc))}") from None

    def _pace(self, url: str, shown: str, method: str = "GET") -> None:
        """Wait as the host's rate-limit state asks, or hand a long wait to the framework."""
        delay = self.throttle_for(url).delay()
        if delay <= 0:
            return
        if delay > self.max_rate_limit_wait:
            raise RetriableError(
                f"{method} {shown}: rate limited for another {delay:.0f}s, longer than the "
                f"{self.max_rate_limit_wait:.0f}s this client waits; retry after that",
                retry_after=delay,
            )
        log.debug("%s %s: pacing %.2fs for the rate limit", method, shown, delay)
        self.sleep(delay)

    def _retry_wait(self, raw: _Raw, attempt: int) -> float:
        """Seconds to wait before retrying a 429/5xx; a 429 without headers gets backoff."""
        throttle = self.throttle_for(raw.url)
        waited = throttle.delay()
        if waited > 0:
            return waited
        backoff = self._backoff(attempt)
        if raw.status == 429:
            # No usable reset in the headers: make the throttle wait the backoff out.
            state = raw.rate_limit
            reset_at = self.clock() + timedelta(seconds=backoff)
            throttle.update(
                RateLimitState(state.limit if state else None, 0, reset_at, "429-backoff")
            )
        return backoff

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter (uniform in [0, min(cap, base * 2^(n-1))])."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return self.rng() * ceiling

    def _send_once(
        self,
        prepared: requests.PreparedRequest,
        shown: str,
        max_bytes: int,
        *,
        guarded: bool,
        method: str = "GET",
    ) -> _Raw:
        try:
            response = self.session.send(
                prepared, stream=True, timeout=self.timeout, allow_redirects=False
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL) as exc:
            raise SkippableError(f"{method} {shown}: {self._scrub(str(exc))}") from None
        with response:
            if guarded:
                check_connected_peer(
                    prepared.url or "",
                    _peer_address(response),
                    allow_hosts=self.allow_hosts,
                    allow_private=self.allow_private,
                )
            state = parse_rate_limit(response.headers, self.clock())
            self.throttle_for(prepared.url or "").update(state)
            ok = 200 <= response.status_code < 300
            cap = max_bytes if ok else min(max_bytes, ERROR_BODY_LIMIT)
            body = self._read_body(response, shown, cap, strict=ok, method=method)
            return _Raw(response.status_code, prepared.url or "", response.headers, body, state)

    def _read_body(
        self,
        response: requests.Response,
        shown: str,
        cap: int,
        *,
        strict: bool,
        method: str = "GET",
    ) -> bytes:
        """Stream the body, refusing (strict) or cutting (error bodies) past `cap` bytes."""
        declared = _content_length(response)
        if strict and declared is not None and declared > cap:
            raise ResponseTooLargeError(shown, cap, declared, method)
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > cap:
                    if strict:
                        raise ResponseTooLargeError(shown, cap, total, method)
                    chunks.append(chunk[: cap - (total - len(chunk))])
                    break
                chunks.append(chunk)
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            requests.ConnectionError,
            requests.Timeout,
        ) as exc:
            expected = f"the declared {declared} bytes" if declared is not None else "its end"
            raise _Transient(f"response body cut off before {expected} arrived ({exc})") from None
        body = b"".join(chunks)
        encoded = "content-encoding" in response.headers
        if strict and declared is not None and not encoded and len(body) != declared:
            raise _Transient(
                f"response body cut off before the declared {declared} bytes arrived "
                f"(got {len(body)})"
            )
        return body

    def _raise_for_status(self, raw: _Raw, shown: str, method: str = "GET") -> None:
        status = raw.status
        if 200 <= status < 300:
            return
        body = raw.body
        if status in (401, 403):
            raise CredentialsError(shown, status, self._excerpt(body), method)
        if status in (404, 410):
            raise NotFound(shown, status, self._scrub_bytes(body), method=method)
        raise HttpStatusError(shown, status, self._scrub_bytes(body), method=method)

    # -- results and redaction -----------------------------------------------------------
    def _result(self, raw: _Raw, data: Any, attempts: int) -> HttpResult:
        return HttpResult(
            status=raw.status,
            url=self.redact(raw.url),
            headers=self._kept_headers(raw.headers),
            body=raw.body,
            data=data,
            links=_links(raw.headers),
            rate_limit=raw.rate_limit,
            attempts=attempts,
        )

    def _kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The response headers worth recording as capture metadata, redacted."""
        kept: dict[str, str] = {}
        for name, value in headers.items():
            lower = name.lower()
            if lower in SECRET_HEADERS:
                continue
            relevant = (
                lower in _KEPT_HEADERS
                or "ratelimit" in lower
                or "rate-limit" in lower
                or lower.endswith(("-request-id", "-trace-id"))
            )
            if not relevant:
                continue
            if lower == "link":
                value = re.sub(r"<([^>]*)>", lambda m: f"<{self.redact(m[1])}>", value)
            kept[lower] = self._scrub(value)
        return dict(sorted(kept.items()))

    def _scrub(self, text: str) -> str:
        return redact_text(text, self.secret_params, self.scrubber)

    def _scrub_bytes(self, body: bytes) -> bytes:
        if not self.scrubber:
            return body
        text = body.decode("utf-8", errors="surrogateescape")
        return self.scrubber.scrub(text).encode("utf-8", errors="surrogateescape")

    def _excerpt(self, body: bytes) -> str:
        return self._scrub(body[:EXCERPT_CHARS].decode("utf-8", errors="replace"))


def _content_length(response: requests.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _links(headers: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Parse the Link header (RFC 8288) into {rel: {"url": ..., ...}} like requests does."""
    value = headers.get("link")
    if not value:
        return {}
    links: dict[str, dict[str, str]] = {}
    for link in requests.utils.parse_header_links(value):
        key = link.get("rel") or link.get("url")
        if key:
            links[key] = link
    return links


def _peer_address(response: requests.Response) -> str | None:
    """The IP the socket is connected to, when urllib3 exposes it (best effort)."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        return None
    try:
        return str(sock.getpeername()[0])
    except (OSError, IndexError):
        return None
