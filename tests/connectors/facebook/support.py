"""Running the Facebook and Instagram connectors in tests and looking at what they yielded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.item import CapturedItem
from connectors.base import ArchivedItem, CursorUpdate

TOKEN = "EAAGraphSECRET-page-token-7f3a9c-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_META_TOKEN"


@dataclass
class Run:
    """Everything one fetch yielded, in order, and the cursor the framework would keep."""

    output: list[CapturedItem | CursorUpdate]
    cursor: dict[str, str] = field(default_factory=dict)

    @property
    def items(self) -> list[CapturedItem]:
        return [o for o in self.output if isinstance(o, CapturedItem)]

    @property
    def updates(self) -> list[CursorUpdate]:
        return [o for o in self.output if isinstance(o, CursorUpdate)]

    def ids(self, kind: str | None = None) -> list[str]:
        return [i.native_id for i in self.items if kind is None or i.kind == kind]

    def of(self, native_id: str) -> CapturedItem:
        found = [i for i in self.items if i.native_id == native_id]
        assert found, f"{native_id} was not yielded"
        return found[-1]


def collect(
    output: Iterable[CapturedItem | CursorUpdate], cursor: Mapping[str, str] | None = None
) -> Run:
    """Drain a fetch, keeping cursor updates as the framework does (last one wins)."""
    run = Run([], dict(cursor or {}))
    for produced in output:
        run.output.append(produced)
        if isinstance(produced, CursorUpdate):
            run.cursor[produced.stream] = produced.value
    return run


def as_stored(item: CapturedItem) -> str:
    """Everything of an item that could end up in a record, as one string."""
    return json.dumps(
        {
            "account": item.account,
            "content": item.content,
            "raw": item.raw,
            "capture": item.capture.as_json("2024-01-01T00:00:00Z"),
            "attachments": [a.__dict__ for a in item.attachments],
        },
        ensure_ascii=False,
        default=str,
    )


def archived_from(items: Iterable[CapturedItem], captured_at: datetime) -> list[ArchivedItem]:
    """What the archive would hold after these items: the last version of each."""
    latest: dict[str, CapturedItem] = {}
    for item in items:
        latest[item.native_id] = item
    return [
        ArchivedItem(i.native_id, i.kind, dict(i.content), captured_at)
        for i in latest.values()
        if not i.deleted
    ]


def connector_factory(
    connector_class: type, platform: str, handle: str, server_url: str, clock: Any,
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
            media.update(u for u in re.findall(r'"uri": "([^"]+)"', text)
                         if u.endswith(MEDIA_SUFFIXES))
        for uri in sorted(media):
            data = b"\x00\x00\x00\x18ftypmp42video" if uri.endswith(".mp4") else png_bytes()
            archive.writestr(prefix + uri, data)
    return path
