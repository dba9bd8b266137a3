"""Building Facebook and Instagram connectors and Meta exports for their tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
