"""Signing in and the access check every request passes.

Browsers sign in with a password and get a session: the signed Flask cookie
carries a random session token whose SHA-256 is a row in `web_sessions`, so a
session ends at once on logout, on disabling the user or on a password change.
Scripts send `Authorization: Bearer <token>` to the API. The check before every
request looks the endpoint up in roles.RULES and refuses what the role lacks.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from archiver.users import LoginThrottled
from archiver.web.forms import ActionForm, LoginForm
from archiver.web.roles import PUBLIC, RULES, allows
from archiver.web.state import state

bp = Blueprint("auth", __name__)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def client_address() -> str:
    return request.remote_addr or "unknown"


def api_error(status: int, code: str, message: str) -> ResponseReturnValue:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="archiver"'
    return response


def _is_api() -> bool:
    return request.blueprint == "api"


def enforce_access() -> ResponseReturnValue | None:
    """Before every request: who is it, and may they call this endpoint?"""
    g.user, g.via_token = None, False
    endpoint = request.endpoint
    if endpoint is None:  # no such URL or method: Flask answers 404/405 itself
        return None
    permission = RULES.get(endpoint)
    if permission is None:  # deny by default: a route without a rule is nobody's
        abort(403)
    web = state()
    header = request.headers.get("Authorization", "")
    if _is_api() and header:
        scheme, _, token = header.partition(" ")
        user = web.users.token_user(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            return api_error(401, "unauthorised", "the API token is unknown, revoked or "
                             "its user disabled")
        g.user, g.via_token = user, True
    elif session.get("sid"):
        g.user = web.users.session_user(session["sid"])
        if g.user is None:
            session.clear()
    if permission == PUBLIC:
        return None
    if g.user is None:
        if _is_api():
            return api_error(401, "unauthorised", "sign in or send a bearer token")
        if request.method in SAFE_METHODS:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if not allows(g.user.role, permission):
        if _is_api():
            return api_error(403, "forbidden", f"the {g.user.role} role may not do this")
        abort(403)
    g.archive = web.acting_as(g.user)
    if _is_api() and not g.via_token and request.method not in SAFE_METHODS:
        # The API is exempt from form CSRF; with a session cookie it needs the header.
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except (ValidationError, CSRFError):
            return api_error(400, "csrf", "the X-CSRFToken header is missing or invalid")
    return None


def init_app(app: Flask) -> None:
    app.before_request(enforce_access)
    app.register_blueprint(bp)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL."""
    if not target:
        return url_for("pages.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.home")
    if "\\" in target:
        return url_for("pages.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if g.user is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        web = state()
        try:
            user = web.users.login(form.username.data or "", form.password.data or "",
                                   client_address())
        except LoginThrottled as exc:
            flash(str(exc), "error")
            return (render_template("login.html", form=form), 429,
                    {"Retry-After": str(exc.retry_after)})
        if user is None:
            flash("Wrong username or password.", "error")
            status = 401
        else:
            if session.get("sid"):  # signing in again ends the session this browser had
                web.users.end_session(session["sid"])
            session.clear()  # no fixation: a fresh session (and CSRF token) on sign-in
            session["sid"] = web.users.start_session(user, client_address())
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    ActionForm()  # CSRF is checked by CSRFProtect for every POST
    sid = session.get("sid")
    if sid:
        state().users.end_session(sid, g.user)
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
