"""Signing in and out, sessions, cookies, CSRF, API tokens and login rate limits
(on SQLite and PostgreSQL: the limits live in the catalogue)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.errors import UsageError
from archiver.users import LoginLimits, UserService
from storage.catalogue.web import api_tokens, web_sessions, web_users
from tests.web.conftest import FAST_HASHER, PASSWORD, USERS, Sandbox, csrf_from, make_app, sign_in


def _login(client, username: str, password: str, address: str = "127.0.0.1"):  # noqa: ANN001, ANN202
    page = client.get("/login", environ_base={"REMOTE_ADDR": address})
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.text)},
                       environ_base={"REMOTE_ADDR": address})


def test_a_wrong_password_and_an_unknown_user_look_the_same(app: Flask) -> None:
    client = app.test_client()
    wrong = _login(client, USERS["officer"], "not the password", "10.9.0.1")
    unknown = _login(client, "nobody-at-all", "not the password", "10.9.0.1")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.text and "Wrong username or password." in unknown.text
    assert client.get("/search").status_code == 302


def test_cookies_are_secure_httponly_samesite_strict(sandbox: Sandbox) -> None:
    secure = make_app(sandbox.archive, secure_cookies=True)
    client = secure.test_client()
    response = client.get("/login", base_url="https://archive.example")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-archiver=")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Domain=" not in cookie and "; Path=/" in cookie
    secure.extensions["archiver"].exports.close()
    # For plain http on this machine only: no Secure, the rest as strict.
    local = make_app(sandbox.archive).test_client().get("/login").headers["Set-Cookie"]
    assert local.startswith("archiver=") and "Secure" not in local
    assert "HttpOnly" in local and "SameSite=Strict" in local


def test_passwords_are_argon2id_hashes(sandbox: Sandbox) -> None:
    users = UserService(sandbox.archive)  # the default parameters
    users.add("hash-check", "auditor", PASSWORD)
    with sandbox.archive.engine.connect() as conn:
        stored = conn.execute(select(web_users.c.password_hash)
                              .where(web_users.c.username == "hash-check")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    with pytest.raises(UsageError, match="12 characters"):
        users.add("short", "auditor", "too short")
    with pytest.raises(UsageError, match="role"):
        users.add("odd-role", "superuser", PASSWORD)


def test_signing_out_ends_the_session_on_the_server(app: Flask) -> None:
    client = app.test_client()
    csrf = sign_in(client, USERS["auditor"])
    stolen = client.get_cookie("archiver").value
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/search").status_code == 302
    replay = app.test_client()
    replay.set_cookie("archiver", stolen)  # the cookie as it was before signing out
    response = replay.get("/search")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_forms_need_the_csrf_token(app: Flask, client_as) -> None:  # noqa: ANN001
    client, csrf = client_as("officer")
    data = {"matter": "csrf-check", "query": "savings", "reason": "testing CSRF"}
    refused = client.post("/holds", data=data)
    assert refused.status_code == 400 and "security token" in refused.text
    accepted = client.post("/holds", data={**data, "csrf_token": csrf})
    assert accepted.status_code == 302
    # The login form too (login CSRF).
    assert app.test_client().post("/login", data={"username": "ada",
                                                  "password": PASSWORD}).status_code == 400


def test_api_writes_with_a_session_need_the_csrf_header(client_as) -> None:  # noqa: ANN001
    client, csrf = client_as("officer")
    body = {"matter": "api-csrf", "query": "savings", "reason": "testing"}
    assert client.post("/api/v1/holds", json=body).status_code == 400
    assert client.post("/api/v1/holds", json=body, headers={"X-CSRFToken": csrf}).status_code == 201


def test_no_redirect_off_site_after_signing_in(app: Flask) -> None:
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        page = client.get("/login")
        response = client.post(f"/login?next={target}", data={
            "username": USERS["auditor"], "password": PASSWORD,
            "csrf_token": csrf_from(page.text)})
        assert response.status_code == 302
        assert response.headers["Location"] == "/", target
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(app: Flask,
                                                               sandbox: Sandbox) -> None:
    users = UserService(sandbox.archive, FAST_HASHER)
    row, token = users.create_token(USERS["auditor"], "script")
    with sandbox.archive.engine.connect() as conn:
        stored = conn.execute(select(api_tokens).where(api_tokens.c.id == row["id"])).one()
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored._mapping.values())
    assert token not in str(users.tokens())
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200 and me.json["actor"] == f"web:{USERS['auditor']}"
    assert client.get("/api/v1/holds", headers=auth).status_code == 403  # the auditor's role
    assert client.get("/search", headers=auth).status_code == 302  # pages need a session
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer arch_wrong"}
                      ).status_code == 401
    users.revoke_token(row["id"])
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_a_disabled_user_is_out_at_once(app: Flask, sandbox: Sandbox) -> None:
    users = UserService(sandbox.archive, FAST_HASHER)
    users.add("leaver", "officer", PASSWORD)
    _, token = users.create_token("leaver", "cron")
    client = app.test_client()
    sign_in(client, "leaver")
    assert client.get("/holds").status_code == 200
    users.set_disabled("leaver", True)
    assert client.get("/holds").status_code == 302
    assert app.test_client().get("/api/v1/me", headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    assert _login(app.test_client(), "leaver", PASSWORD, "10.9.0.2").status_code == 401
    with sandbox.archive.engine.connect() as conn:
        user_id = conn.execute(select(web_users.c.id).where(web_users.c.username == "leaver")
                               ).scalar_one()
        assert conn.execute(select(web_sessions).where(web_sessions.c.user_id == user_id)
                            ).first() is None


@pytest.fixture
def limited(archive: Archive) -> Archive:
    """On SQLite and PostgreSQL: the limits are kept in the catalogue."""
    UserService(archive, FAST_HASHER).add("carol", "officer", PASSWORD)
    return archive


@pytest.fixture
def limited_sqlite(sqlite_archive: Archive) -> Archive:
    UserService(sqlite_archive, FAST_HASHER).add("carol", "officer", PASSWORD)
    return sqlite_archive


def test_login_rate_limit_per_username_survives_a_restart(limited: Archive,
                                                          clock: FixedClock) -> None:
    limits = LoginLimits(per_username=3, per_address=100, window=timedelta(minutes=15))
    application = make_app(limited, login_limits=limits)
    client = application.test_client()
    for attempt in range(3):  # from different addresses: the username's limit counts
        assert _login(client, "carol", "wrong password", f"10.0.0.{attempt}").status_code == 401
    blocked = _login(client, "carol", PASSWORD, "10.0.1.1")  # even the right password
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "too many failed sign-ins" in blocked.text
    application.extensions["archiver"].exports.close()
    # A new app over the same catalogue (a restart) still refuses.
    restarted = make_app(limited, login_limits=limits)
    assert _login(restarted.test_client(), "carol", PASSWORD, "10.0.1.2").status_code == 429
    clock.advance(minutes=16)
    assert _login(restarted.test_client(), "carol", PASSWORD, "10.0.1.3").status_code == 302
    restarted.extensions["archiver"].exports.close()


def test_login_rate_limit_per_address(limited: Archive, clock: FixedClock) -> None:
    limits = LoginLimits(per_username=100, per_address=4, window=timedelta(minutes=15))
    application = make_app(limited, login_limits=limits)
    client = application.test_client()
    for n in range(4):  # guessing different usernames from one address
        assert _login(client, f"guess{n}", "wrong password", "192.0.2.7").status_code == 401
    assert _login(client, "carol", PASSWORD, "192.0.2.7").status_code == 429
    assert _login(client, "carol", PASSWORD, "192.0.2.8").status_code == 302  # other address
    clock.advance(minutes=16)
    assert _login(application.test_client(), "carol", PASSWORD, "192.0.2.7").status_code == 302
    application.extensions["archiver"].exports.close()


def test_a_success_resets_the_username_count(limited_sqlite: Archive) -> None:
    users = UserService(limited_sqlite, FAST_HASHER, LoginLimits(per_username=3, per_address=100))
    for _ in range(2):
        assert users.login("carol", "wrong password", "10.1.0.1") is None
    assert users.login("carol", PASSWORD, "10.1.0.1") is not None
    for _ in range(2):
        assert users.login("carol", "wrong password", "10.1.0.1") is None
    assert users.login("carol", PASSWORD, "10.1.0.1") is not None  # 2 since the success


def test_sessions_expire_when_idle(limited_sqlite: Archive, clock: FixedClock) -> None:
    application = make_app(limited_sqlite)
    client = application.test_client()
    sign_in(client, "carol")
    assert client.get("/holds").status_code == 200
    clock.advance(minutes=59)
    assert client.get("/holds").status_code == 200  # and the session is touched
    clock.advance(minutes=59)
    assert client.get("/holds").status_code == 200
    clock.advance(minutes=61)
    assert client.get("/holds").status_code == 302
    application.extensions["archiver"].exports.close()
