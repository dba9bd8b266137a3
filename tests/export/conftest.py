"""A realistic archive for evidence packs: the sandbox organisation captured twice by
the real Mastodon connector (threads, a reply chain, a DM conversation, an edit, a
deletion, an image), plus hostile and awkward items (a <script> post with a
javascript: link, a hidden comment, native ids that look like paths, delimiter
characters for the load file, a lone surrogate), under one legal hold."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.clock import FixedClock
from archiver.export.service import ExportRequest, ExportResult, ExportService
from archiver.holds import HoldService, Scope
from archiver.sandbox.server import SandboxServer
from archiver.setup import initialise
from config.settings import Settings
from tests.support.items import make_item

HANDLE = "@harbourcu@sandbox.local"
TOKEN_ENV = "ARCHIVER_EXPORT_TEST_TOKEN"
ORGANISATION = "Harbour Credit Union"
MATTER = "acme-inquiry"
SCRIPT_TEXT = "Click <script>alert('pwned')</script> <img src=x onerror=alert(1)> now"
HOSTILE_IDS = ("at://did:plc:x/app.bsky.feed.post/3k", "../../etc", "/etc/passwd", "a\\b:c*?")
DAT_TEXT = "line one\nline two þ ® \x14 end"
START = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


@dataclass
class Realistic:
    archive: Archive
    root: Path
    clock: FixedClock


def extra_items() -> list:
    return [
        make_item("evil-1", SCRIPT_TEXT, account=HANDLE, author="<b>mallory</b>",
                  url="javascript:alert(5)", thread_id="evil-1"),
        make_item("c-1", "Buy cheap followers!!!", account=HANDLE, kind="comment",
                  author="spammer@spam.example", in_reply_to="1001", thread_id="1001",
                  hidden=True, url="https://sandbox.local/@spammer/c-1"),
        make_item("dat-1", DAT_TEXT, account=HANDLE, author="þórr ®",
                  url="https://sandbox.local/@harbourcu/dat-1"),
        make_item("sur-1", "bad byte \udcff kept", account=HANDLE, author="harbourcu"),
        *[make_item(native_id, f"hostile id {n}", platform="bluesky", account="did:plc:x",
                    author="did:plc:x") for n, native_id in enumerate(HOSTILE_IDS)],
    ]  # fmt: skip


def build_realistic(root: Path) -> Realistic:
    settings = Settings(archive={"dir": str(root / "archive"), "organisation": ORGANISATION})
    initialise(settings)
    clock = FixedClock(START)
    archive = Archive.open(settings, clock=clock, actor="test:officer")
    with SandboxServer() as sandbox:
        os.environ[TOKEN_ENV] = sandbox.token
        try:
            account = AccountService(archive.engine, archive.clock).add(
                "mastodon", HANDLE,
                {"base_url": sandbox.url, "token_env": TOKEN_ENV, "allow_media_hosts": ["127.0.0.1"]},
            )  # fmt: skip
            runner = CaptureRunner(archive)
            runner.run(account)
            clock.advance(hours=26)
            sandbox.organisation.apply_changes()
            runner.run(account)
        finally:
            os.environ.pop(TOKEN_ENV, None)
    clock.advance(hours=1)
    archive.ingest(extra_items())
    archive.search.index_pending()
    archive.checkpoint()
    archive.verify()  # an earlier verification for the custody file to list
    HoldService(archive).create(MATTER, Scope("*"), "SEC inquiry 2026-17")
    clock.advance(hours=1)
    return Realistic(archive, root, clock)


@pytest.fixture(scope="session")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realistic]:
    built = build_realistic(tmp_path_factory.mktemp("export-archive"))
    yield built
    built.archive.close()


@dataclass
class Pack:
    path: Path
    result: ExportResult


@pytest.fixture(scope="session")
def pack(realistic: Realistic, tmp_path_factory: pytest.TempPathFactory) -> Pack:
    """The matter's pack, written once; tests that change it work on a copy."""
    out = tmp_path_factory.mktemp("packs") / "acme-pack"
    result = ExportService(realistic.archive).export(
        ExportRequest(out=out, matter=MATTER, reason="SEC request", recipient="J. Doe")
    )
    return Pack(out, result)


@pytest.fixture
def pack_copy(pack: Pack, tmp_path: Path) -> Path:
    target = tmp_path / "acme-pack"
    shutil.copytree(pack.path, target)
    return target
