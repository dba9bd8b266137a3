"""Web app fixtures: one realistic archive per session (the sandbox credit union,
captured twice by the real Mastodon connector, plus hostile posts), users of every
role, an app over it, and signed-in test clients."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.cli.quickstart import SANDBOX_HANDLE, SANDBOX_TOKEN_ENV
from archiver.item import CaptureContext, MediaRef
from archiver.records import media_key
from archiver.sandbox.server import SandboxServer
from archiver.setup import initialise
from archiver.users import UserService
from archiver.web.app import create_app
from archiver.web.state import WebConfig
from tests.conftest import make_settings
from tests.support.items import make_item

# Cheap argon2 parameters: the tests sign in hundreds of times.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
USERS = {"admin": "ada", "officer": "olive", "auditor": "audrey"}
HOSTILE_TEXT = (
    "<script>alert('owned')</script> see javascript:alert(1) and "
    '<img src=x onerror="alert(2)"> <a href="javascript:alert(3)">click</a> '
    "https://example.org/ok?a=1&b=<2>"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


@dataclass
class Sandbox:
    archive: Archive
    root: Path
    record_ids: dict[str, str]  # native id -> latest record id
    versions: dict[str, list[str]]  # native id -> record ids, oldest first
    media_record: str
    media_sha256: str
    svg_record: str
    svg_sha256: str
    hostile_record: str


def _record_ids(archive: Archive) -> tuple[dict[str, str], dict[str, list[str]]]:
    from sqlalchemy import select

    from storage.catalogue.models import records

    latest: dict[str, str] = {}
    versions: dict[str, list[str]] = {}
    with archive.engine.connect() as conn:
        for row in conn.execute(
            select(records.c.native_id, records.c.record_id).order_by(records.c.version)
        ):
            latest[row.native_id] = row.record_id
            versions.setdefault(row.native_id, []).append(row.record_id)
    return latest, versions


def build_sandbox(root: Path) -> Sandbox:
    """The quickstart's archive plus hostile content, indexed and checkpointed."""
    settings = make_settings(root)
    initialise(settings)
    archive = Archive.open(settings, actor="test:setup")
    previous = os.environ.get(SANDBOX_TOKEN_ENV)
    with SandboxServer() as sandbox:
        os.environ[SANDBOX_TOKEN_ENV] = sandbox.token
        try:
            account = AccountService(archive.engine, archive.clock).add(
                "mastodon", SANDBOX_HANDLE,
                {"base_url": sandbox.url, "token_env": SANDBOX_TOKEN_ENV,
                 "allow_media_hosts": ["127.0.0.1"]},
            )
            runner = CaptureRunner(archive)
            runner.run(account)
            sandbox.organisation.apply_changes()
            runner.run(account)
        finally:
            if previous is None:
                os.environ.pop(SANDBOX_TOKEN_ENV, None)
            else:
                os.environ[SANDBOX_TOKEN_ENV] = previous
    svg_sha = hashlib.sha256(SVG).hexdigest()
    archive.store.put(media_key(svg_sha), SVG)
    capture = CaptureContext("test", "0", "https://x.test/api",
                             captured_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    hostile = make_item("evil-1", HOSTILE_TEXT, account="@mallory@x.test",
                        author="<b>mallory</b>", url="javascript:alert(5)",
                        urls=["javascript:alert(4)", "https://example.org/fine"])
    svg_post = make_item("evil-2", "an innocent picture", account="@mallory@x.test")
    svg_post = dataclasses.replace(svg_post, capture=capture, media=(
        MediaRef(svg_sha, len(SVG), "image/svg+xml", "https://x.test/pic.svg"),))
    archive.ingest([hostile, svg_post])
    archive.search.index_pending()
    archive.checkpoint()
    latest, versions = _record_ids(archive)
    from sqlalchemy import select

    from storage.catalogue.retention import record_media

    with archive.engine.connect() as conn:
        media_record, media_sha = conn.execute(
            select(record_media.c.record_id, record_media.c.sha256)
            .where(record_media.c.sha256 != svg_sha)
        ).first()
    return Sandbox(archive, root, latest, versions, media_record, media_sha,
                   latest["evil-2"], svg_sha, latest["evil-1"])


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    built = build_sandbox(tmp_path_factory.mktemp("web-sandbox"))
    users = UserService(built.archive, FAST_HASHER)
    for role, name in USERS.items():
        users.add(name, role, PASSWORD)
    yield built
    built.archive.close()


def make_app(archive: Archive, **options: Any) -> Flask:
    config = WebConfig(secure_cookies=options.pop("secure_cookies", False),
                       password_hasher=FAST_HASHER, testing=True, **options)
    return create_app(archive, config)


@pytest.fixture(scope="session")
def app(sandbox: Sandbox) -> Iterator[Flask]:
    application = make_app(sandbox.archive)
    yield application
    application.extensions["archiver"].exports.close()


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    page = client.get("/login")
    token = csrf_from(page.text)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token})
    assert response.status_code == 302, response.text
    return csrf_from(client.get("/account").text)


@pytest.fixture
def client_as(app: Flask) -> Any:
    """client_as(role) -> (a signed-in test client, its CSRF token)."""

    def make(role: str) -> tuple[FlaskClient, str]:
        client = app.test_client()
        return client, sign_in(client, USERS[role])

    return make
