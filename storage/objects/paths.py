"""Object-key validation shared by every backend.

A key is a relative, '/'-separated path of safe segments. Refusing dangerous
keys here (BagIt-style: no absolute paths, no '..') means the local store can
join a key to its root without ever leaving it, and a key that works on one
backend works on all of them.
"""

from __future__ import annotations

import re

from archiver.errors import StorageError

# S3 allows 1,024 bytes of UTF-8 per key; the local store leaves room in each
# 255-byte file name (NAME_MAX) for the temp-file suffix it writes before linking.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 200

# C0 controls, DEL and C1 controls: invisible in logs, unsafe in file names.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The common case in one regex (ASCII, short segments, none starting with '.'):
# validating 500 keys per ingest batch should cost microseconds, not milliseconds.
_PLAIN_KEY = re.compile(
    r"(?:[!-\-0-\[\]-~][ -.0-\[\]-~]{0,199}/)*[!-\-0-\[\]-~][ -.0-\[\]-~]{0,199}"
)


def key_problem(key: object) -> str | None:
    """Why `key` is not a valid object key, or None when it is."""
    if not isinstance(key, str):
        return f"a key must be a str, not {type(key).__name__}"
    if len(key) <= MAX_KEY_BYTES and key.isascii() and _PLAIN_KEY.fullmatch(key):
        return None
    return full_key_problem(key)


def full_key_problem(key: str) -> str | None:
    """The rules one by one, with the reason; key_problem's regex is a shortcut."""
    if key == "":
        return "the key is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "the key is not valid UTF-8 (it holds a lone surrogate)"
    if size > MAX_KEY_BYTES:
        return f"the key is {size} bytes of UTF-8; the limit is {MAX_KEY_BYTES}"
    if key.startswith("/"):
        return "the key is an absolute path; keys are relative, like 'records/sha256/ab/...'"
    if "\\" in key:
        return "the key holds a backslash; use '/' to separate segments"
    control = _CONTROL.search(key)
    if control:
        return f"the key holds the control character U+{ord(control.group()):04X}"
    for segment in key.split("/"):
        problem = _segment_problem(segment)
        if problem:
            return problem
    return None


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is safe, else raise StorageError saying why."""
    problem = key_problem(key)
    if problem:
        raise StorageError(f"invalid object key {key!r}: {problem}")
    return key


def _segment_problem(segment: str) -> str | None:
    if segment == "":
        return "the key has an empty segment ('//', or a leading or trailing '/')"
    if segment in (".", ".."):
        return f"the key has a {segment!r} segment; keys may not walk the tree"
    if segment.startswith("."):
        # Names starting with '.' are the stores' own: temp files, the lock ledger.
        return f"segment {segment!r} starts with '.', which is reserved for the store's own files"
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        return f"segment {segment[:20]!r}... is longer than {MAX_SEGMENT_BYTES} bytes of UTF-8"
    return None
