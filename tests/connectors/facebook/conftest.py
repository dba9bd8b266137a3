"""A fake Graph API over real HTTP and Facebook Pages connectors aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.facebook import FacebookPagesConnector
from tests.connectors.support import collect
from tests.fakes import FakeClock
from tests.fakes.meta_graph import PAGE_ID, FakeGraph
from tests.fakes.server import FakeServer

from .support import TOKEN, TOKEN_ENV, connector_factory


@pytest.fixture
def graph(fake_server: FakeServer, fake_clock: FakeClock) -> FakeGraph:
    return FakeGraph(fake_server, TOKEN, clock=fake_clock.now)


@pytest.fixture
def make_connector(
    fake_server: FakeServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., FacebookPagesConnector]]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    build, built = connector_factory(
        FacebookPagesConnector,
        "facebook",
        "@fbdevs",
        fake_server.url,
        fake_clock,
        {"page_id": PAGE_ID, "page_limit": 3},
    )
    yield build
    for connector in built:
        connector.close()


@pytest.fixture
def run(make_connector: Callable[..., Any]) -> Callable[..., Any]:
    """Drain one fetch with a fresh connector."""

    def go(cursor: dict[str, str] | None = None, **overrides: Any) -> Any:
        return collect(make_connector(**overrides).fetch(cursor or {}), cursor)

    return go
