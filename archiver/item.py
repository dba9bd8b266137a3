"""What a connector hands the archive: one observation of one platform item.

Connectors import this module and nothing else of the core. The capture
pipeline turns items into records (new, edited, deleted or unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

KINDS = ("post", "reply", "comment", "dm", "story", "reel", "ad", "profile")

# Normalised content keys every connector fills where the platform has them, so
# search, reports and exports treat all platforms alike (JSON values only, no floats):
#   text (plain text, HTML stripped), author (handle), author_name, created_at (RFC 3339),
#   url, in_reply_to (native id), thread_id (root / conversation id), lang,
#   hashtags, mentions, urls (lists of str), media (list of {url, type, description}),
#   visibility, content_warning, edited_at, boost_of, poll, participants (DMs),
#   hidden (moderated comments), conversation_id (DMs).
CONTENT_FIELDS = (
    "text",
    "author",
    "author_name",
    "created_at",
    "url",
    "in_reply_to",
    "thread_id",
    "lang",
    "hashtags",
    "mentions",
    "urls",
    "media",
    "visibility",
    "content_warning",
    "edited_at",
    "boost_of",
    "poll",
    "participants",
    "hidden",
    "conversation_id",
)


@dataclass(frozen=True)
class MediaRef:
    """A media blob already stored content-addressed under media/sha256/..."""

    sha256: str
    size: int
    content_type: str
    source_url: str | None = None
    width: int | None = None
    height: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # format, EXIF, thumbnail key...

    def as_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "source_url": self.source_url,
            "width": self.width,
            "height": self.height,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Attachment:
    """Media a connector saw on an item; the capture pipeline downloads and stores it."""

    url: str
    media_type: str = "image"  # image | video | gifv | audio | unknown
    description: str | None = None


@dataclass(frozen=True)
class CaptureContext:
    """How the item was obtained, for the chain of custody. Never holds secrets:
    the request URL and headers are redacted by the HTTP client before they get here."""

    connector: str
    connector_version: str
    request_url: str | None = None
    response_headers: Mapping[str, str] = field(default_factory=dict)
    captured_at: datetime | None = None  # None: the archive's clock at ingest
    source: str = "api"  # "api", or "export" for platform export files
    source_sha256: str | None = None  # the export file's hash, for imports

    def as_json(self, captured_at: str) -> dict[str, Any]:
        return {
            "captured_at": captured_at,
            "connector": self.connector,
            "connector_version": self.connector_version,
            "request_url": self.request_url,
            "response_headers": dict(sorted(self.response_headers.items())),
            "source": self.source,
            "source_sha256": self.source_sha256,
        }


@dataclass(frozen=True)
class CapturedItem:
    """One item as the platform showed it now, or evidence that it is gone.

    `content` is the normalised form (text, author, created_at, url, thread_id,
    in_reply_to, ...) and decides whether the item changed; `raw` is the payload
    exactly as the API returned it and is kept but not compared, so counters
    such as likes do not create new versions.
    """

    platform: str
    account: str
    native_id: str
    kind: str
    content: Mapping[str, Any]
    raw: Any
    capture: CaptureContext
    deleted: bool = False  # a tombstone: `content` carries the deletion evidence
    # An earlier version from the platform's edit history: archived only if no archived
    # version of the item has this content, so re-reading a history adds nothing.
    historical: bool = False
    attachments: tuple[Attachment, ...] = ()  # to download (their URLs belong in `content` too)
    media: tuple[MediaRef, ...] = ()  # stored blobs, filled in by the capture pipeline

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        for name in ("platform", "account", "native_id"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
