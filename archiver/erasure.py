"""Erasure requests (GDPR Art. 17): recorded, decided, and carried out when allowed.

Art. 17(3)(b) and (e): erasure does not apply while a legal obligation (a
retention period) or a legal claim (a hold) requires keeping the data. So a
request is refused with the governing policy or matter named while either
applies, scheduled for when they end, and purged then by `process`. Every
decision is in the request's record and in the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archiver.clock import format_time, parse_time
from archiver.disposition import DispositionService
from archiver.errors import UsageError
from archiver.holds import CHUNK, HoldService, matching_ids
from archiver.ingest import batched
from storage.catalogue.db import write_transaction
from storage.catalogue.models import records
from storage.catalogue.retention import erasure_requests

if TYPE_CHECKING:
    from archiver.archive import Archive

OPEN = ("refused", "scheduled")


def subject_query(subject: str) -> str:
    """Records by or about the subject: authored by them or mentioning them."""
    quoted = subject.replace("\\", "\\\\").replace('"', '\\"')
    return f'author:"{quoted}" OR mentions:"{quoted}"'


class ErasureService:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.holds = HoldService(archive)

    def request(self, subject: str, query: str | None = None) -> dict[str, Any]:
        if not subject.strip():
            raise UsageError("an erasure request needs a subject")
        query = query or subject_query(subject)
        now = self.archive.clock.now()
        with write_transaction(self.archive.engine) as conn:
            request_id = conn.execute(
                erasure_requests.insert().values(
                    subject=subject,
                    query=query,
                    requested_at=now,
                    requested_by=self.archive.actor,
                    status="scheduled",
                    decisions=[],
                )
            ).inserted_primary_key[0]
        self.archive.audit.record(
            self.archive.actor,
            "erasure-request",
            {"request_id": request_id, "subject": subject, "query": query},
        )
        return self._decide(request_id)

    def process(self) -> list[dict[str, Any]]:
        """Re-decide every open request; purge those no policy or hold keeps."""
        with self.archive.engine.connect() as conn:
            open_ids = list(
                conn.execute(
                    select(erasure_requests.c.id)
                    .where(erasure_requests.c.status.in_(OPEN))
                    .order_by(erasure_requests.c.id)
                ).scalars()
            )
        return [self._decide(request_id) for request_id in open_ids]

    def _decide(self, request_id: int) -> dict[str, Any]:
        request = self._get(request_id)
        self.archive.search.index_pending()
        ids = sorted(matching_ids(self.archive, request.query))
        now = self.archive.clock.now()
        live = self._live(ids)
        held, retained = self._obstacles(live, now)
        if not live:
            decision = {
                "at": format_time(now),
                "outcome": "nothing",
                "detail": "no archived records match the subject",
            }
            # Nothing left: either nothing ever matched, or an earlier purge took it all.
            status = "purged" if request.decisions else "nothing"
            due = None
        elif held:
            decision = {
                "at": format_time(now),
                "outcome": "refused",
                "reason": "legal hold",
                "article": "GDPR Art. 17(3)(e)",
                "matters": held,
                "records": len(live),
            }
            status, due = "refused", None
        elif retained:
            until = max(r["retain_until"] for r in retained.values())
            decision = {
                "at": format_time(now),
                "outcome": "refused",
                "reason": "retention",
                "article": "GDPR Art. 17(3)(b)",
                "policies": sorted(retained),
                "until": until,
                "records": len(live),
            }
            status, due = "scheduled", until
        else:
            result = DispositionService(self.archive).dispose(
                reason=f"erasure request {request_id}", record_ids=live
            )
            decision = {
                "at": format_time(now),
                "outcome": "purged",
                "records": len(result.plan.records),
                "media": len(result.plan.media),
                "disposition_report": result.report_id,
            }
            status, due = "purged", None
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                erasure_requests.update()
                .where(erasure_requests.c.id == request_id)
                .values(
                    status=status,
                    due_at=_parse(due),
                    decisions=[*request.decisions, decision],
                    purged_at=now if status == "purged" else None,
                )
            )
            self.archive.audit.record(
                self.archive.actor,
                "erasure-decision",
                {"request_id": request_id, **decision},
                conn=conn,
            )
        return {
            "id": request_id,
            "subject": request.subject,
            "status": status,
            "due_at": due,
            "decision": decision,
        }

    def _live(self, ids: Sequence[str]) -> list[str]:
        live: list[str] = []
        with self.archive.engine.connect() as conn:
            for chunk in batched(ids, CHUNK):
                live.extend(
                    conn.execute(
                        select(records.c.record_id).where(
                            records.c.record_id.in_(chunk), records.c.disposed_at.is_(None)
                        )
                    ).scalars()
                )
        return sorted(live)

    def _obstacles(
        self, live: list[str], now: datetime
    ) -> tuple[list[str], dict[str, dict[str, str]]]:
        """Matters holding any of the records; policies keeping any, with the latest date."""
        matters: set[str] = set()
        policies: dict[str, dict[str, str]] = {}
        with self.archive.engine.connect() as conn:
            for record_id in self.holds.held_record_ids(conn, live):
                matters.update(self.holds.matters_covering(conn, record_id))
            for chunk in batched(live, CHUNK):
                for row in conn.execute(
                    select(records.c.retention_policy, records.c.retain_until).where(
                        records.c.record_id.in_(chunk), records.c.retain_until > now
                    )
                ):
                    name, until = row.retention_policy or "default", format_time(row.retain_until)
                    if until > policies.get(name, {}).get("retain_until", ""):
                        policies[name] = {"retain_until": until}
        return sorted(matters), policies

    def list(self) -> list[dict[str, Any]]:
        with self.archive.engine.connect() as conn:
            return [
                dict(row._mapping)
                for row in conn.execute(select(erasure_requests).order_by(erasure_requests.c.id))
            ]

    def _get(self, request_id: int) -> Any:
        with self.archive.engine.connect() as conn:
            row = conn.execute(
                select(erasure_requests).where(erasure_requests.c.id == request_id)
            ).first()
        if row is None:
            raise UsageError(f"no erasure request {request_id}")
        return row


def _parse(text: str | None) -> datetime | None:
    return parse_time(text) if text else None
