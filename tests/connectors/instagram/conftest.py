"""A fake Graph API over real HTTP and Instagram connectors aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.instagram import InstagramConnector
from tests.connectors.facebook.support import TOKEN, TOKEN_ENV, connector_factory
from tests.connectors.support import collect
from tests.fakes import FakeClock
from tests.fakes.meta_graph import IG_USER_ID, FakeGraph
from tests.fakes.server import FakeServer


@pytest.fixture
def graph(fake_server: FakeServer, fake_clock: FakeClock) -> FakeGraph:
    return FakeGraph(fake_server, TOKEN, clock=fake_clock.now)


@pytest.fixture
def make_connector(
    fake_server: FakeServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., InstagramConnector]]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    build, built = connector_factory(
        InstagramConnector,
        "instagram",
        "@example_org",
        fake_server.url,
        fake_clock,
        {"ig_user_id": IG_USER_ID, "page_limit": 2},
    )
    yield build
    for connector in built:
        connector.close()


@pytest.fixture
def run(make_connector: Callable[..., Any]) -> Callable[..., Any]:
    def go(cursor: dict[str, str] | None = None, **overrides: Any) -> Any:
        return collect(make_connector(**overrides).fetch(cursor or {}), cursor)

    return go
