"""Legal holds (matters): everything a matter's scope covers is kept, whatever its
retention says, until the matter is released.

A hold covers every version and tombstone its query matches (restricted to its
accounts and dates), and the media they show; the bytes are held where they
live (the object's legal hold), the membership in the catalogue, the matter
names in the search index. New captures are held at ingest, in the transaction
that archives them (archiver/ingest_holds.py); `apply_to_new` re-checks what was
indexed since, a safety net for a matter placed while a batch was being ingested,
and disposition runs it first, so nothing escapes a hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from archiver.errors import UsageError
from archiver.ingest import batched
from archiver.records import media_key, record_key
from search.query import QuerySyntaxError
from storage.catalogue.db import write_transaction
from storage.catalogue.models import records
from storage.catalogue.retention import hold_media, hold_records, holds, record_media

if TYPE_CHECKING:
    from archiver.archive import Archive

CHUNK = 500


@dataclass
class HoldReport:
    matter: str
    records: int = 0
    media: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    query: str
    accounts: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None

    @classmethod
    def of(cls, hold: Any) -> Scope:
        """The scope of a `holds` row."""
        return cls(hold.query, tuple(hold.accounts), hold.date_from, hold.date_to)

    def admits(self, account: str, created_at: datetime | None, captured_at: datetime) -> bool:
        when = created_at or captured_at
        return (
            (not self.accounts or account in self.accounts)
            and (self.date_from is None or when >= self.date_from)
            and (self.date_to is None or when <= self.date_to)
        )


def matching_ids(archive: Archive, query: str) -> set[str]:
    """Every version and tombstone the query matches; a bad query is a UsageError."""
    try:
        return archive.search.index.matching_ids(query, latest_only=False)
    except QuerySyntaxError as exc:
        raise UsageError(str(exc)) from None


class HoldService:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    # -- create ----------------------------------------------------------------
    def create(self, matter: str, scope: Scope, reason: str) -> HoldReport:
        if not matter.strip():
            raise UsageError("a matter needs a name")
        if not reason.strip():
            raise UsageError("a legal hold needs a reason (--reason): it goes in the audit trail")
        if scope.date_from and scope.date_to and scope.date_from > scope.date_to:
            raise UsageError("--from is after --to")
        with self.archive.engine.connect() as conn:
            if conn.execute(select(holds.c.id).where(holds.c.matter == matter)).first():
                raise UsageError(f"matter {matter!r} exists already (see `archiver hold show`)")
        self.archive.search.index_pending()  # the scope must see every record
        matched = self._matching(scope, self._indexed_through())
        report = HoldReport(matter)
        with write_transaction(self.archive.engine) as conn:
            hold_id = conn.execute(
                holds.insert().values(
                    matter=matter,
                    query=scope.query,
                    accounts=list(scope.accounts),
                    date_from=scope.date_from,
                    date_to=scope.date_to,
                    reason=reason,
                    status="active",
                    created_at=self.archive.clock.now(),
                    created_by=self.archive.actor,
                    applied_through=self._indexed_through(conn),
                )
            ).inserted_primary_key[0]
            report.records, report.media = self._add_members(conn, hold_id, matched)
            self.archive.audit.record(
                self.archive.actor,
                "hold-create",
                {
                    "matter": matter,
                    "query": scope.query,
                    "accounts": list(scope.accounts),
                    "from": _text(scope.date_from),
                    "to": _text(scope.date_to),
                    "reason": reason,
                    "records": report.records,
                    "media": report.media,
                },
                conn=conn,
            )
        self._sync_index([r for r, _ in matched])
        if not matched:
            report.warnings.append(
                f"the query matches nothing now; matter {matter!r} still holds future captures"
            )
        overlapping = self._overlaps(matter)
        if overlapping:
            report.warnings.append(f"overlaps with active matters: {', '.join(overlapping)}")
        return report

    def _matching(self, scope: Scope, through: int, after: int = -1) -> list[tuple[str, int]]:
        """(record id, leaf index) of every not-disposed record in scope."""
        ids = matching_ids(self.archive, scope.query)
        found: list[tuple[str, int]] = []
        with self.archive.engine.connect() as conn:
            for chunk in batched(sorted(ids), CHUNK):
                rows = conn.execute(
                    select(
                        records.c.record_id,
                        records.c.leaf_index,
                        records.c.account,
                        records.c.created_at,
                        records.c.captured_at,
                    ).where(
                        records.c.record_id.in_(chunk),
                        records.c.disposed_at.is_(None),
                        records.c.leaf_index > after,
                        records.c.leaf_index <= through,
                    )
                )
                found.extend(
                    (row.record_id, row.leaf_index)
                    for row in rows
                    if scope.admits(row.account, row.created_at, row.captured_at)
                )
        return sorted(found, key=lambda pair: pair[1])

    def _add_members(
        self, conn: Connection, hold_id: int, matched: Sequence[tuple[str, int]]
    ) -> tuple[int, int]:
        record_ids = [record_id for record_id, _ in matched]
        media = self._insert_members(conn, hold_id, record_ids)
        # The bytes are held where they live, inside this transaction: if the store
        # refuses, the catalogue does not claim a hold that is not there.
        store = self.archive.store
        store.set_legal_holds((record_key(r) for r in record_ids), True)
        store.set_legal_holds((media_key(m) for m in media), True)
        return len(record_ids), len(media)

    @staticmethod
    def _insert_members(conn: Connection, hold_id: int, record_ids: Sequence[str]) -> list[str]:
        """Membership rows for the records and the media they show; returns the blobs
        newly held (a blob an earlier version shows may be held by the matter already)."""
        for chunk in batched(record_ids, CHUNK):
            conn.execute(
                hold_records.insert(), [{"hold_id": hold_id, "record_id": r} for r in chunk]
            )
        shown: set[str] = set()
        for chunk in batched(record_ids, CHUNK):
            shown.update(
                conn.execute(
                    select(record_media.c.sha256).where(record_media.c.record_id.in_(chunk))
                ).scalars()
            )
        media = sorted(shown - _members(conn, hold_media.c.sha256, hold_id, sorted(shown)))
        for chunk in batched(media, CHUNK):
            conn.execute(hold_media.insert(), [{"hold_id": hold_id, "sha256": m} for m in chunk])
        return media

    # -- new captures ------------------------------------------------------------
    def active(self, conn: Connection) -> list[Any]:
        """The active matters' rows (one query: ingest asks it once per batch)."""
        return list(conn.execute(select(holds).where(holds.c.status == "active")))

    def add_at_ingest(self, conn: Connection, hold: Any, record_ids: Sequence[str]) -> None:
        """Hold records being ingested in `conn`'s transaction: membership rows, the
        media they show held where they live, the extension audited. The ingest writes
        the records' own objects with their legal hold on (they do not exist yet)."""
        media = self._insert_members(conn, hold.id, record_ids)
        self.archive.store.set_legal_holds((media_key(m) for m in media), True)
        self._audit_extension(conn, hold, len(record_ids), len(media), "ingest")

    def apply_to_new(self) -> int:
        """Hold what was indexed since each active hold last looked and is not held by it
        yet (ingest holds new captures itself; this catches a matter placed while a
        batch was being ingested); returns how many."""
        through = self._indexed_through()
        added = 0
        for hold in self._active():
            if hold.applied_through >= through:
                continue
            matched = self._matching(Scope.of(hold), through, after=hold.applied_through)
            with write_transaction(self.archive.engine) as conn:
                held = _members(conn, hold_records.c.record_id, hold.id, [r for r, _ in matched])
                fresh = [(r, i) for r, i in matched if r not in held]
                count, media = self._add_members(conn, hold.id, fresh)
                conn.execute(
                    holds.update().where(holds.c.id == hold.id).values(applied_through=through)
                )
                if count:
                    self._audit_extension(conn, hold, count, media, "index")
            self._sync_index([r for r, _ in fresh])
            added += count
        return added

    def _audit_extension(
        self, conn: Connection, hold: Any, record_count: int, media_count: int, when: str
    ) -> None:
        """A matter came to cover new captures: audited with the matter's own reason."""
        self.archive.audit.record(
            self.archive.actor,
            "hold-extend",
            {
                "matter": hold.matter,
                "reason": hold.reason,
                "records": record_count,
                "media": media_count,
                "at": when,
            },
            conn=conn,
        )

    # -- release -----------------------------------------------------------------
    def release(self, matter: str, reason: str) -> HoldReport:
        """Release a matter: an object's hold is cleared only when no other active
        matter covers it."""
        if not reason.strip():
            raise UsageError("releasing a hold needs a reason (--reason)")
        hold = self._get(matter)
        if hold.status != "active":
            raise UsageError(f"matter {matter!r} was already released on {hold.released_at}")
        report = HoldReport(matter)
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                holds.update()
                .where(holds.c.id == hold.id)
                .values(
                    status="released",
                    released_at=self.archive.clock.now(),
                    released_by=self.archive.actor,
                    release_reason=reason,
                )
            )
            members = list(
                conn.execute(
                    select(hold_records.c.record_id).where(hold_records.c.hold_id == hold.id)
                ).scalars()
            )
            media = list(
                conn.execute(
                    select(hold_media.c.sha256).where(hold_media.c.hold_id == hold.id)
                ).scalars()
            )
            free_records = self._not_held_elsewhere(conn, hold_records, "record_id", members)
            free_media = self._not_held_elsewhere(conn, hold_media, "sha256", media)
            self.archive.store.set_legal_holds((record_key(r) for r in free_records), False)
            self.archive.store.set_legal_holds((media_key(m) for m in free_media), False)
            report.records, report.media = len(free_records), len(free_media)
            self.archive.audit.record(
                self.archive.actor,
                "hold-release",
                {
                    "matter": matter,
                    "reason": reason,
                    "records": len(members),
                    "released_objects": len(free_records) + len(free_media),
                    "still_held_by_other_matters": len(members) - len(free_records),
                },
                conn=conn,
            )
        self._sync_index(members)
        if len(free_records) < len(members):
            report.warnings.append(
                f"{len(members) - len(free_records)} records stay held by other matters"
            )
        return report

    @staticmethod
    def _not_held_elsewhere(
        conn: Connection, table: Any, column: str, values: Sequence[str]
    ) -> list[str]:
        still: set[str] = set()
        for chunk in batched(values, CHUNK):
            still.update(
                conn.execute(
                    select(getattr(table.c, column))
                    .join(holds, holds.c.id == table.c.hold_id)
                    .where(getattr(table.c, column).in_(chunk), holds.c.status == "active")
                ).scalars()
            )
        return [v for v in values if v not in still]

    # -- reading -----------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        with self.archive.engine.connect() as conn:
            counts = dict(
                conn.execute(
                    select(hold_records.c.hold_id, func.count()).group_by(hold_records.c.hold_id)
                ).all()
            )
            return [
                {**row._mapping, "records": counts.get(row.id, 0)}
                for row in conn.execute(select(holds).order_by(holds.c.id))
            ]

    def show(self, matter: str) -> dict[str, Any]:
        hold = self._get(matter)
        with self.archive.engine.connect() as conn:
            members = conn.execute(
                select(func.count()).where(hold_records.c.hold_id == hold.id)
            ).scalar_one()
            media = conn.execute(
                select(func.count()).where(hold_media.c.hold_id == hold.id)
            ).scalar_one()
        return {**hold._mapping, "records": members, "media": media}

    def held_record_ids(self, conn: Connection, record_ids: Sequence[str]) -> set[str]:
        """Which of these records an active matter covers."""
        held: set[str] = set()
        for chunk in batched(record_ids, CHUNK):
            held.update(
                conn.execute(
                    select(hold_records.c.record_id)
                    .join(holds, holds.c.id == hold_records.c.hold_id)
                    .where(hold_records.c.record_id.in_(chunk), holds.c.status == "active")
                ).scalars()
            )
        return held

    def matters_covering(self, conn: Connection, record_id: str) -> list[str]:
        return list(
            conn.execute(
                select(holds.c.matter)
                .join(hold_records, hold_records.c.hold_id == holds.c.id)
                .where(hold_records.c.record_id == record_id, holds.c.status == "active")
                .order_by(holds.c.matter)
            ).scalars()
        )

    # -- helpers -------------------------------------------------------------------
    def _get(self, matter: str) -> Any:
        with self.archive.engine.connect() as conn:
            hold = conn.execute(select(holds).where(holds.c.matter == matter)).first()
        if hold is None:
            raise UsageError(f"no matter named {matter!r} (see `archiver hold list`)")
        return hold

    def _active(self) -> list[Any]:
        with self.archive.engine.connect() as conn:
            return self.active(conn)

    def _overlaps(self, matter: str) -> list[str]:
        with self.archive.engine.connect() as conn:
            mine = select(hold_records.c.record_id).join(holds).where(holds.c.matter == matter)
            return sorted(
                set(
                    conn.execute(
                        select(holds.c.matter)
                        .join(hold_records)
                        .where(
                            hold_records.c.record_id.in_(mine),
                            holds.c.matter != matter,
                            holds.c.status == "active",
                        )
                    ).scalars()
                )
            )

    def _indexed_through(self, conn: Connection | None = None) -> int:
        """The highest leaf index such that every record up to it is indexed."""
        query = select(func.min(records.c.leaf_index)).where(records.c.indexed.is_(False))
        total = select(func.max(records.c.leaf_index))
        if conn is None:
            with self.archive.engine.connect() as own:
                return self._indexed_through(own)
        first_unindexed = conn.execute(query).scalar()
        if first_unindexed is not None:
            return first_unindexed - 1
        highest = conn.execute(total).scalar()
        return -1 if highest is None else highest

    def _sync_index(self, record_ids: Iterable[str]) -> None:
        """Queue the records for re-indexing, which writes their active matters into the
        index's `holds` field. Whoosh rewrites a whole document to change one field, so
        this is left to the indexer (like any index lag) rather than slowing the hold:
        the hold itself is in force in the catalogue and on the objects already."""
        ids = list(dict.fromkeys(record_ids))
        with write_transaction(self.archive.engine) as conn:
            for chunk in batched(ids, CHUNK):
                conn.execute(
                    records.update().where(records.c.record_id.in_(chunk)).values(indexed=False)
                )


def active_matters(conn: Connection, record_ids: Sequence[str]) -> dict[str, list[str]]:
    """The active matters holding each of these records (for the search index)."""
    covering: dict[str, list[str]] = defaultdict(list)
    for chunk in batched(record_ids, CHUNK):
        rows = conn.execute(
            select(hold_records.c.record_id, holds.c.matter)
            .join(holds, holds.c.id == hold_records.c.hold_id)
            .where(hold_records.c.record_id.in_(chunk), holds.c.status == "active")
            .order_by(holds.c.matter)
        )
        for record_id, matter in rows:
            covering[record_id].append(matter)
    return covering


def _members(conn: Connection, column: Any, hold_id: int, values: Sequence[str]) -> set[str]:
    """Which of `values` (record ids or blob hashes, by `column`) the hold covers already."""
    found: set[str] = set()
    for chunk in batched(values, CHUNK):
        found.update(
            conn.execute(
                select(column).where(column.table.c.hold_id == hold_id, column.in_(chunk))
            ).scalars()
        )
    return found


def _text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
