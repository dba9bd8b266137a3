"""The app factory: one Flask app over one opened archive.

`create_app(archive)` wires the access check (archiver/web/auth.py), CSRF
protection on every form, the security headers, the page blueprints and the
JSON API under /api/v1. `archiver serve` runs it; tests call it directly.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from archiver.archive import Archive
from archiver.errors import ArchiverError, StorageError, UsageError
from archiver.users import ROLE_TITLES, SESSION_LIFETIME
from archiver.web import auth, security
from archiver.web.records_view import NotFoundError
from archiver.web.roles import can
from archiver.web.state import WebConfig, WebState, secret_key

log = logging.getLogger(__name__)
csrf = CSRFProtect()


class Hex64Converter(BaseConverter):
    """A SHA-256 in lower-case hex: the only ids that reach the object store."""

    regex = "[0-9a-f]{64}"


def create_app(archive: Archive, config: WebConfig | None = None) -> Flask:
    config = config or WebConfig()
    app = Flask(__name__)
    app.url_map.converters["hex64"] = Hex64Converter
    app.config.update(
        SECRET_KEY=secret_key(archive, config),
        SESSION_COOKIE_NAME="__Host-archiver" if config.secure_cookies else "archiver",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=config.secure_cookies,
        MAX_CONTENT_LENGTH=1024 * 1024,
        TESTING=config.testing,
        JSON_SORT_KEYS=False,
    )
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies,
            x_host=config.trusted_proxies)
    web = WebState(archive, config)
    app.extensions["archiver"] = web
    auth.init_app(app)  # the access check runs before CSRF, so nobody learns more than 401
    csrf.init_app(app)
    security.init_app(app)

    from archiver.web.views import admin, api, audit, exports, holds, pages, records

    for module in (pages, records, holds, exports, audit, admin):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    csrf.exempt(api.bp)  # bearer tokens carry no ambient authority; sessions send the header
    exports.attach(app, web)

    _template_helpers(app)
    _error_handlers(app)
    return app


def _template_helpers(app: Flask) -> None:
    @app.context_processor
    def helpers() -> dict[str, Any]:
        user = g.get("user")
        role = user.role if user else None
        return {
            "user": user,
            "can": lambda endpoint: can(role, endpoint),
            "csrf_token": generate_csrf,
            "role_titles": ROLE_TITLES,
        }

    @app.template_filter("when")
    def when(moment: Any) -> str:
        if isinstance(moment, datetime):
            return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(moment, str) and len(moment) >= 19:
            return moment[:19].replace("T", " ") + " UTC"
        return "" if moment is None else str(moment)

    @app.template_filter("snippet")
    def snippet(html: str) -> Markup:
        """The search service's snippet: its text is escaped and matches are in <mark>.
        Checked, not trusted: anything but <mark> tags is escaped again."""
        return security.mark_only(html)

    @app.template_filter("linkify")
    def linkify(text: str) -> Markup:
        return security.linkify(text)

    @app.template_filter("http_link")
    def http_link(url: Any) -> str | None:
        return security.safe_href(url)

    app.jinja_env.globals["escape"] = escape


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _error_handlers(app: Flask) -> None:
    def page(status: int, title: str, message: str) -> ResponseReturnValue:
        if _wants_json():
            code = title.lower().replace(" ", "-")
            return jsonify({"error": {"code": code, "message": message}}), status
        return render_template("error.html", status=status, title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return page(400, "Form expired", "The form's security token is missing or stale: "
                    "reload the page and try again.")

    @app.errorhandler(UsageError)
    def usage_error(exc: UsageError) -> ResponseReturnValue:
        return page(400, "Bad request", str(exc))

    @app.errorhandler(StorageError)
    def storage_error(exc: StorageError) -> ResponseReturnValue:
        log.error("storage problem: %s", exc)
        return page(503, "Storage unavailable", str(exc))

    @app.errorhandler(ArchiverError)
    def archiver_error(exc: ArchiverError) -> ResponseReturnValue:
        log.error("archive problem: %s", exc)
        return page(500, "Archive problem", str(exc))

    @app.errorhandler(NotFoundError)
    def not_found(exc: NotFoundError) -> ResponseReturnValue:
        return page(404, "Not found", str(exc).strip("'\""))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        titles = {401: "Sign in needed", 403: "Forbidden", 404: "Not found",
                  405: "Method not allowed", 413: "Too large"}
        status = exc.code or 500
        message = {
            401: "Sign in to continue.",
            403: "Your role may not do this.",
        }.get(status, exc.description or "")
        return page(status, titles.get(status, exc.name), message)
