"""Disposition: remove what may go, prove what went.

A record may go when its retain-until has passed, it is indexed (so every hold's
scope has seen it) and no active matter holds it; a media blob may go when every
record showing it goes too and no matter holds it. The content is deleted from
the object store and the index; the catalogue row and the log leaf stay, marked
disposed, and a signed disposition report (what, when, by whom, under which
policy) is stored and appended to the log, so `verify` knows what is gone on purpose.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, exists, select

from archiver.canonical import canonical_bytes, sha256_hex
from archiver.clock import format_time
from archiver.holds import CHUNK, HoldService
from archiver.ingest import batched
from archiver.merkle import leaf_hash
from archiver.records import media_key, record_key
from storage.catalogue.db import advance_chain, lock_chain, write_transaction
from storage.catalogue.models import log_leaves, records
from storage.catalogue.retention import dispositions, hold_media, hold_records, holds, record_media

if TYPE_CHECKING:
    from archiver.archive import Archive

SCHEMA = "social-archiver/disposition/1"


def disposition_key(report_id: str) -> str:
    return f"dispositions/{report_id}.json"


@dataclass
class DispositionPlan:
    records: list[dict[str, Any]] = field(default_factory=list)
    media: list[str] = field(default_factory=list)


@dataclass
class DispositionResult:
    plan: DispositionPlan
    dry_run: bool
    report_id: str | None = None


class DispositionService:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.holds = HoldService(archive)

    def plan(
        self, now: datetime | None = None, record_ids: list[str] | None = None
    ) -> DispositionPlan:
        """Exactly what would go now (or, for an erasure, which of `record_ids`)."""
        self.archive.search.index_pending()
        self.holds.apply_to_new()
        now = now or self.archive.clock.now()
        held = (
            select(hold_records.c.record_id)
            .join(holds, holds.c.id == hold_records.c.hold_id)
            .where(holds.c.status == "active", hold_records.c.record_id == records.c.record_id)
        )
        query = (
            select(
                records.c.record_id,
                records.c.platform,
                records.c.account,
                records.c.native_id,
                records.c.version,
                records.c.retention_policy,
                records.c.retain_until,
            )
            .where(
                records.c.disposed_at.is_(None),
                records.c.retain_until <= now,
                records.c.indexed.is_(True),
                ~exists(held),
            )
            .order_by(records.c.leaf_index)
        )
        plan = DispositionPlan()
        with self.archive.engine.connect() as conn:
            for chunk in self._chunks(conn, query, record_ids):
                plan.records.extend(
                    {
                        "record_id": r.record_id,
                        "platform": r.platform,
                        "account": r.account,
                        "native_id": r.native_id,
                        "version": r.version,
                        "policy": r.retention_policy,
                        "retain_until": format_time(r.retain_until),
                    }
                    for r in chunk
                )
            plan.media = self._media_going(conn, {r["record_id"] for r in plan.records})
        return plan

    @staticmethod
    def _chunks(conn: Connection, query: Any, record_ids: list[str] | None) -> Iterator[list[Any]]:
        if record_ids is None:
            yield list(conn.execute(query))
            return
        for chunk in batched(record_ids, CHUNK):
            yield list(conn.execute(query.where(records.c.record_id.in_(chunk))))

    @staticmethod
    def _media_going(conn: Connection, going: set[str]) -> list[str]:
        """Blobs shown only by records that go now or went before, held by no matter."""
        candidates: set[str] = set()
        for chunk in batched(sorted(going), CHUNK):
            candidates.update(
                conn.execute(
                    select(record_media.c.sha256).where(record_media.c.record_id.in_(chunk))
                ).scalars()
            )
        result = []
        for sha in sorted(candidates):
            users = conn.execute(
                select(record_media.c.record_id)
                .join(records, records.c.record_id == record_media.c.record_id)
                .where(record_media.c.sha256 == sha, records.c.disposed_at.is_(None))
            ).scalars()
            if any(user not in going for user in users):
                continue
            held = conn.execute(
                select(hold_media.c.sha256)
                .join(holds, holds.c.id == hold_media.c.hold_id)
                .where(and_(hold_media.c.sha256 == sha, holds.c.status == "active"))
            ).first()
            if held is None:
                result.append(sha)
        return result

    def dispose(
        self,
        dry_run: bool = False,
        reason: str = "retention expired",
        record_ids: list[str] | None = None,
    ) -> DispositionResult:
        plan = self.plan(record_ids=record_ids)
        result = DispositionResult(plan, dry_run)
        audit = {
            "dry_run": dry_run,
            "reason": reason,
            "records": len(plan.records),
            "media": len(plan.media),
        }
        if dry_run or not plan.records:
            self.archive.audit.record(self.archive.actor, "dispose", audit)
            return result
        now = self.archive.clock.now()
        report = {
            "schema": SCHEMA,
            "disposed_at": format_time(now),
            "actor": self.archive.actor,
            "reason": reason,
            "records": plan.records,
            "media": plan.media,
        }
        signature = base64.b64encode(self.archive.signer.sign(canonical_bytes(report))).decode()
        data = canonical_bytes(
            {"report": report, "signature": signature, "key_id": self.archive.signer.key_id}
        )
        report_id = sha256_hex(data)
        going = [r["record_id"] for r in plan.records]
        with write_transaction(self.archive.engine) as conn:
            # Deleting first: a bucket that refuses (a lock we did not know of) stops the
            # run before the catalogue claims anything went.
            # One call: the store checks every key before it removes any.
            self.archive.store.delete_many(
                [record_key(r) for r in going] + [media_key(sha) for sha in plan.media]
            )
            for chunk in batched(going, CHUNK):
                conn.execute(
                    records.update().where(records.c.record_id.in_(chunk)).values(disposed_at=now)
                )
            self.archive.store.put(disposition_key(report_id), data)
            tree_size, _ = lock_chain(conn, "log")
            conn.execute(
                log_leaves.insert().values(
                    leaf_index=tree_size,
                    record_id=report_id,
                    leaf_hash=leaf_hash(bytes.fromhex(report_id)).hex(),
                )
            )
            advance_chain(conn, "log", tree_size + 1, None)
            conn.execute(
                dispositions.insert().values(
                    report_id=report_id,
                    leaf_index=tree_size,
                    disposed_at=now,
                    actor=self.archive.actor,
                    records=len(going),
                    media=len(plan.media),
                    object_key=disposition_key(report_id),
                )
            )
            self.archive.audit.record(
                self.archive.actor, "dispose", {**audit, "report_id": report_id}, conn=conn
            )
        self.archive.search.index.delete(going)
        result.report_id = report_id
        return result
