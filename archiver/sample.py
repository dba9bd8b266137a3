"""A small built-in sample for `archiver quickstart`: a fictional credit union's
posts, a reply, a DM, an edit and a deletion, shaped like a Mastodon API payload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from archiver import __version__
from archiver.item import CaptureContext, CapturedItem

PLATFORM = "sample"
ACCOUNT = "@harbourcu@social.example"
_CAPTURE = CaptureContext(
    connector="sample",
    connector_version=__version__,
    request_url="https://social.example/api/v1/accounts/1/statuses",
)

_POSTS = [
    ("1001", "post", None, "Our branches close at 1pm on Friday for staff training. #community"),
    ("1002", "post", None, "New savings rate: 4.1% APY on 12-month certificates. Terms apply."),
    ("1003", "reply", "1002", "@member Yes, the rate applies to existing members too."),
    ("1004", "dm", None, "Hello, please call us about your loan application (ref 88213)."),
    ("1005", "post", None, "Join our free financial literacy workshop on 3 March!"),
]


def _item(native_id: str, kind: str, parent: str | None, text: str, created: str) -> CapturedItem:
    raw = {
        "id": native_id,
        "created_at": created,
        "content": f"<p>{text}</p>",
        "in_reply_to_id": parent,
        "visibility": "direct" if kind == "dm" else "public",
        "account": {"id": "1", "acct": "harbourcu"},
    }
    content = {
        "text": text,
        "author": ACCOUNT,
        "created_at": created,
        "in_reply_to": parent,
        "url": f"https://social.example/@harbourcu/{native_id}",
    }
    return CapturedItem(PLATFORM, ACCOUNT, native_id, kind, content, raw, _CAPTURE)


def first_capture() -> Iterator[CapturedItem]:
    for n, (native_id, kind, parent, text) in enumerate(_POSTS):
        yield _item(native_id, kind, parent, text, f"2026-03-0{n + 1}T09:00:00.000Z")


def second_capture() -> Iterator[CapturedItem]:
    """A day later: 1002 was edited (rate corrected), 1005 deleted, the rest unchanged."""
    for n, (native_id, kind, parent, text) in enumerate(_POSTS):
        created = f"2026-03-0{n + 1}T09:00:00.000Z"
        if native_id == "1002":
            yield _item(native_id, kind, parent, text.replace("4.1%", "3.9%"), created)
        elif native_id == "1005":
            evidence = {
                "status": 404,
                "body": {"error": "Record not found"},
                "observed_at": datetime(2026, 3, 6, tzinfo=UTC).isoformat(),
            }
            yield CapturedItem(
                PLATFORM,
                ACCOUNT,
                native_id,
                kind,
                evidence,
                {"error": "Record not found"},
                _CAPTURE,
                deleted=True,
            )
        else:
            yield _item(native_id, kind, parent, text, created)
