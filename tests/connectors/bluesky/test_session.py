"""Logging in with an app password, renewing expired tokens, refusing bad credentials."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from archiver.errors import FatalError
from connectors.bluesky import BlueskyConnector, LoginError
from tests.connectors.bluesky.conftest import PASSWORD_ENV, run_fetch
from tests.fakes.bluesky import APP_PASSWORD, JWT_MARK, FakeBluesky
from tests.fakes.server import FakeServer

MakeConnector = Callable[..., BlueskyConnector]


def test_creates_one_session_and_sends_its_access_jwt(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    sky.add_post("hello")
    sky.add_message(sky.add_convo("friend.test"), "hi")
    run = run_fetch(connector)
    assert run.error is None

    [login] = fake_server.requests_to("/xrpc/com.atproto.server.createSession", "POST")
    assert json.loads(login.body) == {"identifier": "archivist.test", "password": APP_PASSWORD}
    assert "authorization" not in login.headers
    assert APP_PASSWORD not in login.path + login.raw_query
    assert sky.sessions_created == 1
    later = [r for r in fake_server.requests if r is not login]
    assert later and all(
        r.headers["authorization"].startswith("Bearer ")
        and "access-1-" in r.headers["authorization"]
        for r in later
    )


@pytest.mark.parametrize("status", [400, 401], ids=["pds-400", "appview-401"])
def test_expired_token_is_refreshed_and_the_call_repeated(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer, status: int
) -> None:
    uris = [sky.add_post(f"post {n}") for n in range(4)]
    first = connector.xrpc.query("app.bsky.feed.getAuthorFeed", {"actor": sky.account.did})
    assert first.status == 200
    sky.expire_access_token(status)

    run = run_fetch(connector)

    assert run.error is None
    assert {i.native_id for i in run.items} == set(uris)
    assert sky.refreshes == 1
    assert sky.sessions_created == 1
    [refresh] = fake_server.requests_to("/xrpc/com.atproto.server.refreshSession", "POST")
    assert "refresh-1-" in refresh.headers["authorization"]
    assert "access-2-" in fake_server.requests[-1].headers["authorization"]


def test_a_refused_refresh_logs_in_again(sky: FakeBluesky, connector: BlueskyConnector) -> None:
    uri = sky.add_post("hello")
    assert connector.xrpc.session is not None  # logged in
    sky.expire_access_token()
    sky.expire_refresh_token()
    run = run_fetch(connector)
    assert run.error is None
    assert [i.native_id for i in run.items] == [uri]
    assert sky.sessions_created == 2
    assert sky.refreshes == 0


def test_a_wrong_app_password_is_fatal_and_names_the_fix(
    sky: FakeBluesky, connector: BlueskyConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-pw-SECRET-5c1d"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    sky.add_post("hello")
    run = run_fetch(connector)
    assert isinstance(run.error, LoginError)
    assert isinstance(run.error, FatalError)
    message = str(run.error)
    assert "app password" in message and PASSWORD_ENV in message
    assert wrong not in message
    assert run.items == []


def test_a_missing_password_variable_is_fatal(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch, fake_server: FakeServer
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    run = run_fetch(make_connector())
    assert isinstance(run.error, FatalError)
    assert PASSWORD_ENV in str(run.error)
    assert fake_server.requests == []


def test_dm_access_refused_is_fatal_after_the_posts(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    uri = sky.add_post("hello")
    sky.add_message(sky.add_convo("friend.test"), "hi")
    sky.deny_chat()
    run = run_fetch(connector)
    assert [i.native_id for i in run.items] == [uri]
    assert isinstance(run.error, FatalError)
    assert "chat_enabled" in str(run.error)
    assert JWT_MARK not in str(run.error)
