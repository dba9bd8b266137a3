"""The home page, capture status, and a user's own account and API tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import case, func, select

from archiver.archive import Archive
from archiver.cli.status import gather_status
from archiver.errors import UsageError
from archiver.users import UserService
from archiver.web.forms import ActionForm, TokenForm
from archiver.web.state import acting_archive, current_user, state
from storage.catalogue.models import capture_runs, items

bp = Blueprint("pages", __name__)
RECENT_RUNS = 25


@bp.route("/")
def home() -> ResponseReturnValue:
    user = current_user()
    if user is not None and user.role in ("admin", "officer", "auditor"):
        return redirect(url_for("records.search"))
    return redirect(url_for("pages.status"))


def status_data(archive: Archive) -> dict[str, Any]:
    """`archiver status` plus per-account item counts and the latest capture runs."""
    summary = gather_status(archive)
    with archive.engine.connect() as conn:
        counts = {
            (row.platform, row.account): (row.items, row.deleted)
            for row in conn.execute(
                select(items.c.platform, items.c.account, func.count().label("items"),
                       func.sum(case((items.c.deleted.is_(True), 1), else_=0)).label("deleted"))
                .group_by(items.c.platform, items.c.account)
            )
        }
        runs = [dict(row._mapping) for row in conn.execute(
            select(capture_runs).order_by(capture_runs.c.id.desc()).limit(RECENT_RUNS))]
    for account in summary.get("daemon", {}).get("accounts", []):
        found = counts.get((account["platform"], account["handle"]), (0, 0))
        account["items"], account["deleted_items"] = found[0], int(found[1] or 0)
    summary["recent_runs"] = runs
    return summary


@bp.route("/status")
def status() -> ResponseReturnValue:
    return render_template("status.html", status=status_data(acting_archive()))


def _own_users() -> UserService:
    web = state()
    return UserService(acting_archive(), web.hasher, web.config.login_limits)


@bp.route("/account")
def account() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    tokens = _own_users().tokens(user.username)
    return render_template("account.html", tokens=tokens, form=TokenForm(), action=ActionForm(),
                           new_token=None)


@bp.route("/account/tokens", methods=["POST"])
def token_create() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    form = TokenForm()
    users = _own_users()
    if not form.validate_on_submit():
        flash("Name the token.", "error")
        return redirect(url_for("pages.account"))
    row, token = users.create_token(user.username, form.name.data or "token")
    # Shown once, in this response only: it is stored as a hash.
    return render_template("account.html", tokens=users.tokens(user.username), form=TokenForm(),
                           action=ActionForm(), new_token={"token": token, **row})


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
def token_revoke(token_id: int) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    ActionForm()
    try:
        _own_users().revoke_token(token_id, username=user.username)
    except UsageError:  # not this user's token
        abort(404)
    flash("Token revoked.", "info")
    return redirect(url_for("pages.account"))
