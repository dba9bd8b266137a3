"""Constants and helpers shared by the Reddit connector tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TOKEN = "reddit-SECRET-4c1de9-token-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_REDDIT_TOKEN"
HANDLE = "u/archiver_test"


def floats_in(value: Any, path: str = "content") -> list[str]:
    """Where `value` holds a float (normalised content must hold none)."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []
