"""A fake X API over real HTTP and connectors aimed at it, with a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.base import Account, ConnectorContext
from connectors.x import XConnector, XSettings
from tests.fakes import FakeClock
from tests.fakes.server import FakeServer
from tests.fakes.x import ORG_ID, FakeX

from .support import HANDLE, TOKEN, TOKEN_ENV


@pytest.fixture
def x(fake_server: FakeServer, fake_clock: FakeClock) -> FakeX:
    return FakeX(fake_server, TOKEN, clock=fake_clock.now)


@pytest.fixture
def make_connector(
    fake_server: FakeServer, connector_context: ConnectorContext, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., XConnector]]:
    """A connector whose clients talk to the fake server and sleep on the fake clock,
    the way the framework's ConnectorContext.make_client would build them."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    built: list[XConnector] = []

    def build(**overrides: Any) -> XConnector:
        options: dict[str, Any] = {
            "base_url": fake_server.url,
            "token_env": TOKEN_ENV,
            "allow_media_hosts": ["127.0.0.1"],
            "user_id": ORG_ID,
            "page_size": 10,
            **overrides,
        }
        account = Account(1, "x", HANDLE, XSettings(**options))
        connector = XConnector(account, connector_context)
        built.append(connector)
        return connector

    yield build
    for connector in built:
        connector.close()
