"""SearchDoc: what the index knows about one record, in plain Python types.

Built by the archive from a record (archiver/search_service.py); converted here to
and from the index's stored form. Times are aware UTC here and naive UTC in
Whoosh, which ignores tzinfo (COMPLIANCE.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any) -> str:
    """A str Whoosh can encode: lone surrogates (kept losslessly in records for
    invalid platform UTF-8) become U+FFFD in the index only."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _LONE_SURROGATE.sub("\ufffd", text)


def clean_list(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        return ()
    return tuple(t for t in (clean_text(v).strip() for v in values if v is not None) if t)


def naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the index: use aware UTC")
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SearchDoc:
    record_id: str
    platform: str
    account: str
    native_id: str
    kind: str
    version: int
    observation: str
    captured: datetime
    prev_record_id: str | None = None
    text: str = ""
    author: str = ""
    thread: str = ""
    url: str = ""
    created: datetime | None = None
    edited: bool = False
    deleted: bool = False
    has_media: bool = False
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    lang: str = ""
    holds: tuple[str, ...] = field(default=())
    latest: bool = True

    def with_changes(self, **changes: Any) -> SearchDoc:
        return replace(self, **changes)

    def to_fields(self) -> dict[str, Any]:
        """The document as Whoosh add_document keyword arguments."""
        created = naive_utc(self.created)
        values: dict[str, Any] = {
            "record_id": self.record_id,
            "prev_record_id": self.prev_record_id,
            "platform": clean_text(self.platform),
            "account": clean_text(self.account),
            "native_id": clean_text(self.native_id),
            "kind": self.kind,
            "version": self.version,
            "observation": self.observation,
            "captured": naive_utc(self.captured),
            "edited": self.edited,
            "deleted": self.deleted,
            "has_media": self.has_media,
            "latest": self.latest,
            "month": created.strftime("%Y-%m").encode() if created else b"",
        }
        optional = {
            "text": clean_text(self.text),
            "author": clean_text(self.author),
            "thread": clean_text(self.thread),
            "url": clean_text(self.url),
            "lang": clean_text(self.lang),
            "hashtags": " ".join(map(clean_text, self.hashtags)),
            "mentions": " ".join(map(clean_text, self.mentions)),
            "urls": " ".join(map(clean_text, self.urls)),
            "holds": ",".join(map(clean_text, self.holds)),
        }
        # Whoosh stores what it is given: leave empty fields out rather than store "".
        values.update({name: value for name, value in optional.items() if value})
        if created is not None:
            values["created"] = created
        return values

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> SearchDoc:
        """Rebuild from the index's stored fields (for demotion and hold updates)."""

        def split(name: str, sep: str | None = None) -> tuple[str, ...]:
            value = stored.get(name) or ""
            return tuple(p for p in (s.strip() for s in value.split(sep)) if p)

        captured = aware_utc(stored["captured"])
        assert captured is not None
        return cls(
            record_id=stored["record_id"],
            prev_record_id=stored.get("prev_record_id"),
            platform=stored["platform"],
            account=stored["account"],
            native_id=stored["native_id"],
            kind=stored["kind"],
            version=int(stored["version"]),
            observation=stored["observation"],
            captured=captured,
            text=stored.get("text", ""),
            author=stored.get("author", ""),
            thread=stored.get("thread", ""),
            url=stored.get("url", ""),
            created=aware_utc(stored.get("created")),
            edited=bool(stored.get("edited")),
            deleted=bool(stored.get("deleted")),
            has_media=bool(stored.get("has_media")),
            hashtags=split("hashtags"),
            mentions=split("mentions"),
            urls=split("urls"),
            lang=stored.get("lang", ""),
            holds=split("holds", ","),
            latest=bool(stored.get("latest")),
        )
