"""Applying retention rules to what is already archived, and explaining them.

`apply` recomputes every record's retain-until under today's rules: a longer
period extends the catalogue date and the object's lock; a shorter one never
shortens anything (the lock stays; the store's guard would refuse anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archiver.clock import format_time
from archiver.errors import UsageError
from archiver.holds import HoldService
from archiver.item import KINDS
from archiver.records import Record, record_key
from storage.catalogue.db import write_transaction
from storage.catalogue.models import accounts, records

if TYPE_CHECKING:
    from archiver.archive import Archive


@dataclass
class ApplyResult:
    checked: int = 0
    extended: int = 0
    kept_longer: int = 0  # the rules now say shorter: the longer lock stays
    warnings: list[str] | None = None


class RetentionService:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def warnings(self) -> list[str]:
        """Policies that match no configured account: probably a typo, and one that
        would let records go sooner than meant."""
        return [
            f"retention policy {name!r} matches no configured account" for name in self._unmatched()
        ]

    def policies(self) -> list[dict[str, Any]]:
        """Every policy, the default first, and whether it matches a configured account."""
        unmatched = set(self._unmatched())
        return [
            {
                "name": p.name,
                "period": str(p.period),
                "counted_from": p.counted_from,
                "platforms": sorted(p.platforms),
                "accounts": sorted(p.accounts),
                "kinds": sorted(p.kinds),
                "matches_no_account": p.name in unmatched,
            }
            for p in self.archive.rules.policies
        ]

    def _unmatched(self) -> list[str]:
        with self.archive.engine.connect() as conn:
            pairs = [(r.platform, r.handle) for r in conn.execute(select(accounts))]
        return self.archive.rules.unmatched(pairs, KINDS)

    def apply(self) -> ApplyResult:
        result = ApplyResult(warnings=self.warnings())
        rules = self.archive.rules
        query = (
            select(
                records.c.record_id,
                records.c.platform,
                records.c.account,
                records.c.kind,
                records.c.created_at,
                records.c.captured_at,
                records.c.retain_until,
                records.c.retention_policy,
            )
            .where(records.c.disposed_at.is_(None))
            .order_by(records.c.leaf_index)
        )
        with self.archive.engine.connect() as conn:
            rows = list(conn.execute(query))
        for row in rows:
            result.checked += 1
            governing = rules.governing(
                row.platform, row.account, row.kind, row.created_at, row.captured_at
            )
            if row.retain_until is not None and governing.retain_until <= row.retain_until:
                if governing.retain_until < row.retain_until:
                    result.kept_longer += 1
                continue
            self.archive.store.extend_retention(record_key(row.record_id), governing.retain_until)
            with write_transaction(self.archive.engine) as conn:
                conn.execute(
                    records.update()
                    .where(records.c.record_id == row.record_id)
                    .values(retain_until=governing.retain_until, retention_policy=governing.policy)
                )
            result.extended += 1
        self.archive.audit.record(
            self.archive.actor,
            "retention-apply",
            {
                "checked": result.checked,
                "extended": result.extended,
                "kept_longer": result.kept_longer,
            },
        )
        return result

    def explain(self, record_id: str) -> dict[str, Any]:
        """A record's locator, which policies apply, which governs, its holds and lock."""
        with self.archive.engine.connect() as conn:
            row = conn.execute(select(records).where(records.c.record_id == record_id)).first()
            if row is None:
                raise UsageError(f"no record {record_id!r}")
            matters = HoldService(self.archive).matters_covering(conn, record_id)
        rules = self.archive.rules
        applicable = [
            {
                "policy": p.name,
                "period": str(p.period),
                "counted_from": p.counted_from,
                "retain_until": format_time(p.until(row.created_at, row.captured_at)),
            }
            for p in rules.applicable(row.platform, row.account, row.kind)
        ]
        detail: dict[str, Any] = {
            "record_id": record_id,
            "platform": row.platform,
            "account": row.account,
            "native_id": row.native_id,
            "kind": row.kind,
            "version": row.version,
            "observation": row.observation,
            "captured_at": format_time(row.captured_at),
            "created_at": format_time(row.created_at) if row.created_at else None,
            "retain_until": format_time(row.retain_until) if row.retain_until else None,
            "governing_policy": row.retention_policy,
            "applicable_policies": applicable,
            "legal_holds": matters,
            "disposed_at": format_time(row.disposed_at) if row.disposed_at else None,
        }
        if row.disposed_at is None:
            lock = self.archive.store.lock_state(record_key(record_id))
            detail["object_lock"] = {
                "retain_until": format_time(lock.retain_until) if lock.retain_until else None,
                "mode": lock.mode,
                "legal_hold": lock.legal_hold,
            }
            detail["url"] = (
                Record.from_bytes(self.archive.store.get(record_key(record_id)))
                .fields["content"]
                .get("url")
            )
        self.archive.audit.record(self.archive.actor, "view", {"record_id": record_id})
        return detail
