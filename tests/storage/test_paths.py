"""Key validation as properties: whatever the text, an accepted key stays inside
the store's root, and every kind of dangerous key is refused with a reason."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from archiver.errors import StorageError
from storage.objects.paths import (
    _PLAIN_KEY,
    MAX_KEY_BYTES,
    full_key_problem,
    key_problem,
    validate_key,
)

ROOT = "/srv/archive/objects"

segment_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\", max_codepoint=0x2FFF
    ),
    min_size=1,
    max_size=30,
).filter(lambda segment: not segment.startswith("."))
valid_keys = st.lists(segment_text, min_size=1, max_size=6).map("/".join)


def stays_inside_root(key: str) -> bool:
    joined = os.path.normpath(os.path.join(ROOT, key))
    return joined.startswith(ROOT + "/") and os.path.isabs(joined)


@given(valid_keys)
@example("records/sha256/ab/cd/abcd.json")
@example("a b/ c/d.e")
def test_safe_keys_are_accepted_unchanged(key: str) -> None:
    assert key_problem(key) is None
    assert validate_key(key) == key
    assert stays_inside_root(key)


@given(st.text(max_size=60))
def test_any_accepted_text_is_a_safe_relative_path(text: str) -> None:
    if key_problem(text) is not None:
        return
    segments = text.split("/")
    assert all(s and s not in (".", "..") and not s.startswith(".") for s in segments)
    assert "\\" not in text and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    assert len(text.encode("utf-8")) <= MAX_KEY_BYTES
    assert stays_inside_root(text)


@given(st.from_regex(_PLAIN_KEY, fullmatch=True))
def test_the_fast_path_accepts_only_what_the_full_rules_accept(key: str) -> None:
    assert full_key_problem(key) is None


BREAKERS = {
    "absolute": lambda key, _: "/" + key,
    "parent": lambda key, at: "/".join([*key.split("/")[:at], "..", *key.split("/")[at:]]),
    "current": lambda key, at: "/".join([*key.split("/")[:at], ".", *key.split("/")[at:]]),
    "hidden": lambda key, at: "/".join([*key.split("/")[:at], ".x", *key.split("/")[at:]]),
    "empty segment": lambda key, at: "/".join([*key.split("/")[:at], "", *key.split("/")[at:]]),
    "trailing slash": lambda key, _: key + "/",
    "backslash": lambda key, at: key[:at] + "\\" + key[at:],
    "NUL": lambda key, at: key[:at] + "\x00" + key[at:],
    "newline": lambda key, at: key[:at] + "\n" + key[at:],
    "C1 control": lambda key, at: key[:at] + "\x9b" + key[at:],
    "lone surrogate": lambda key, at: key[:at] + "\ud800" + key[at:],
    "too long": lambda key, _: "/".join([key] + ["x" * 200] * 6),
}


@given(valid_keys, st.sampled_from(sorted(BREAKERS)), st.integers(min_value=0, max_value=7))
def test_every_dangerous_feature_is_refused(key: str, breaker: str, position: int) -> None:
    broken = BREAKERS[breaker](key, position)
    problem = key_problem(broken)
    assert problem is not None, broken
    with pytest.raises(StorageError, match="invalid object key"):
        validate_key(broken)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/a", "absolute"),
        ("a/../b", "'..'"),
        ("a\\b", "backslash"),
        ("a\x07", "U+0007"),
        ("a//b", "empty segment"),
        (".locks/ledger.jsonl", "reserved"),
    ],
)
def test_the_reason_is_given(key: str, reason: str) -> None:
    with pytest.raises(StorageError, match="invalid object key") as caught:
        validate_key(key)
    assert reason in str(caught.value)


def test_a_non_string_key_is_refused() -> None:
    assert key_problem(b"bytes") == "a key must be a str, not bytes"
