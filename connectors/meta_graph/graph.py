"""A thin Graph API layer over the shared HttpClient: versioned paths, cursor paging that
never follows `paging.next`, Graph error codes sorted by what to do next, pacing on Meta's
usage headers, and raw payloads with the token-bearing paging URLs redacted.

Graph reports most failures as HTTP 400 with a JSON body
``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``;
the code, not the status, says what happened:
  - 100 with subcode 33 ("Object with ID ... does not exist"): the object is gone
    (`ObjectGone`, deletion evidence) - or the token lost access to it, which is why
    reconcile first checks that the Page / Instagram user itself is still readable;
  - 190 / 102 (invalid or expired token), 10 and 200-299 (permission): fatal;
  - 4, 17, 32, 613 and 80000-80014 (application, user, page and business use case
    rate limits): waited out when the usage headers say access returns within the
    client's `max_rate_limit_wait` (estimated_time_to_regain_access), as the client waits
    out a 429 anywhere else; otherwise retriable later. is_transient: retriable later.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from archiver.errors import FatalError, RetriableError, SkippableError
from connectors.http import (
    CredentialsError,
    HttpClient,
    HttpResult,
    HttpStatusError,
    NotFound,
    RateLimitState,
    decode_json,
)

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613} | set(range(80000, 80015)))
TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10} | set(range(200, 300)))
TRANSIENT_CODES = frozenset({1, 2})
GONE_CODE, GONE_SUBCODE = 100, 33
# Query parameters of a `paging.next` URL that move the page; everything else (fields,
# limit, access_token...) is ours to set, so a next URL can never smuggle anything in.
PAGING_PARAMS = ("after", "until", "since", "__paging_token", "offset", "pretty")
_CODE_IN_TEXT = re.compile(r'"code"\s*:\s*(\d+)')


@dataclass(frozen=True)
class GraphErrorInfo:
    """The `error` object of a Graph error response (whatever of it was present)."""

    status: int
    code: int | None
    subcode: int | None
    type: str | None
    message: str | None
    transient: bool
    body: bytes

    @classmethod
    def from_body(cls, status: int, body: bytes) -> GraphErrorInfo:
        error: Mapping[str, Any] = {}
        try:
            parsed = decode_json(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping) and isinstance(parsed.get("error"), Mapping):
            error = parsed["error"]
        return cls(
            status=status,
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            type=_str(error.get("type")),
            message=_str(error.get("message")),
            transient=error.get("is_transient") is True,
            body=body,
        )

    @property
    def says_gone(self) -> bool:
        if self.code != GONE_CODE:
            return False
        return self.subcode == GONE_SUBCODE or "does not exist" in (self.message or "")


class ObjectGone(SkippableError):
    """Graph says the object no longer exists: evidence for a tombstone."""

    def __init__(self, url: str, info: GraphErrorInfo) -> None:
        self.url = url
        self.info = info
        detail = f"code {info.code}/{info.subcode}" if info.code is not None else "HTTP 404"
        super().__init__(f"GET {url}: object gone ({detail}): {info.message or ''}")

    def evidence(self) -> dict[str, Any]:
        """What the platform answered, for a tombstone's content."""
        return {
            "status": self.info.status,
            "error_code": self.info.code,
            "error_subcode": self.info.subcode,
            "error_type": self.info.type,
            "message": self.info.message,
            "body": self.info.body.decode("utf-8", errors="surrogateescape"),
            "request_url": self.url,
        }

    def raw(self) -> Any:
        try:
            return decode_json(self.info.body)
        except ValueError:
            return self.info.body.decode("utf-8", errors="surrogateescape")


@dataclass(frozen=True)
class Page:
    """One page of an edge: its objects, the response, and the parameters of the next page
    (None at the end)."""

    result: HttpResult
    objects: list[dict[str, Any]]
    next_params: dict[str, str] | None


class GraphApi:
    """Graph API requests for one account; paths are relative to the versioned root."""

    def __init__(
        self,
        client: HttpClient,
        *,
        usage_slowdown_percent: int = 80,
        usage_window_seconds: float = 3600,
        app_secret: str | None = None,
        token: str | None = None,
    ) -> None:
        self.client = client
        self.usage_slowdown_percent = usage_slowdown_percent
        self.usage_window_seconds = usage_window_seconds
        self._proof: str | None = None
        if app_secret and token:
            client.scrubber.register(app_secret)
            # appsecret_proof: HMAC-SHA256 of the token keyed with the app secret (hex).
            self._proof = hmac.new(
                app_secret.encode(), token.encode(), hashlib.sha256
            ).hexdigest()
            client.scrubber.register(self._proof)

    # -- requests -------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> HttpResult:
        """GET `path` (e.g. "/me/feed"); Graph errors become the errors the framework acts on.

        A request refused for a rate limit is sent again once access returns, when Meta's
        usage headers say that is soon enough for the client to wait (at most max_retries
        times); otherwise the RetriableError hands the wait to the scheduler."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if self._proof:
            query["appsecret_proof"] = self._proof
        waits = 0
        while True:
            error: Exception
            try:
                result = self.client.get_json(path, params=query)
            except NotFound as exc:
                raise ObjectGone(exc.url, GraphErrorInfo.from_body(exc.status, exc.body)) from None
            except CredentialsError as exc:
                code = _code_in(str(exc))
                if code not in RATE_LIMIT_CODES:
                    raise
                error, url, throttled = self._rate_limited(exc.url, code), exc.url, True
            except HttpStatusError as exc:
                code = GraphErrorInfo.from_body(exc.status, exc.body).code
                error, url = self._classified(exc), exc.url
                throttled = code in RATE_LIMIT_CODES
            else:
                self._pace_on_usage(result)
                return result
            if not (throttled and waits < self.client.max_retries and self._access_soon(url)):
                raise error from None
            waits += 1  # the client's throttle holds the next request until access returns

    def object(self, object_id: str, fields: str) -> HttpResult:
        """One object by id; ObjectGone when Graph says it no longer exists."""
        return self.get(f"/{quote(object_id, safe='')}", {"fields": fields})

    def page(self, path: str, params: Mapping[str, Any]) -> Page:
        result = self.get(path, params)
        data = result.data
        if not isinstance(data, Mapping):
            raise RetriableError(
                f"GET {result.url}: expected a JSON object, got {type(data).__name__}"
            )
        objects = [o for o in data.get("data") or [] if isinstance(o, dict)]
        return Page(result, objects, next_page_params(data.get("paging"), params))

    def pages(self, path: str, params: Mapping[str, Any], max_pages: int | None = None
              ) -> Iterator[Page]:
        """Every page of an edge, following cursors rebuilt on our own root."""
        current: Mapping[str, Any] = params
        served = 0
        while True:
            page = self.page(path, current)
            yield page
            served += 1
            if page.next_params is None or (max_pages is not None and served >= max_pages):
                return
            current = {**params, **page.next_params}

    # -- raw payloads ---------------------------------------------------------------------
    def clean(self, payload: Any) -> Any:
        """A copy of `payload` safe to store: every `paging.next` / `paging.previous` URL
        (Graph writes the access token into them) redacted, cursors kept; and, as a
        second net, any registered secret scrubbed from any string."""
        cleaned = copy.deepcopy(payload)
        self._redact_paging(cleaned)
        return self._scrubbed(cleaned) if self.client.scrubber else cleaned

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.client.scrubber.scrub(value)
        if isinstance(value, list):
            return [self._scrubbed(v) for v in value]
        if isinstance(value, dict):
            return {k: self._scrubbed(v) for k, v in value.items()}
        return value

    def _redact_paging(self, value: Any) -> None:
        if isinstance(value, dict):
            paging = value.get("paging")
            if isinstance(paging, dict):
                for key in ("next", "previous"):
                    if isinstance(paging.get(key), str):
                        paging[key] = self.client.redact(paging[key])
            for nested in value.values():
                self._redact_paging(nested)
        elif isinstance(value, list):
            for nested in value:
                self._redact_paging(nested)

    # -- errors and pacing ----------------------------------------------------------------
    def _classified(self, exc: HttpStatusError) -> Exception:
        info = GraphErrorInfo.from_body(exc.status, exc.body)
        if info.says_gone:
            return ObjectGone(exc.url, info)
        if info.code in RATE_LIMIT_CODES:
            return self._rate_limited(exc.url, info.code)
        if info.code in TOKEN_CODES:
            return FatalError(
                f"GET {exc.url}: Graph rejected the access token (code {info.code}: "
                f"{info.message}); generate a new Page/User token and put it in the account's "
                "token_env variable"
            )
        if info.code in PERMISSION_CODES:
            return FatalError(
                f"GET {exc.url}: the token lacks a permission (code {info.code}: {info.message}); "
                "grant it to the app and re-issue the token (see docs/platforms/)"
            )
        if info.transient or info.code in TRANSIENT_CODES:
            return RetriableError(
                f"GET {exc.url}: transient Graph error {info.code}: {info.message}"
            )
        return exc

    def _rate_limited(self, url: str, code: int | None) -> RetriableError:
        throttle = self.client.throttle_for(self.client.base_url or url)
        wait = max(throttle.delay(), 60.0)
        return RetriableError(
            f"GET {url}: Graph rate limit reached (code {code}); retry in {wait:.0f}s",
            retry_after=wait,
        )

    def _access_soon(self, url: str) -> bool:
        """Whether the usage headers of the refused request said when access returns, and
        that is within what the client waits in a run (else the scheduler waits)."""
        throttle = self.client.throttle_for(url)
        state = throttle.state
        if state is None or state.source != "facebook-usage" or state.reset_at is None:
            return False
        return 0 < throttle.delay() <= self.client.max_rate_limit_wait

    def _pace_on_usage(self, result: HttpResult) -> None:
        """Meta's usage headers say how much of the quota is used, not when it refills
        (unless access is already blocked): past the slowdown threshold, tell the client's
        throttle the rest must last the rolling window, so it spreads requests out."""
        state = result.rate_limit
        if state is None or state.source != "facebook-usage" or state.reset_at is not None:
            return
        if state.remaining is None or 100 - state.remaining < self.usage_slowdown_percent:
            return
        throttle = self.client.throttle_for(result.url)
        reset_at = self.client.clock() + timedelta(seconds=self.usage_window_seconds)
        throttle.update(RateLimitState(100, state.remaining, reset_at, "facebook-usage-window"))


def next_page_params(paging: Any, current: Mapping[str, Any]) -> dict[str, str] | None:
    """The paging parameters of the next page, from `paging.next` (only when Graph says
    there is one) and `paging.cursors.after`; None at the end or when they would repeat."""
    if not isinstance(paging, Mapping) or not isinstance(paging.get("next"), str):
        return None
    found = {k: v for k, v in parse_qsl(urlsplit(paging["next"]).query) if k in PAGING_PARAMS}
    found.pop("pretty", None)
    cursors = paging.get("cursors")
    if "after" not in found and isinstance(cursors, Mapping) and cursors.get("after"):
        found["after"] = str(cursors["after"])
    if not found:
        return None
    if all(str(current.get(k)) == v for k, v in found.items()):
        return None  # the same page again: stop rather than loop
    return found


def _code_in(text: str) -> int | None:
    match = _CODE_IN_TEXT.search(text)
    return int(match.group(1)) if match else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
