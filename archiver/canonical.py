"""Canonical JSON: the exact bytes a record id is the SHA-256 of.

The rules (docs/canonical-form.md states them for third parties):
UTF-8; object keys sorted by Unicode code point; no whitespace between tokens;
strings with only the escapes JSON requires (quote, backslash, control
characters as \\uXXXX except \\b \\f \\n \\r \\t), everything else literal UTF-8;
lone surrogates (which UTF-8 cannot carry) written as \\uXXXX escapes so that
invalid input is kept losslessly; integers in plain decimal; floats in the
shortest form that round-trips (Python's repr); NaN and infinities refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def canonical_bytes(value: Any) -> bytes:
    """Encode a JSON value canonically; ValueError for NaN or non-JSON types."""
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Only lone surrogates fail to encode; inside JSON they can only be in strings,
        # where an escape is the lossless, valid-JSON way to keep them.
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_canonical(data: bytes) -> Any:
    """Decode canonical bytes; ValueError if they are not in canonical form."""
    value = json.loads(data.decode("utf-8"))
    if canonical_bytes(value) != data:
        raise ValueError("not in canonical form (re-encoding gives different bytes)")
    return value


def decode_lossless(body: bytes) -> str:
    """Decode bytes as UTF-8, keeping invalid bytes as lone surrogates U+DC80..U+DCFF
    (PEP 383 'surrogateescape'); `.encode('utf-8', 'surrogateescape')` gives the bytes back."""
    return body.decode("utf-8", errors="surrogateescape")
