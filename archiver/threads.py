"""Which thread a record belongs to: the one rule that ingest (the catalogue's
`records.thread_key`), the backfill of older archives and the evidence pack's
report all use, so an export can bring each selected post's thread with it.

A DM belongs to its conversation, a post to the thread its content names, and
a post that names none is its own thread. A tombstone carries deletion
evidence, not content, so it stays in the thread of its item's earlier version.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from archiver.canonical import sha256_hex
from archiver.export import content as c
from archiver.records import record_key
from storage.catalogue.models import records

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from storage.objects.base import ObjectStore

KEY_LENGTH = 255  # records.thread_key
BACKFILL_BATCH = 1000


def section_of(kind: str) -> str:
    """Posts and DMs are threaded apart: a conversation id is not a thread id."""
    return "dm" if kind == "dm" else "post"


def named_thread(fields: dict[str, Any]) -> str | None:
    """The thread a record's content names (a DM's conversation, else its thread),
    or None: a tombstone, or a post that names none."""
    if c.is_tombstone(fields):
        return None
    body = c.content(fields)
    thread = c.text_or_none(body.get("conversation_id")) if fields.get("kind") == "dm" else None
    return thread or c.text_or_none(body.get("thread_id"))


def thread_key(fields: dict[str, Any], earlier_key: str | None = None) -> str | None:
    """The catalogue's key of a record's thread, unique within (platform, account):
    its section and thread ('post:1004', 'dm:c9'). A tombstone takes `earlier_key`,
    the key of its item's previous version; with none, it is its item's own thread.
    None only for a tombstone whose earlier version is not yet keyed."""
    if c.is_tombstone(fields):
        if earlier_key is not None:
            return earlier_key
        if fields.get("prev_record_id"):
            return None
    section = section_of(str(fields.get("kind", "")))
    thread = named_thread(fields) or str(fields.get("native_id", ""))
    key = f"{section}:{thread}"
    if len(key) > KEY_LENGTH:  # a full digest keeps over-long ids apart
        key = f"{section}#sha256:{sha256_hex(thread.encode())}"
    return key


def backfill_thread_keys(engine: Engine, store: ObjectStore) -> int:
    """Fill `thread_key` of records archived before it existed, from their stored
    bytes, in leaf order (an earlier version is keyed before its tombstone), a
    batch per transaction. Idempotent: only NULL keys are read. Returns how many.
    A disposed record's bytes are gone, so its key stays unknown (NULL); it could
    only ever be listed as not included."""
    filled = 0
    after = -1
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(records.c.record_id, records.c.leaf_index, records.c.prev_record_id)
                .where(
                    records.c.thread_key.is_(None),
                    records.c.disposed_at.is_(None),
                    records.c.leaf_index > after,
                )
                .order_by(records.c.leaf_index)
                .limit(BACKFILL_BATCH)
            ).all()
            if not rows:
                return filled
            earlier = keys_of(conn, {r.prev_record_id for r in rows if r.prev_record_id})
            updates = []
            for row in rows:
                fields = json.loads(store.get(record_key(row.record_id)))
                key = thread_key(fields, earlier.get(row.prev_record_id or ""))
                earlier[row.record_id] = key
                if key is not None:
                    updates.append({"id": row.record_id, "key": key})
            if updates:
                conn.execute(
                    update(records)
                    .where(records.c.record_id == bindparam("id"))
                    .values(thread_key=bindparam("key")),
                    updates,
                )
            filled += len(updates)
            after = rows[-1].leaf_index


def keys_of(conn: Any, record_ids: set[str]) -> dict[str, str | None]:
    """The thread keys of these records (the earlier versions of tombstones)."""
    found: dict[str, str | None] = {}
    ids = sorted(record_ids)
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(records.c.record_id, records.c.thread_key).where(
                records.c.record_id.in_(ids[start : start + 500])
            )
        )
        found.update({r.record_id: r.thread_key for r in rows})
    return found
