"""Building captured items in tests without repeating the boilerplate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from archiver.item import CaptureContext, CapturedItem

CAPTURE = CaptureContext(connector="test", connector_version="0", request_url="https://x.test/api")


def make_item(
    native_id: str,
    text: str = "hello",
    *,
    platform: str = "mastodon",
    account: str = "@org@x.test",
    kind: str = "post",
    deleted: bool = False,
    raw: Any = None,
    captured_at: datetime | None = None,
    **content: Any,
) -> CapturedItem:
    capture = (
        CAPTURE
        if captured_at is None
        else CaptureContext("test", "0", "https://x.test/api", captured_at=captured_at)
    )
    body = {"text": text, "created_at": "2025-12-01T10:00:00Z", **content}
    payload = raw if raw is not None else {"id": native_id, "content": text, "favourites": 3}
    return CapturedItem(platform, account, native_id, kind, body, payload, capture, deleted=deleted)
