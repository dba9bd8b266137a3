"""Records: canonical bytes whose SHA-256 is the record id and the storage key.

docs/records.md documents every field so a third party can re-derive ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiver.canonical import canonical_bytes, parse_canonical, sha256_hex
from archiver.clock import format_time
from archiver.item import CapturedItem

SCHEMA = "social-archiver/record/1"
OBSERVATIONS = ("observed", "edited", "deleted")


def record_key(record_id: str) -> str:
    """records/sha256/ab/cd/<hex>.json: a two-level fan-out keeps directories small."""
    return f"records/sha256/{record_id[:2]}/{record_id[2:4]}/{record_id}.json"


def media_key(sha256: str) -> str:
    return f"media/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def content_fingerprint(item: CapturedItem) -> str:
    """What decides 'edited': the normalised content (connectors put media URLs or ids
    in it), so deciding needs no media download."""
    return sha256_hex(canonical_bytes(dict(item.content)))


@dataclass(frozen=True)
class Record:
    record_id: str
    data: bytes
    fields: dict[str, Any]

    @property
    def key(self) -> str:
        return record_key(self.record_id)

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        """Load stored bytes; ValueError if they are not a canonical record."""
        fields = parse_canonical(data)
        if not isinstance(fields, dict) or fields.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} record")
        return cls(sha256_hex(data), data, fields)


def build_record(
    item: CapturedItem,
    *,
    version: int,
    prev_record_id: str | None,
    observation: str,
    captured_at: datetime,
    fingerprint: str | None = None,
) -> Record:
    if observation not in OBSERVATIONS:
        raise ValueError(f"unknown observation {observation!r}")
    fields = {
        "schema": SCHEMA,
        "platform": item.platform,
        "account": item.account,
        "native_id": item.native_id,
        "kind": item.kind,
        "version": version,
        "prev_record_id": prev_record_id,
        "observation": observation,
        "content": dict(item.content),
        "content_sha256": fingerprint or content_fingerprint(item),
        "raw": item.raw,
        "media": [m.as_json() for m in item.media],
        "capture": item.capture.as_json(format_time(captured_at)),
    }
    data = canonical_bytes(fields)
    return Record(sha256_hex(data), data, fields)
