"""Every route of the app, called as every role and as nobody, against a table kept
here (not imported from the app): a new route without an expectation fails, and so
does any route that lets in a role it should not."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from archiver.holds import HoldService, Scope
from archiver.users import UserService
from archiver.web.roles import RULES
from tests.web.conftest import FAST_HASHER, PASSWORD, USERS, Sandbox, sign_in

PUBLIC = "public"
ANYONE = frozenset({"admin", "officer", "auditor"})
OFFICERS = frozenset({"admin", "officer"})
AUDITORS = frozenset({"admin", "auditor"})
ADMINS = frozenset({"admin"})

EXPECTED: dict[str, Any] = {
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": ANYONE,
    "pages.home": ANYONE,
    "pages.status": ANYONE,
    "pages.account": ANYONE,
    "pages.token_create": ANYONE,
    "pages.token_revoke": ANYONE,
    "records.search": ANYONE,
    "records.show": ANYONE,
    "records.raw": ANYONE,
    "records.media": ANYONE,
    "holds.index": OFFICERS,
    "holds.new": OFFICERS,
    "holds.create": OFFICERS,
    "holds.show": OFFICERS,
    "holds.release": OFFICERS,
    "exports.index": OFFICERS,
    "exports.new": OFFICERS,
    "exports.create": OFFICERS,
    "exports.show": OFFICERS,
    "exports.download": OFFICERS,
    "audit.index": AUDITORS,
    "audit.csv": AUDITORS,
    "admin.users": ADMINS,
    "admin.user_create": ADMINS,
    "admin.user_disable": ADMINS,
    "admin.user_enable": ADMINS,
    "admin.token_revoke": ADMINS,
    "admin.settings": ADMINS,
    "api.openapi": ANYONE,
    "api.me": ANYONE,
    "api.status": ANYONE,
    "api.search": ANYONE,
    "api.record": ANYONE,
    "api.record_raw": ANYONE,
    "api.record_media": ANYONE,
    "api.holds": OFFICERS,
    "api.hold_create": OFFICERS,
    "api.hold": OFFICERS,
    "api.hold_release": OFFICERS,
    "api.exports": OFFICERS,
    "api.export_create": OFFICERS,
    "api.export": OFFICERS,
    "api.export_download": OFFICERS,
    "api.audit": AUDITORS,
}
# A few GETs need a query to do anything; the rest are fine bare.
QUERY_STRINGS = {"records.search": "q=savings", "api.search": "q=savings"}


@pytest.fixture(scope="module")
def samples(app: Flask, sandbox: Sandbox) -> dict[str, Any]:
    """A real value for every URL variable, so each route does its real work."""
    archive = sandbox.archive
    holds = HoldService(archive)
    holds.create("access-matrix", Scope("savings"), "the access test needs a hold")
    hold_id = holds.show("access-matrix")["id"]
    runner = app.extensions["archiver"].exports
    job = runner.start(archive, query="savings", matter=None, reason="access test")
    assert runner.wait(job.id).status == "done", runner.get(job.id).message
    users = UserService(archive, FAST_HASHER)
    spare = users.add("spare-user", "auditor", PASSWORD)
    token, _ = users.create_token("spare-user", "access test")
    return {
        "record_id": sandbox.media_record,
        "sha256": sandbox.media_sha256,
        "hold_id": hold_id,
        "job_id": job.id,
        "token_id": token["id"],
        "user_id": spare.id,
        "filename": "app.css",
    }


def test_every_route_has_a_rule_and_an_expectation(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(RULES) == set(), "routes without an access rule in roles.RULES"
    assert endpoints - set(EXPECTED) == set(), "routes without an expectation in this test"
    assert set(EXPECTED) - endpoints == set(), "expectations for routes that do not exist"
    for endpoint, permission in EXPECTED.items():
        allowed = {role for role in ANYONE if _allowed(permission, role)}
        from archiver.web.roles import can

        assert {r for r in ANYONE if can(r, endpoint)} == allowed, endpoint


def _allowed(expected: Any, role: str | None) -> bool:
    return expected == PUBLIC or (role is not None and role in expected)


def _calls(app: Flask, samples: dict[str, Any]) -> list[tuple[str, str, str]]:
    calls = []
    for rule in app.url_map.iter_rules():
        missing = set(rule.arguments) - set(samples)
        assert not missing, f"{rule.rule}: no sample value for {missing}"
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{a: samples[a] for a in rule.arguments})
        if rule.endpoint in QUERY_STRINGS:
            url += "?" + QUERY_STRINGS[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            calls.append((rule.endpoint, method, url))
    # Signing out ends the session: last.
    return sorted(calls, key=lambda call: call[0] == "auth.logout")


def _call(client: FlaskClient, method: str, url: str, csrf: str | None) -> Any:
    headers = {"X-CSRFToken": csrf} if csrf else {}
    if method == "GET":
        return client.get(url, headers=headers)
    if url.startswith("/api/"):
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={}, headers=headers)


@pytest.mark.parametrize("role", [None, "auditor", "officer", "admin"])
def test_every_route_as_every_role(app: Flask, samples: dict[str, Any],
                                   role: str | None) -> None:
    client = app.test_client()
    csrf = sign_in(client, USERS[role]) if role else None
    problems = []
    for endpoint, method, url in _calls(app, samples):
        response = _call(client, method, url, csrf)
        status = response.status_code
        location = response.headers.get("Location", "")
        if _allowed(EXPECTED[endpoint], role):
            if status in (401, 403) or "/login?next=" in location or status >= 500:
                problems.append(f"{method} {url} ({endpoint}) refused or failed: {status}")
        elif role is None:
            api = url.startswith("/api/")
            refused = (status == 401 if api or method != "GET"
                       else status == 302 and "/login?next=" in location)
            if not refused:
                problems.append(f"{method} {url} ({endpoint}) let nobody in: {status}")
        elif status != 403:
            problems.append(f"{method} {url} ({endpoint}) let the {role} in: {status}")
    assert problems == []


def test_a_route_without_a_rule_is_refused_to_everyone(sandbox: Sandbox) -> None:
    from tests.web.conftest import make_app

    extra = make_app(sandbox.archive)

    @extra.route("/forgotten")
    def forgotten() -> str:
        return "should never be served"

    client = extra.test_client()
    sign_in(client, USERS["admin"])
    assert client.get("/forgotten").status_code == 403
    assert app_client_anonymous(extra).get("/forgotten").status_code == 403
    extra.extensions["archiver"].exports.close()


def app_client_anonymous(application: Flask) -> FlaskClient:
    return application.test_client()
