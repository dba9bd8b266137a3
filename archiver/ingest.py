"""Ingest: decide new / edited / deleted / unchanged and write record, catalogue
row and log leaf so that either all exist or none do.

Order inside one transaction: lock the log head (serialises ingests, so leaf
indexes have no gaps), read the items' latest versions, insert the rows, write
the objects, commit. New records an active legal hold covers are held in the
same transaction (the `hold_new` hook, archiver/ingest_holds.py) and their
objects written with the legal hold on. If the object store fails, the
transaction rolls back and nothing is counted; if the commit fails after the
objects are written, they stay as uncatalogued objects that `verify` reports and
a re-ingest reuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from archiver.clock import Clock, parse_time
from archiver.errors import StorageError
from archiver.item import CapturedItem
from archiver.merkle import leaf_hash
from archiver.records import Record, build_record, content_fingerprint
from archiver.retention import RetentionRules
from archiver.threads import keys_of, thread_key
from storage.catalogue.db import advance_chain, lock_chain, write_transaction
from storage.catalogue.models import items, log_leaves, records
from storage.catalogue.retention import record_media
from storage.objects.base import NewObject, ObjectExistsError, ObjectStore

log = logging.getLogger(__name__)

NEW, EDITED, DELETED, UNCHANGED = "new", "edited", "deleted", "unchanged"
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Outcome:
    """What ingest did with one item."""

    platform: str
    account: str
    native_id: str
    status: str  # new | edited | deleted | unchanged
    record_id: str  # the new record, or the latest one when unchanged
    version: int


@dataclass
class IngestResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        totals = {NEW: 0, EDITED: 0, DELETED: 0, UNCHANGED: 0}
        for outcome in self.outcomes:
            totals[outcome.status] += 1
        return totals


@dataclass(frozen=True)
class NewBatch:
    """The records one ingest transaction adds and their catalogue rows, in the same
    order (leaf order), for the legal holds placed at ingest."""

    records: Sequence[Record]
    rows: Sequence[Mapping[str, Any]]


# Given the ingest's connection and batch, holds what an active matter covers and
# returns the record ids whose objects are to be written with their legal hold on.
HoldNew = Callable[[Connection, NewBatch], set[str]]


@dataclass
class _Latest:
    record_id: str
    version: int
    content_sha256: str
    deleted: bool
    row_id: int | None  # None: first seen in this batch


def batched(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Ingestor:
    def __init__(
        self,
        engine: Engine,
        store: ObjectStore,
        clock: Clock,
        rules: RetentionRules,
        batch_size: int = 5000,
        hold_new: HoldNew | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.rules = rules
        self.batch_size = batch_size
        self.hold_new = hold_new

    def ingest(self, captured: Iterable[CapturedItem], run_id: int | None = None) -> IngestResult:
        result = IngestResult()
        for batch in batched(captured, self.batch_size):
            result.outcomes.extend(self._ingest_batch(batch, run_id))
        return result

    def would_change(self, captured: Sequence[CapturedItem]) -> list[bool]:
        """Whether ingesting each item now would write a record (read-only): the
        capture pipeline downloads media only for those."""
        with self.engine.connect() as conn:
            latest = self._load_latest(conn, captured)
        decisions = []
        for item in captured:
            key = (item.platform, item.account, item.native_id)
            fingerprint = content_fingerprint(item)
            decisions.append(self._decide(latest.get(key), item, fingerprint) != UNCHANGED)
        return decisions

    def _ingest_batch(self, batch: Sequence[CapturedItem], run_id: int | None) -> list[Outcome]:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                with write_transaction(self.engine) as conn:
                    return self._apply(conn, batch, run_id)
            except SqlIntegrityError as exc:
                # Another process archived one of these items first (PostgreSQL lets two
                # transactions read the same 'latest'); re-deciding sees its rows.
                log.info(
                    "ingest conflict with a concurrent writer, retry %d: %s", attempt, exc.orig
                )
        raise StorageError(
            f"ingest kept conflicting with concurrent writers ({CONFLICT_RETRIES} tries)"
        )

    def _apply(
        self, conn: Connection, batch: Sequence[CapturedItem], run_id: int | None
    ) -> list[Outcome]:
        tree_size, _ = lock_chain(conn, "log")
        latest = self._load_latest(conn, batch)
        known = self._known_versions(conn, [i for i in batch if i.historical])
        now = self.clock.now()
        outcomes: list[Outcome] = []
        new_records: list[Record] = []
        record_rows: list[dict[str, Any]] = []
        leaf_rows: list[dict[str, Any]] = []
        media_rows: list[dict[str, Any]] = []
        # A tombstone stays in its item's thread: the thread keys of earlier versions.
        deleted = [latest.get((i.platform, i.account, i.native_id)) for i in batch if i.deleted]
        thread_keys = keys_of(conn, {state.record_id for state in deleted if state})
        for item in batch:
            key = (item.platform, item.account, item.native_id)
            state = latest.get(key)
            fingerprint = content_fingerprint(item)
            status = self._decide(state, item, fingerprint)
            if item.historical and fingerprint in known.get(key, ()):
                status = UNCHANGED
            if status == UNCHANGED:
                assert state is not None
                outcomes.append(Outcome(*key, UNCHANGED, state.record_id, state.version))
                continue
            version = 1 if state is None else state.version + 1
            observation = {NEW: "observed", EDITED: "edited", DELETED: "deleted"}[status]
            if state is not None and state.deleted and status == NEW:
                observation = "observed"  # came back after a deletion: a new version, not new item
            captured_at = item.capture.captured_at or now
            record = build_record(
                item,
                version=version,
                prev_record_id=state.record_id if state else None,
                observation=observation,
                captured_at=captured_at,
                fingerprint=fingerprint,
            )
            created_at = _created_at(item)
            governing = self.rules.governing(
                item.platform, item.account, item.kind, created_at, captured_at
            )
            new_records.append(record)
            thread = thread_key(record.fields, thread_keys.get(state.record_id) if state else None)
            thread_keys[record.record_id] = thread
            media_rows.extend(
                {"record_id": record.record_id, "sha256": sha} for sha in sorted(_blobs_shown(item))
            )
            record_rows.append(
                {
                    "record_id": record.record_id,
                    "platform": item.platform,
                    "account": item.account,
                    "native_id": item.native_id,
                    "kind": item.kind,
                    "version": version,
                    "prev_record_id": state.record_id if state else None,
                    "observation": observation,
                    "content_sha256": fingerprint,
                    "size": len(record.data),
                    "captured_at": captured_at,
                    "created_at": created_at,
                    "retain_until": governing.retain_until,
                    "retention_policy": governing.policy,
                    "leaf_index": tree_size,
                    "capture_run_id": run_id,
                    "indexed": False,
                    "thread_key": thread,
                }
            )
            leaf_rows.append(
                {
                    "leaf_index": tree_size,
                    "record_id": record.record_id,
                    "leaf_hash": leaf_hash(bytes.fromhex(record.record_id)).hex(),
                }
            )
            tree_size += 1
            known.setdefault(key, set()).add(fingerprint)
            latest[key] = _Latest(
                record.record_id,
                version,
                fingerprint,
                item.deleted,
                state.row_id if state else None,
            )
            outcomes.append(Outcome(*key, status, record.record_id, version))
        if not record_rows:
            return outcomes
        conn.execute(records.insert(), record_rows)
        conn.execute(log_leaves.insert(), leaf_rows)
        if media_rows:
            conn.execute(record_media.insert(), media_rows)
        self._save_items(conn, batch, latest, now)
        advance_chain(conn, "log", tree_size, None)
        held = self.hold_new(conn, NewBatch(new_records, record_rows)) if self.hold_new else set()
        # Objects last, in this thread: a conflicting concurrent writer has already
        # failed the inserts, and a store failure still rolls the rows back. (A writer
        # thread was measured slower: each file system call hands the GIL back and
        # forth with the thread building records.)
        self._write_objects(new_records, record_rows, held)
        return outcomes

    @staticmethod
    def _decide(state: _Latest | None, item: CapturedItem, fingerprint: str) -> str:
        if state is None:
            return DELETED if item.deleted else NEW
        if item.deleted:
            return UNCHANGED if state.deleted else DELETED
        if state.deleted:
            return NEW
        return UNCHANGED if state.content_sha256 == fingerprint else EDITED

    def _load_latest(
        self, conn: Connection, batch: Sequence[CapturedItem]
    ) -> dict[tuple[str, str, str], _Latest]:
        """One query per 500 native ids (not one per account): ids rarely collide
        across platforms and accounts, and the few extra rows are filtered here."""
        wanted = {(i.platform, i.account, i.native_id) for i in batch}
        latest: dict[tuple[str, str, str], _Latest] = {}
        for chunk in batched(sorted({key[2] for key in wanted}), 500):
            query = select(
                items.c.id,
                items.c.platform,
                items.c.account,
                items.c.native_id,
                items.c.latest_record_id,
                items.c.latest_version,
                items.c.content_sha256,
                items.c.deleted,
            ).where(items.c.native_id.in_(chunk))
            for row in conn.execute(query):
                key = (row.platform, row.account, row.native_id)
                if key in wanted:
                    latest[key] = _Latest(
                        row.latest_record_id,
                        row.latest_version,
                        row.content_sha256,
                        row.deleted,
                        row.id,
                    )
        return latest

    @staticmethod
    def _known_versions(
        conn: Connection, historical: Sequence[CapturedItem]
    ) -> dict[tuple[str, str, str], set[str]]:
        """Content fingerprints of every archived version of items that arrive as history."""
        known: dict[tuple[str, str, str], set[str]] = {}
        for item in historical:
            key = (item.platform, item.account, item.native_id)
            if key in known:
                continue
            rows = conn.execute(
                select(records.c.content_sha256).where(
                    records.c.platform == item.platform,
                    records.c.account == item.account,
                    records.c.native_id == item.native_id,
                )
            )
            known[key] = set(rows.scalars())
        return known

    @staticmethod
    def _save_items(
        conn: Connection,
        batch: Sequence[CapturedItem],
        latest: dict[tuple[str, str, str], _Latest],
        now: datetime,
    ) -> None:
        kinds = {(i.platform, i.account, i.native_id): i.kind for i in batch}
        inserts, updates = [], []
        for key, state in latest.items():
            if key not in kinds:
                continue
            values = {
                "latest_record_id": state.record_id,
                "latest_version": state.version,
                "content_sha256": state.content_sha256,
                "deleted": state.deleted,
                "last_changed_at": now,
            }
            if state.row_id is None:
                platform, account, native_id = key
                inserts.append(
                    {
                        "platform": platform,
                        "account": account,
                        "native_id": native_id,
                        "kind": kinds[key],
                        "first_captured_at": now,
                        **values,
                    }
                )
            else:
                updates.append({"row_id": state.row_id, **values})
        if inserts:
            conn.execute(items.insert(), inserts)
        if updates:
            # Keys of the dicts other than row_id become the SET clause.
            conn.execute(items.update().where(items.c.id == bindparam("row_id")), updates)

    def _write_objects(
        self, new_records: list[Record], rows: list[dict[str, Any]], held: set[str]
    ) -> None:
        objects = [
            NewObject(r.key, r.data, row["retain_until"], legal_hold=r.record_id in held)
            for r, row in zip(new_records, rows, strict=True)
        ]
        try:
            self.store.put_many(objects)
        except ObjectExistsError:
            # Left by an earlier attempt whose commit failed: keep what is there if it is
            # byte-identical (the key is its hash), write the rest.
            for obj in objects:
                if not self.store.exists(obj.key):
                    self.store.put(
                        obj.key, obj.data, retain_until=obj.retain_until, legal_hold=obj.legal_hold
                    )
                elif self.store.get(obj.key) != obj.data:
                    raise StorageError(f"{obj.key} exists with different bytes") from None
                else:  # the catalogue has never had it: only this batch's matters hold it
                    self.store.set_legal_hold(obj.key, obj.legal_hold)


def _created_at(item: CapturedItem) -> datetime | None:
    text = item.content.get("created_at")
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def _blobs_shown(item: CapturedItem) -> set[str]:
    """Every blob a record shows: the media and their thumbnails."""
    blobs = {m.sha256 for m in item.media}
    blobs.update(
        str(m.metadata["thumbnail_sha256"])
        for m in item.media
        if m.metadata.get("thumbnail_sha256")
    )
    return blobs
