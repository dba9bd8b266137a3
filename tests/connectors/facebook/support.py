"""Building Facebook and Instagram connectors and Meta exports for their tests, and
the fixtures both platforms' tests share (a conftest imports them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from tests.connectors.support import collect
from tests.fakes import FakeClock
from tests.fakes.meta_graph import FakeGraph
from tests.fakes.server import FakeServer

TOKEN = "EAAGraphSECRET-page-token-7f3a9c-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_META_TOKEN"


def connector_factory(
    connector_class: type,
    platform: str,
    handle: str,
    server_url: str,
    clock: Any,
    defaults: Mapping[str, Any],
) -> tuple[Any, list[Any]]:
    """A builder of connectors whose clients talk to the fake server and sleep on the
    fake clock, the way the framework's ConnectorContext.make_client builds them."""
    from connectors.base import Account, ConnectorContext
    from connectors.http import HttpClient

    built: list[Any] = []

    def make_client(**kwargs: Any) -> HttpClient:
        options: dict[str, Any] = {
            "base_url": server_url,
            "secrets": [TOKEN],
            "clock": clock.now,
            "sleep": clock.sleep,
            "rng": lambda: 1.0,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            "max_retries": 2,
            "allow_hosts": ["127.0.0.1"],
            **kwargs,
        }
        return HttpClient(**options)

    def build(**overrides: Any) -> Any:
        options = {
            "base_url": server_url,
            "token_env": TOKEN_ENV,
            "allow_media_hosts": ["127.0.0.1"],
            **defaults,
            **overrides,
        }
        settings = connector_class.settings_model(**options)
        account = Account(1, platform, handle, settings)
        connector = connector_class(account, ConnectorContext(make_client, clock.now))
        built.append(connector)
        return connector

    return build, built


def connector_fixture(
    connector_class: type, platform: str, handle: str, defaults: Mapping[str, Any]
) -> Any:
    """A `make_connector` fixture: connectors of this class aimed at the fake Graph
    API, with the token in the environment, closed after the test."""

    @pytest.fixture
    def make_connector(
        fake_server: FakeServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Callable[..., Any]]:
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        build, built = connector_factory(
            connector_class, platform, handle, fake_server.url, fake_clock, defaults
        )
        yield build
        for connector in built:
            connector.close()

    return make_connector


@pytest.fixture
def graph(fake_server: FakeServer, fake_clock: FakeClock) -> FakeGraph:
    return FakeGraph(fake_server, TOKEN, clock=fake_clock.now)


@pytest.fixture
def run(make_connector: Callable[..., Any]) -> Callable[..., Any]:
    """Drain one fetch with a fresh connector."""

    def go(cursor: dict[str, str] | None = None, **overrides: Any) -> Any:
        return collect(make_connector(**overrides).fetch(cursor or {}), cursor)

    return go


MEDIA_SUFFIXES = (".jpg", ".png", ".mp4")


def build_export(tree: Any, path: Any, prefix: str = "") -> Any:
    """Zip a sample export folder (tests/fixtures/*/dyi_export) as Meta delivers it,
    adding small media files for every media URI its JSON names (a PNG for images,
    a few bytes for videos), all under `prefix` (a zip's own top folder, if any)."""
    import re
    import zipfile
    from pathlib import Path

    from tests.fakes.meta_graph import png_bytes

    tree = Path(tree)
    media: set[str] = set()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(tree.rglob("*.json")):
            text = file.read_text(encoding="ascii")
            archive.writestr(prefix + file.relative_to(tree).as_posix(), text)
            media.update(
                u for u in re.findall(r'"uri": "([^"]+)"', text) if u.endswith(MEDIA_SUFFIXES)
            )
        for uri in sorted(media):
            data = b"\x00\x00\x00\x18ftypmp42video" if uri.endswith(".mp4") else png_bytes()
            archive.writestr(prefix + uri, data)
    return path
