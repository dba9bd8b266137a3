"""Secrets never survive redaction: by parameter/header name, and by registered value."""

from __future__ import annotations

import io
import logging

from hypothesis import given
from hypothesis import strategies as st

from connectors.http.redact import (
    REDACTED,
    RedactingFilter,
    SecretScrubber,
    redact_headers,
    redact_text,
    redact_url,
)


def test_secret_query_params_are_redacted_others_kept_verbatim() -> None:
    url = "https://graph.example/v19.0/me/feed?fields=id%2Cmessage&access_token=EAAB123&limit=25"
    assert redact_url(url) == (
        "https://graph.example/v19.0/me/feed?fields=id%2Cmessage&access_token=[REDACTED]&limit=25"
    )


def test_every_default_param_name_case_insensitively() -> None:
    names = [
        "access_token",
        "TOKEN",
        "key",
        "api_key",
        "client_secret",
        "password",
        "sig",
        "Signature",
        "refresh_token",
        "appsecret_proof",
    ]
    url = "https://h/p?" + "&".join(f"{n}=s3cr3t{i}" for i, n in enumerate(names))
    out = redact_url(url)
    assert "s3cr3t" not in out
    assert out.count(REDACTED) == len(names)


def test_caller_listed_params() -> None:
    out = redact_url("https://h/p?session_key=abc&x=1", extra_params=["session_key"])
    assert out == "https://h/p?session_key=[REDACTED]&x=1"


def test_userinfo_password_and_fragment_token() -> None:
    out = redact_url("https://bot:hunter2@h/cb#access_token=abc&state=xyz")
    assert out == "https://bot:[REDACTED]@h/cb#access_token=[REDACTED]&state=xyz"


def test_registered_secret_in_path_is_scrubbed() -> None:
    scrubber = SecretScrubber(["T0k/en+="])
    out = redact_url("https://h/hooks/T0k%2Fen%2B%3D/run?a=T0k/en+=", scrubber=scrubber)
    assert "T0k" not in out


def test_headers_are_redacted_by_name() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "cookie": "a=b",
        "Set-Cookie": "s=1",
        "X-Api-Key": "k",
        "Proxy-Authorization": "Basic x",
        "Accept": "application/json",
    }
    out = redact_headers(headers)
    assert out == {
        "Authorization": REDACTED,
        "cookie": REDACTED,
        "Set-Cookie": REDACTED,
        "X-Api-Key": REDACTED,
        "Proxy-Authorization": REDACTED,
        "Accept": "application/json",
    }


def test_headers_scrub_registered_values_elsewhere() -> None:
    out = redact_headers({"X-Debug": "token=zzz-secret"}, scrubber=SecretScrubber(["zzz-secret"]))
    assert out == {"X-Debug": f"token={REDACTED}"}


def test_empty_secret_is_ignored() -> None:
    assert SecretScrubber([""]).scrub("anything") == "anything"


def test_replacement_cannot_rebuild_a_secret() -> None:
    # "[REDACTED]" followed by "x" would contain "D]x" again without the fixpoint.
    assert "D]x" not in SecretScrubber(["D]x"]).scrub("D]xx")
    assert "RED" not in SecretScrubber(["RED"]).scrub("a RED b")


@given(
    secret=st.text(min_size=1, max_size=20),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    repeats=st.integers(1, 3),
)
def test_registered_secret_never_survives_scrub(
    secret: str, before: str, after: str, repeats: int
) -> None:
    text = before + (secret + after) * repeats
    assert secret not in SecretScrubber([secret]).scrub(text)


@given(
    secret=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20),
    other=st.text(max_size=10),
)
def test_registered_secret_never_survives_in_a_url(secret: str, other: str) -> None:
    from urllib.parse import quote

    scrubber = SecretScrubber([secret])
    url = f"https://h/{quote(secret, safe='')}?q={quote(other)}&x={quote(secret)}#{secret}"
    assert secret not in redact_url(url, scrubber=scrubber)
    assert quote(secret, safe="") not in redact_url(url, scrubber=scrubber)


def test_logging_filter_scrubs_messages_args_and_tracebacks() -> None:
    secret = "sk-live-000111222"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(SecretScrubber([secret])))
    logger = logging.getLogger("tests.redact.filter")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.debug("calling with %s", secret)
        try:
            raise RuntimeError(f"server echoed {secret}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text
    assert "calling with [REDACTED]" in text
    assert "RuntimeError: server echoed [REDACTED]" in text


def test_free_text_quoting_a_url_is_redacted() -> None:
    message = "Max retries exceeded with url: /items?access_token=abc.def-1&Sig=zz%3D&max_id=3 ("
    out = redact_text(message)
    assert out == (
        "Max retries exceeded with url: /items?access_token=[REDACTED]&Sig=[REDACTED]&max_id=3 ("
    )
    assert redact_text("monkey=banana&key=k1") == "monkey=banana&key=[REDACTED]"
