"""Legal holds: list, create (from a search), show, release. The HoldService does
the work and writes the audit trail, under the signed-in user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from archiver.errors import UsageError
from archiver.holds import HoldService, Scope
from archiver.web.forms import HoldForm, ReleaseForm
from archiver.web.records_view import NotFoundError
from archiver.web.state import acting_archive

bp = Blueprint("holds", __name__)


def parse_day(value: str | None, end: bool = False) -> datetime | None:
    """YYYY-MM-DD as the start (or, for the end of a range, the last instant) of that day."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(f"{value!r} is not a date like 2024-03-31") from None
    return day.replace(hour=23, minute=59, second=59, microsecond=999999) if end else day


def split_accounts(text: str | None) -> tuple[str, ...]:
    return tuple(a.strip() for a in (text or "").split(",") if a.strip())


def hold_by_id(service: HoldService, hold_id: int) -> dict[str, Any]:
    for hold in service.list():
        if hold["id"] == hold_id:
            return service.show(hold["matter"])
    raise NotFoundError(f"no hold {hold_id}")


@bp.route("/holds")
def index() -> ResponseReturnValue:
    return render_template("holds.html", holds=HoldService(acting_archive()).list())


@bp.route("/holds/new")
def new() -> ResponseReturnValue:
    form = HoldForm(formdata=None)
    form.query.data = request.args.get("q", "")
    return render_template("hold_new.html", form=form, error=None)


@bp.route("/holds", methods=["POST"])
def create() -> ResponseReturnValue:
    form = HoldForm()
    if not form.validate_on_submit():
        return render_template("hold_new.html", form=form, error="Check the fields marked."), 400
    scope = Scope(
        form.query.data or "",
        split_accounts(form.accounts.data),
        parse_day(form.date_from.data),
        parse_day(form.date_to.data, end=True),
    )
    service = HoldService(acting_archive())
    try:
        report = service.create((form.matter.data or "").strip(), scope, form.reason.data or "")
    except UsageError as exc:
        return render_template("hold_new.html", form=form, error=str(exc)), 400
    for warning in report.warnings:
        flash(warning, "warning")
    flash(f"Matter {report.matter}: {report.records} records and {report.media} media blobs "
          "held.", "info")
    hold = service.show(report.matter)
    return redirect(url_for("holds.show", hold_id=hold["id"]))


@bp.route("/holds/<int:hold_id>")
def show(hold_id: int) -> ResponseReturnValue:
    hold = hold_by_id(HoldService(acting_archive()), hold_id)
    return render_template("hold.html", hold=hold, form=ReleaseForm())


@bp.route("/holds/<int:hold_id>/release", methods=["POST"])
def release(hold_id: int) -> ResponseReturnValue:
    service = HoldService(acting_archive())
    hold = hold_by_id(service, hold_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return render_template("hold.html", hold=hold, form=form,
                               error="A release needs a reason."), 400
    try:
        report = service.release(hold["matter"], form.reason.data or "")
    except UsageError as exc:
        return render_template("hold.html", hold=hold, form=form, error=str(exc)), 400
    for warning in report.warnings:
        flash(warning, "warning")
    flash(f"Matter {hold['matter']} released: {report.records} records no longer held.", "info")
    return redirect(url_for("holds.show", hold_id=hold_id))
