"""Shared fixtures: settings on a temporary archive, catalogues on SQLite and
PostgreSQL, an initialised archive with a fixed clock."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.setup import initialise
from config.settings import Settings
from tests.support import postgres
from tests.support.s3 import moto_s3_server

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

# The CLI tests run `python -m archiver.cli` in a fresh folder: it must import this
# checkout, not the copy an editable install points at (a git worktree shares it).
CHECKOUT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")]))


def make_settings(root: Path, catalogue_url: str | None = None, **sections: Any) -> Settings:
    data: dict[str, Any] = {"archive": {"dir": str(root / "archive")}, **sections}
    if catalogue_url:
        data["catalogue"] = {"url": catalogue_url}
    return Settings(**data)


@pytest.fixture(scope="session")
def postgres_reason() -> str | None:
    return postgres.unavailable_reason()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogue_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_reason: str | None
) -> Iterator[str]:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalogue.sqlite3'}"
        return
    if postgres_reason:
        pytest.skip(postgres_reason)
    with postgres.fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 over HTTP on 127.0.0.1, with fake credentials in the environment."""
    with moto_s3_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path, catalogue_url: str) -> Settings:
    return make_settings(tmp_path, catalogue_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def _open(settings: Settings, clock: FixedClock) -> Archive:
    initialise(settings)
    return Archive.open(settings, clock=clock, actor="test:officer")


@pytest.fixture
def archive(settings: Settings, clock: FixedClock) -> Iterator[Archive]:
    """An initialised archive, on SQLite and on PostgreSQL."""
    opened = _open(settings, clock)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_archive(sqlite_settings: Settings, clock: FixedClock) -> Iterator[Archive]:
    """An initialised archive on SQLite only, for tests about files, not SQL."""
    opened = _open(sqlite_settings, clock)
    yield opened
    opened.close()


@pytest.fixture
def open_archive(clock: FixedClock) -> Callable[[Settings], Archive]:
    return lambda settings: _open(settings, clock)
