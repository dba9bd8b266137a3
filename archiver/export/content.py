"""Reading a record's fields the way every part of a pack shows them (load file,
custody, reports): text, author, times, links, deletion evidence.

Records come from many platforms and keep whatever the platform sent, so every
accessor tolerates missing or oddly typed values instead of failing the export.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from archiver.clock import parse_time

# Lone surrogates (kept from invalid platform UTF-8, docs/records.md) cannot be
# written as UTF-8 text; C0 controls other than tab and newline break load files
# and terminals. Both are shown as U+FFFD in derived files; the record keeps them.
_UNPRINTABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
UTC = ZoneInfo("UTC")


def clean(value: object) -> str:
    """Text safe to write into any derived file (not escaped: escaping is the writer's)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _UNPRINTABLE.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


def text_or_none(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def content(fields: dict[str, Any]) -> dict[str, Any]:
    value = fields.get("content")
    return value if isinstance(value, dict) else {}


def is_tombstone(fields: dict[str, Any]) -> bool:
    return fields.get("observation") == "deleted"


def capture(fields: dict[str, Any]) -> dict[str, Any]:
    value = fields.get("capture")
    return value if isinstance(value, dict) else {}


def media_list(fields: dict[str, Any]) -> list[dict[str, Any]]:
    value = fields.get("media")
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def participants(body: dict[str, Any]) -> list[str]:
    value = body.get("participants")
    if not isinstance(value, list):
        return []
    return [p for p in (text_or_none(v) for v in value) if p]


def deletion_summary(
    body: dict[str, Any], captured_at: str | None, zone: ZoneInfo | None = None
) -> str:
    """One sentence of a tombstone's evidence: when and how the deletion was seen."""
    observed = text_or_none(body.get("observed_at")) or captured_at
    when = shown_time(observed, zone or UTC) if observed else "an unrecorded time"
    status = text_or_none(body.get("status"))
    request = text_or_none(body.get("request_url"))
    how = []
    if request:
        how.append(f"a request to {request}")
    if status:
        how.append(f"answered HTTP {status}" if request else f"HTTP {status}")
    reason = text_or_none(body.get("reason"))
    sentence = f"Deletion observed at {when}"
    if how:
        sentence += ": " + " ".join(how)
    if reason:
        sentence += f" ({reason})"
    return sentence + "."


def record_text(fields: dict[str, Any]) -> str:
    """What goes into a record's .txt file: the post's text (with its content
    warning), or for a tombstone the deletion evidence in words."""
    body = content(fields)
    if is_tombstone(fields):
        lines = [deletion_summary(body, text_or_none(capture(fields).get("captured_at")))]
        response = text_or_none(body.get("body"))
        if response:
            lines.append(f"Response body: {response}")
        return clean("\n".join(lines)) + "\n"
    text = text_or_none(body.get("text")) or ""
    warning = text_or_none(body.get("content_warning"))
    if warning:
        text = f"[content warning: {warning}]\n{text}"
    return clean(text) + ("\n" if text else "")


def parse_moment(value: object) -> datetime | None:
    text = text_or_none(value)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


_UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")


def iso_utc(value: object) -> str | None:
    """RFC 3339 UTC to the second ('2026-03-02T09:00:00Z'), or None if not a time."""
    if isinstance(value, str) and _UTC_STAMP.fullmatch(value):  # already UTC: the usual case
        try:
            datetime.fromisoformat(value[:19])
        except ValueError:
            return None
        return value[:19] + "Z"
    moment = parse_moment(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def shown_time(value: object, zone: ZoneInfo = UTC) -> str:
    """A time as people read it, always with its zone: '2026-03-02 09:00:00 UTC', or
    '2026-03-02 10:00:00 CET (UTC+01:00)' in another zone."""
    moment = parse_moment(value)
    if moment is None:
        return clean(value) if value else "time unknown"
    local = moment.astimezone(zone)
    if zone == UTC:
        return local.strftime("%Y-%m-%d %H:%M:%S UTC")
    offset = local.strftime("%z")
    return f"{local.strftime('%Y-%m-%d %H:%M:%S %Z')} (UTC{offset[:3]}:{offset[3:]})"


def web_link(value: object) -> str | None:
    """The URL if it is a plain http(s) link to a host, else None: anything else
    (javascript:, data:, relative, with control characters or spaces) is shown as
    text and never becomes a link."""
    url = text_or_none(value)
    if not url or len(url) > 4096 or _UNPRINTABLE.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url
