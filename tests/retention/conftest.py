from __future__ import annotations

from collections.abc import Iterator

import pytest

from archiver.archive import Archive
from tests.retention.helpers import short_lived


@pytest.fixture
def archive_30d(tmp_path, catalogue_url, open_archive) -> Iterator[Archive]:
    """An archive (SQLite and PostgreSQL) whose records are kept 30 days from capture."""
    opened = open_archive(short_lived(tmp_path, catalogue_url))
    yield opened
    opened.close()
