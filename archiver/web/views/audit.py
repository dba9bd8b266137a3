"""The audit trail: filter it, page through it, export it as CSV (itself audited)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from archiver.archive import Archive
from archiver.errors import UsageError
from archiver.web.state import acting_archive
from archiver.web.views.holds import parse_day
from storage.catalogue.models import audit_events

bp = Blueprint("audit", __name__)
PAGE_SIZE = 50
CSV_COLUMNS = ("seq", "at", "actor", "action", "params", "prev_hash", "event_hash")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> AuditFilter:
        try:
            page = max(1, int(args.get("page") or 1))
        except ValueError:
            raise UsageError("page must be a whole number") from None
        found = cls(
            actor=str(args.get("actor") or "").strip()[:255],
            action=str(args.get("action") or "").strip()[:64],
            date_from=str(args.get("from") or "").strip(),
            date_to=str(args.get("to") or "").strip(),
            text=str(args.get("text") or "").strip()[:200],
            page=page,
        )
        parse_day(found.date_from)
        parse_day(found.date_to)
        return found

    def apply(self, query: Select[Any]) -> Select[Any]:
        column = audit_events.c
        if self.actor:
            query = query.where(column.actor == self.actor)
        if self.action:
            query = query.where(column.action == self.action)
        start, end = parse_day(self.date_from), parse_day(self.date_to)
        if start:
            query = query.where(column.at >= start)
        if end:
            query = query.where(column.at < end.replace(hour=0, minute=0, second=0,
                                                        microsecond=0) + timedelta(days=1))
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(column.params.like(f"%{escaped}%", escape="\\"))
        return query

    def url_args(self, **changes: Any) -> str:
        values = {**asdict(self), **changes}
        values["from"], values["to"] = values.pop("date_from"), values.pop("date_to")
        if values.get("page") == 1:
            values.pop("page")
        return urlencode({k: v for k, v in values.items() if v})


def events(archive: Archive, wanted: AuditFilter, limit: int | None = None,
           offset: int = 0) -> list[Any]:
    query = wanted.apply(select(audit_events)).order_by(audit_events.c.seq.desc())
    if limit is not None:
        query = query.limit(limit).offset(offset)
    with archive.engine.connect() as conn:
        return list(conn.execute(query))


def actions(archive: Archive) -> list[str]:
    with archive.engine.connect() as conn:
        return list(conn.execute(
            select(audit_events.c.action).distinct().order_by(audit_events.c.action)).scalars())


@bp.route("/audit")
def index() -> ResponseReturnValue:
    archive = acting_archive()
    wanted = AuditFilter.from_args(request.args)
    rows = events(archive, wanted, PAGE_SIZE + 1, (wanted.page - 1) * PAGE_SIZE)
    return render_template(
        "audit.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, wanted=wanted,
        actions=actions(archive),
    )


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@bp.route("/audit.csv", endpoint="csv")
def csv_export() -> ResponseReturnValue:
    """Every event the filter matches (not just a page), oldest first. Cells that a
    spreadsheet would run as formulas are prefixed with ' (OWASP's CSV injection rule)."""
    archive = acting_archive()
    wanted = AuditFilter.from_args(request.args)
    archive.audit.record(archive.actor, "audit-export", {
        k: v for k, v in asdict(wanted).items() if v and k != "page"})
    query = wanted.apply(select(audit_events)).order_by(audit_events.c.seq)

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with archive.engine.connect() as conn:
            for row in conn.execute(query.execution_options(yield_per=1000)):
                writer.writerow([
                    row.seq, row.at.isoformat(), csv_cell(row.actor), csv_cell(row.action),
                    csv_cell(row.params), row.prev_hash, row.event_hash,
                ])
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="audit-trail.csv"'})
