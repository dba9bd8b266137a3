"""The demo platform: the tests install the separately packaged demo connector
(tests/plugins/demo_connector) with pip, and serve its API from a real local server."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.server import FakeServer, RecordedRequest, Reply

PLUGIN = Path(__file__).parent.parent / "plugins" / "demo_connector"
TOKEN = "demo-token-7f3a9c-do-not-leak"


@pytest.fixture(scope="session")
def demo_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip-install the plugin into its own folder and put it on sys.path, as a
    separately installed distribution: entry points are found through its metadata."""
    target = tmp_path_factory.mktemp("plugin-site")
    source = tmp_path_factory.mktemp("plugin-source") / "demo_connector"
    shutil.copytree(PLUGIN, source)  # building leaves build/ beside the source: not in ours
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class DemoPlatform:
    """A mutable little platform: items, deletions, images, scripted failures."""

    def __init__(self, server: FakeServer, page_size: int = 3) -> None:
        self.server = server
        self.page_size = page_size
        self.items: dict[int, dict] = {}
        self.images: dict[str, bytes] = {}
        self.fail_after_pages: int | None = None
        self.pages_served = 0
        server.add("GET", "/items", self._list)
        server.add("GET", __import__("re").compile(r"/items/(\d+)"), self._one)
        server.add("GET", __import__("re").compile(r"/media/.+"), self._media)

    def post(self, item_id: int, text: str, image: bytes | None = None) -> None:
        payload = {"id": item_id, "text": text}
        if image is not None:
            name = f"/media/{item_id}.png"
            self.images[name] = image
            payload["image"] = self.server.url_for(name)
        self.items[item_id] = payload

    def _authorised(self, request: RecordedRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    def _list(self, request: RecordedRequest) -> Reply:
        if not self._authorised(request):
            return Reply.json({"error": "unauthorised"}, 401)
        if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
            return Reply.json({"error": "boom"}, 500)
        self.pages_served += 1
        since = int(request.param("since") or 0)
        ids = sorted(i for i in self.items if i > since)[: self.page_size]
        more = any(i > (ids[-1] if ids else since) for i in self.items)
        return Reply.json(
            {"items": [self.items[i] for i in ids], "next": ids[-1] if ids and more else None}
        )

    def _one(self, request: RecordedRequest) -> Reply:
        item_id = int(request.path.rsplit("/", 1)[1])
        if item_id not in self.items:
            return Reply.json({"error": "Record not found"}, 404)
        return Reply.json(self.items[item_id])

    def _media(self, request: RecordedRequest) -> Reply:
        body = self.images.get(request.path)
        if body is None:
            return Reply.json({"error": "no such media"}, 404)
        return Reply(200, {"Content-Type": "image/png"}, body)


@pytest.fixture
def demo_platform() -> Iterator[DemoPlatform]:
    with FakeServer() as server:
        yield DemoPlatform(server)


def ctrl_c_at_second_page(runner: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C as the runner starts archiving its second page: the first is kept."""
    archive_page = runner._archive_page  # type: ignore[attr-defined]
    pages = iter(range(10**6))

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if next(pages) == 1:
            raise KeyboardInterrupt
        return archive_page(*args, **kwargs)

    monkeypatch.setattr(runner, "_archive_page", interrupted)


def the_run_failed_as_interrupted(archive: object) -> None:
    """The only run row says failed, interrupted: not running for ever."""
    from sqlalchemy import select

    from storage.catalogue.models import capture_runs

    with archive.engine.connect() as conn:  # type: ignore[attr-defined]
        status, errors = conn.execute(select(capture_runs.c.status, capture_runs.c.errors)).one()
    assert status == "failed" and "interrupted: KeyboardInterrupt" in errors[0]["message"]
