"""Keep credentials out of everything we store or log.

Two complementary nets: by *name* (query parameters and headers that carry secrets
on some platform) and by *value* (the actual token strings a client was given,
wherever they turn up: a path, an error body, an exception message).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

REDACTED = "[REDACTED]"

SECRET_PARAMS: frozenset[str] = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "key",
        "api_key",
        "apikey",
        "client_secret",
        "secret",
        "password",
        "passwd",
        "sig",
        "signature",
        "oauth_token",
        "oauth_signature",
        "appsecret_proof",  # Facebook Graph
        "code",  # OAuth authorisation code
        "session",
        "sessionid",
    }
)
"""Query parameter names (case-insensitive) whose values are always redacted."""

SECRET_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-amz-security-token",
        "x-goog-api-key",
    }
)
"""Header names (case-insensitive) whose values are always redacted."""


class SecretScrubber:
    """Replaces registered secret values with ``[REDACTED]`` in any text.

    Each secret is also registered in its percent-encoded forms, since tokens often
    travel inside URLs. The empty string is ignored (it is "in" every string).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str) -> None:
        if not secret:
            return
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            self._secrets.add(form)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def _contains_secret(self, text: str) -> bool:
        return any(s in text for s in self._secrets)

    def scrub(self, text: str) -> str:
        """Return `text` with no registered secret left in it.

        A replacement can itself complete a secret with the text beside it (secret
        "D]x" in "D]xx" gives "[REDACTED]x", which holds "D]x" again), so repeat to a
        fixpoint; if that does not settle quickly, delete instead of
        marking, which shrinks the text on every pass and so always ends.
        """
        if not self._secrets or not self._contains_secret(text):
            return text
        ordered = sorted(self._secrets, key=len, reverse=True)
        for marker in (REDACTED, ""):
            if any(s in marker for s in ordered):
                continue
            for _ in range(8 if marker else len(text) + 1):
                for secret in ordered:
                    text = text.replace(secret, marker)
                if not self._contains_secret(text):
                    return text
        return text  # unreachable: deletion strictly shrinks the text until clean


def _redact_pairs(part: str, names: frozenset[str]) -> str:
    """Redact values in a `k=v&k=v` string, leaving every other byte as it was."""
    out = []
    for piece in part.split("&"):
        name, sep, _value = piece.partition("=")
        if sep and unquote_plus(name).strip().lower() in names:
            out.append(f"{name}={REDACTED}")
        else:
            out.append(piece)
    return "&".join(out)


def redact_url(
    url: str,
    extra_params: Iterable[str] = (),
    scrubber: SecretScrubber | None = None,
) -> str:
    """The URL with secret query (and fragment) values, userinfo passwords and
    registered secret values replaced by ``[REDACTED]``; safe to store and log."""
    names = SECRET_PARAMS | {p.lower() for p in extra_params}
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _password = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if has_password else netloc
    # OAuth implicit grants put access_token in the fragment (RFC 6749 section 4.2.2).
    query = _redact_pairs(parts.query, names)
    fragment = _redact_pairs(parts.fragment, names) if "=" in parts.fragment else parts.fragment
    rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    return scrubber.scrub(rebuilt) if scrubber else rebuilt


def redact_text(
    text: str,
    extra_params: Iterable[str] = (),
    scrubber: SecretScrubber | None = None,
) -> str:
    """Free text (an exception message quoting a URL) with `name=value` pairs of secret
    parameters redacted, and registered secret values scrubbed."""
    names = sorted(SECRET_PARAMS | {p.lower() for p in extra_params}, key=len, reverse=True)
    pattern = re.compile(
        r"(?i)(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, names)) + r")=[^&\s'\"#<>]+"
    )
    text = pattern.sub(lambda m: f"{m[1]}={REDACTED}", text)
    return scrubber.scrub(text) if scrubber else text


def redact_headers(
    headers: Mapping[str, str],
    extra_names: Iterable[str] = (),
    scrubber: SecretScrubber | None = None,
) -> dict[str, str]:
    """A copy of `headers` with credential headers' values replaced by ``[REDACTED]``."""
    names = SECRET_HEADERS | {n.lower() for n in extra_names}
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in names:
            out[name] = REDACTED
        else:
            out[name] = scrubber.scrub(str(value)) if scrubber else str(value)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from messages and tracebacks.

    Install it on a *handler* (handler filters see records propagated from every
    logger, logger filters only their own): ``handler.addFilter(RedactingFilter(s))``.
    """

    def __init__(self, scrubber: SecretScrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrubber.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrubber.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrubber.scrub(record.stack_info)
        return True
