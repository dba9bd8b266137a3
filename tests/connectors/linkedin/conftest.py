"""A fake LinkedIn over real HTTP and connectors aimed at it, with a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.base import Account, ConnectorContext
from connectors.linkedin import LinkedInConnector, LinkedInSettings
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.server import FakeServer

from .support import HANDLE, TOKEN, TOKEN_ENV


@pytest.fixture
def linkedin(fake_server: FakeServer) -> FakeLinkedIn:
    return FakeLinkedIn(fake_server, TOKEN)


@pytest.fixture
def make_connector(
    fake_server: FakeServer, connector_context: ConnectorContext, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., LinkedInConnector]]:
    """A connector whose clients talk to the fake server and sleep on the fake clock,
    the way the framework's ConnectorContext.make_client builds them."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    built: list[LinkedInConnector] = []

    def build(**overrides: Any) -> LinkedInConnector:
        options: dict[str, Any] = {
            "base_url": fake_server.url,
            "token_env": TOKEN_ENV,
            "allow_media_hosts": ["127.0.0.1"],
            "page_size": 3,
            **overrides,
        }
        account = Account(1, "linkedin", HANDLE, LinkedInSettings(**options))
        connector = LinkedInConnector(account, connector_context)
        built.append(connector)
        return connector

    yield build
    for connector in built:
        connector.close()
