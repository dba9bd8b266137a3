"""Search and record pages, the canonical record bytes and media downloads."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from archiver.errors import UsageError
from archiver.web.downloads import media_file, record_file
from archiver.web.records_view import (
    RecordView,
    pretty,
    word_diff,
)
from archiver.web.searching import SearchParams
from archiver.web.state import acting_archive, state
from search.index import SORTS

bp = Blueprint("records", __name__)
PAGE_SIZES = (20, 50, 100)


@bp.route("/search")
def search() -> ResponseReturnValue:
    """The search page: the full query language, filters, facets, snippets, paging.
    Runs through the same SearchService as `archiver search` (and is audited there)."""
    error = None
    result = None
    try:
        params = SearchParams.from_args(request.args, facets_default=True)
    except UsageError as exc:
        params, error = SearchParams(), str(exc)
    archive = acting_archive()
    lag = 0
    if error is None and not params.empty:
        service = archive.search
        try:
            result = service.search(service.request(params.query() or "*", **params.options()))
        except UsageError as exc:
            error = str(exc)
        lag = service.lag()
    status = 400 if error else 200
    return render_template(
        "search.html", params=params, result=result, error=error, sorts=SORTS,
        page_sizes=PAGE_SIZES, index_lag=lag,
    ), status


@bp.route("/records/<hex64:record_id>")
def show(record_id: str) -> ResponseReturnValue:
    web = state()
    view = RecordView(acting_archive(), web.leaf_hashes).build(record_id)
    return render_template("record.html", view=view, pretty=pretty, word_diff=word_diff)


@bp.route("/records/<hex64:record_id>.json")
def raw(record_id: str) -> ResponseReturnValue:
    return record_file(acting_archive(), record_id)


@bp.route("/records/<hex64:record_id>/media/<hex64:sha256>")
def media(record_id: str, sha256: str) -> ResponseReturnValue:
    return media_file(acting_archive(), record_id, sha256,
                      download=request.args.get("download") == "1")
