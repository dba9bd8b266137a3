"""A fake Reddit over real HTTP and connectors aimed at it, with a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.base import Account, ConnectorContext
from connectors.reddit import RedditConnector, RedditSettings
from tests.fakes import FakeClock
from tests.fakes.reddit import FakeReddit
from tests.fakes.server import FakeServer

from .support import HANDLE, TOKEN, TOKEN_ENV


@pytest.fixture
def reddit(fake_server: FakeServer, fake_clock: FakeClock) -> FakeReddit:
    return FakeReddit(fake_server, TOKEN, clock=fake_clock.now)


@pytest.fixture
def make_connector(
    fake_server: FakeServer, connector_context: ConnectorContext, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., RedditConnector]]:
    """A connector whose clients talk to the fake server and sleep on the fake clock,
    the way the framework's ConnectorContext.make_client builds them."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    built: list[RedditConnector] = []

    def build(**overrides: Any) -> RedditConnector:
        options: dict[str, Any] = {
            "base_url": fake_server.url,
            "token_env": TOKEN_ENV,
            "allow_media_hosts": ["127.0.0.1"],
            "page_limit": 3,
            **overrides,
        }
        account = Account(1, "reddit", HANDLE, RedditSettings(**options))
        connector = RedditConnector(account, connector_context)
        built.append(connector)
        return connector

    yield build
    for connector in built:
        connector.close()
