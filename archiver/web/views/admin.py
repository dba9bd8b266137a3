"""Administration: users (add, disable, enable), everyone's API tokens, settings."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from archiver.errors import UsageError
from archiver.users import UserService
from archiver.web.forms import ActionForm, UserForm
from archiver.web.records_view import pretty
from archiver.web.state import acting_archive, current_user, state

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _users() -> UserService:
    web = state()
    return UserService(acting_archive(), web.hasher, web.config.login_limits)


def _page(form: UserForm, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    users = _users()
    return render_template("admin_users.html", users=users.list_users(), tokens=users.tokens(),
                           form=form, action=ActionForm(), error=error), status


@bp.route("/users")
def users() -> ResponseReturnValue:
    return _page(UserForm(formdata=None))


@bp.route("/users", methods=["POST"])
def user_create() -> ResponseReturnValue:
    form = UserForm()
    if not form.validate_on_submit():
        return _page(form, "Check the fields marked.", 400)
    try:
        created = _users().add(form.username.data or "", form.role.data or "",
                               form.password.data or "")
    except UsageError as exc:
        return _page(form, str(exc), 400)
    flash(f"User {created.username} added as {created.role_title}.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def user_disable(user_id: int) -> ResponseReturnValue:
    return _set_disabled(user_id, True)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def user_enable(user_id: int) -> ResponseReturnValue:
    return _set_disabled(user_id, False)


def _set_disabled(user_id: int, disabled: bool) -> ResponseReturnValue:
    ActionForm()
    users = _users()
    target = users.by_id(user_id)
    if target is None:
        abort(404)
    me = current_user()
    if disabled and me is not None and target.id == me.id:
        flash("You cannot disable yourself.", "error")
        return redirect(url_for("admin.users"))
    users.set_disabled(target.username, disabled)
    flash(f"User {target.username} {'disabled' if disabled else 'enabled'}.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def token_revoke(token_id: int) -> ResponseReturnValue:
    ActionForm()
    try:
        _users().revoke_token(token_id)
    except UsageError:
        abort(404)
    flash("Token revoked.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/settings")
def settings() -> ResponseReturnValue:
    """The settings in force (secrets are never in them: see README), read-only."""
    web = state()
    return render_template("admin_settings.html", settings=pretty(web.archive.settings.redacted()),
                           web_config={
                               "secure_cookies": web.config.secure_cookies,
                               "trusted_proxies": web.config.trusted_proxies,
                               "login_limits": {
                                   "per_username": web.config.login_limits.per_username,
                                   "per_address": web.config.login_limits.per_address,
                                   "window_seconds": int(
                                       web.config.login_limits.window.total_seconds()),
                               },
                           })
