"""Entities in Facebook and Instagram plain text: hashtags, @mentions and links.

Graph serves message and caption text as plain text with no entity ranges (Facebook's
message_tags name Pages and people, not hashtags), so they are found here, the same way
for API captures and for export imports so both normalise alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# A hashtag starts after a non-word character and runs over letters, digits, marks and _.
_HASHTAG = re.compile(r"(?<![\w&])#(\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)")
_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def hashtags(text: str) -> list[str]:
    """Distinct hashtags in order of first use, as written (without '#')."""
    return _distinct(m.group(1) for m in _HASHTAG.finditer(text))


def at_mentions(text: str) -> list[str]:
    """Distinct @handles (Instagram usernames) in order of first use."""
    return _distinct(m.group(1) for m in _MENTION.finditer(text))


def urls(text: str) -> list[str]:
    """Distinct http(s) links in order of first use, trailing punctuation dropped."""
    return _distinct(m.group(0).rstrip(_TRAILING) for m in _URL.finditer(text))


def person(actor: Any) -> tuple[str | None, str | None]:
    """(author, author_name) of a Graph `from` object: the Instagram username or the
    Facebook id (stable, unlike a display name) as author, the name as author_name."""
    if not isinstance(actor, Mapping):
        return None, None
    handle = actor.get("username") or actor.get("id")
    name = actor.get("name") or actor.get("username")
    return (str(handle) if handle else None, str(name) if name else None)


def _distinct(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)
