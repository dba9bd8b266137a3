"""Evidence-pack exports: start one from a search or a matter, follow it, download it."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from archiver.archive import Archive
from archiver.errors import UsageError
from archiver.holds import HoldService
from archiver.web.exports import ExportRunner
from archiver.web.forms import ExportForm
from archiver.web.state import WebState, acting_archive, state

bp = Blueprint("exports", __name__)


def attach(app: Flask, web: WebState) -> None:
    """Give the app its export runner (packs under exports_dir, default archive.dir/exports)."""
    root = web.config.exports_dir or web.archive.settings.archive_dir / "exports"
    web.exports = ExportRunner(web.archive, root)


def download_response(archive: Archive, job_id: str) -> ResponseReturnValue:
    """The pack as an attachment, audited; found by job id only."""
    job, path = state().exports.pack_path(job_id)
    archive.audit.record(archive.actor, "export-download", {
        "export_id": job.id, "matter": job.matter, "query": job.query, "sha256": job.sha256,
        "size": job.size})
    return send_file(path, mimetype="application/zip", as_attachment=True,
                     download_name=job.file_name, max_age=0, conditional=False, etag=False)


@bp.route("/exports")
def index() -> ResponseReturnValue:
    return render_template("exports.html", jobs=state().exports.jobs())


@bp.route("/exports/new")
def new() -> ResponseReturnValue:
    form = ExportForm(formdata=None)
    matter = request.args.get("matter", "")
    form.source.data = "matter" if matter else "query"
    form.query.data = request.args.get("q", "")
    form.matter.data = matter
    matters = [h["matter"] for h in HoldService(acting_archive()).list()]
    return render_template("export_new.html", form=form, matters=matters, error=None)


@bp.route("/exports", methods=["POST"])
def create() -> ResponseReturnValue:
    form = ExportForm()
    archive = acting_archive()
    matters = [h["matter"] for h in HoldService(archive).list()]
    if not form.validate_on_submit():
        return render_template("export_new.html", form=form, matters=matters,
                               error="Check the fields marked."), 400
    by_matter = form.source.data == "matter"
    try:
        job = state().exports.start(
            archive,
            query=None if by_matter else (form.query.data or ""),
            matter=(form.matter.data or "") if by_matter else None,
            reason=form.reason.data or "",
        )
    except UsageError as exc:
        return render_template("export_new.html", form=form, matters=matters,
                               error=str(exc)), 400
    return redirect(url_for("exports.show", job_id=job.id))


@bp.route("/exports/<job_id>")
def show(job_id: str) -> ResponseReturnValue:
    return render_template("export.html", job=state().exports.get(job_id))


@bp.route("/exports/<job_id>/download")
def download(job_id: str) -> ResponseReturnValue:
    return download_response(acting_archive(), job_id)
