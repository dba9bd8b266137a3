"""A Bluesky connector wired to the fake service, with an instant clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from archiver.item import CapturedItem
from connectors.base import Account, ArchivedItem, ConnectorContext
from connectors.bluesky import BlueskyConnector, BlueskySettings
from connectors.http import HttpClient
from tests.connectors.support import Run, collect
from tests.fakes import FakeClock
from tests.fakes.bluesky import APP_PASSWORD, FakeBluesky
from tests.fakes.server import FakeServer

PASSWORD_ENV = "ARCHIVER_TEST_BSKY_APP_PASSWORD"


def run_fetch(connector: BlueskyConnector, cursor: dict[str, str] | None = None) -> Run:
    """Drive fetch like the framework: keep every cursor update; stop at an error."""
    return collect(connector.fetch(dict(cursor or {})), cursor, keep_error=True)


def archived(items: Iterable[CapturedItem]) -> list[ArchivedItem]:
    """What the archive would hand reconcile after storing `items`."""
    when = datetime(2025, 3, 2, tzinfo=UTC)
    return [ArchivedItem(i.native_id, i.kind, dict(i.content), when) for i in items]


@pytest.fixture
def sky(fake_server: FakeServer) -> FakeBluesky:
    return FakeBluesky(fake_server)


@pytest.fixture
def context(make_client: Callable[..., HttpClient], fake_clock: FakeClock) -> ConnectorContext:
    """make_client as the framework's: base_url set, sleeps instant and recorded."""
    return ConnectorContext(make_client=make_client, now=fake_clock.now)


@pytest.fixture
def make_connector(
    fake_server: FakeServer,
    sky: FakeBluesky,
    context: ConnectorContext,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., BlueskyConnector]]:
    monkeypatch.setenv(PASSWORD_ENV, APP_PASSWORD)
    built: list[BlueskyConnector] = []

    def build(**settings: Any) -> BlueskyConnector:
        options: dict[str, Any] = {
            "base_url": fake_server.url,
            "token_env": PASSWORD_ENV,
            "allow_media_hosts": ["127.0.0.1"],
            "page_limit": 2,
        }
        options.update(settings)
        account = Account(1, "bluesky", sky.account.handle, BlueskySettings(**options))
        connector = BlueskyConnector(account, context)
        built.append(connector)
        return connector

    yield build
    for connector in built:
        connector.close()


@pytest.fixture
def connector(make_connector: Callable[..., BlueskyConnector]) -> BlueskyConnector:
    return make_connector()
