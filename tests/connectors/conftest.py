"""Fixtures for connector tests: a fake platform server, an instant clock, a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.http import HttpClient
from tests.fakes import FakeClock
from tests.fakes.server import FakeServer


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def fake_clock() -> FakeClock:
    """Named so as not to shadow the archive's `clock` fixture from tests/conftest.py."""
    return FakeClock()


@pytest.fixture
def make_client(
    fake_server: FakeServer, fake_clock: FakeClock
) -> Iterator[Callable[..., HttpClient]]:
    """Build an HttpClient aimed at the fake server with instant, recorded sleeps.

    Jitter is pinned to its maximum (rng=1.0) so backoff durations are predictable.
    """
    clients: list[HttpClient] = []

    def build(**overrides: Any) -> HttpClient:
        options: dict[str, Any] = {
            "base_url": fake_server.url,
            "clock": fake_clock.now,
            "sleep": fake_clock.sleep,
            "rng": lambda: 1.0,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            "max_retries": 3,
        }
        options.update(overrides)
        client = HttpClient(**options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def connector_context(
    make_client: Callable[..., HttpClient], fake_clock: FakeClock
) -> ConnectorContext:
    """What the framework lends a connector, aimed at the fake server: its clients may
    fetch media from 127.0.0.1 and sleep on the fake clock."""
    return ConnectorContext(partial(make_client, allow_hosts=["127.0.0.1"]), fake_clock.now)
