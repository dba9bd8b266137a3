"""The JSON API under /api/v1, described by /api/v1/openapi.json.

Scripts authenticate with `Authorization: Bearer <token>` (`archiver tokens
create`); the browser's session also works, with an X-CSRFToken header on
writes. Searches run through the same SearchService as `archiver search
--json` and answer in the same shape, so a query gives the same records.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from archiver.errors import UsageError
from archiver.holds import HoldService, Scope
from archiver.web.downloads import media_file, record_file
from archiver.web.openapi import openapi_document
from archiver.web.records_view import (
    RecordView,
    record_json,
)
from archiver.web.searching import SearchParams
from archiver.web.state import acting_archive, current_user, state
from archiver.web.views.audit import AuditFilter, events
from archiver.web.views.exports import download_response
from archiver.web.views.holds import hold_by_id, parse_day
from archiver.web.views.pages import status_data

bp = Blueprint("api", __name__)
MAX_AUDIT_PAGE = 1000


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UsageError("send a JSON object (Content-Type: application/json)")
    return body


def _text(body: dict[str, Any], name: str, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise UsageError(f"{name!r} must be a non-empty string")
    return value


@bp.route("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(request.host_url.rstrip("/") + "/api/v1"))


@bp.route("/me")
def me() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    return jsonify({"username": user.username, "role": user.role, "actor": user.actor})


@bp.route("/status")
def status() -> ResponseReturnValue:
    return jsonify(status_data(acting_archive()))


@bp.route("/search")
def search() -> ResponseReturnValue:
    params = SearchParams.from_args(request.args)
    if params.empty:
        raise UsageError("q is required (the query language of docs/search.md; '*' for all)")
    service = acting_archive().search
    result = service.search(service.request(params.query() or "*", **params.options()))
    return jsonify({**result.as_json(), "index_lag": service.lag()})


@bp.route("/records/<hex64:record_id>")
def record(record_id: str) -> ResponseReturnValue:
    view = RecordView(acting_archive(), state().leaf_hashes).build(record_id)
    return jsonify(record_json(view))


@bp.route("/records/<hex64:record_id>/raw")
def record_raw(record_id: str) -> ResponseReturnValue:
    return record_file(acting_archive(), record_id)


@bp.route("/records/<hex64:record_id>/media/<hex64:sha256>")
def record_media(record_id: str, sha256: str) -> ResponseReturnValue:
    return media_file(acting_archive(), record_id, sha256, download=True)


@bp.route("/holds")
def holds() -> ResponseReturnValue:
    return jsonify({"holds": HoldService(acting_archive()).list()})


@bp.route("/holds", methods=["POST"])
def hold_create() -> ResponseReturnValue:
    body = _body()
    accounts = body.get("accounts") or []
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        raise UsageError("'accounts' must be a list of strings")
    scope = Scope(
        _text(body, "query"),
        tuple(accounts),
        parse_day(_text(body, "from", required=False) or None),
        parse_day(_text(body, "to", required=False) or None, end=True),
    )
    service = HoldService(acting_archive())
    report = service.create(_text(body, "matter").strip(), scope, _text(body, "reason"))
    hold = service.show(report.matter)
    return jsonify({"hold": hold, "records": report.records, "media": report.media,
                    "warnings": report.warnings}), 201


@bp.route("/holds/<int:hold_id>")
def hold(hold_id: int) -> ResponseReturnValue:
    return jsonify(hold_by_id(HoldService(acting_archive()), hold_id))


@bp.route("/holds/<int:hold_id>/release", methods=["POST"])
def hold_release(hold_id: int) -> ResponseReturnValue:
    body = _body()
    service = HoldService(acting_archive())
    found = hold_by_id(service, hold_id)
    report = service.release(found["matter"], _text(body, "reason"))
    return jsonify({"hold": service.show(found["matter"]), "released_records": report.records,
                    "released_media": report.media, "warnings": report.warnings})


@bp.route("/exports")
def exports() -> ResponseReturnValue:
    return jsonify({"exports": [job.as_json() for job in state().exports.jobs()]})


@bp.route("/exports", methods=["POST"])
def export_create() -> ResponseReturnValue:
    body = _body()
    job = state().exports.start(
        acting_archive(),
        query=_text(body, "query", required=False) or None,
        matter=_text(body, "matter", required=False) or None,
        reason=_text(body, "reason", required=False),
    )
    return jsonify(job.as_json()), 202


@bp.route("/exports/<job_id>")
def export(job_id: str) -> ResponseReturnValue:
    return jsonify(state().exports.get(job_id).as_json())


@bp.route("/exports/<job_id>/download")
def export_download(job_id: str) -> ResponseReturnValue:
    return download_response(acting_archive(), job_id)


@bp.route("/audit")
def audit() -> ResponseReturnValue:
    wanted = AuditFilter.from_args(request.args)
    try:
        page_size = int(request.args.get("page_size") or 100)
    except ValueError:
        raise UsageError("page_size must be a whole number") from None
    if not 1 <= page_size <= MAX_AUDIT_PAGE:
        raise UsageError(f"page_size must be 1 to {MAX_AUDIT_PAGE}")
    rows = events(acting_archive(), wanted, page_size + 1, (wanted.page - 1) * page_size)
    return jsonify({
        "events": [{"seq": r.seq, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                    "params": r.params, "prev_hash": r.prev_hash, "event_hash": r.event_hash}
                   for r in rows[:page_size]],
        "page": wanted.page, "more": len(rows) > page_size,
    })
