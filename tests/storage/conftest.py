"""Fixtures of the storage tests: one moto S3 server per session, and the
`object_store` fixture that runs each contract test on every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.objects.base import ObjectStore
from storage.objects.registry import open_object_store
from tests.support import local_settings
from tests.support.s3 import s3_settings

BACKENDS = ["local", "s3"]


@pytest.fixture
def open_s3_store(moto_endpoint: str, tmp_path: Path) -> Iterator[Callable[..., ObjectStore]]:
    """Open S3 stores on the moto server (a new bucket unless `bucket=` is given)."""
    opened: list[ObjectStore] = []

    def opener(**s3_options: Any) -> ObjectStore:
        store = open_object_store(s3_settings(moto_endpoint, tmp_path, **s3_options))
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture(params=BACKENDS)
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each backend in turn, opened through the registry as the archiver opens it."""
    if request.param == "s3":
        settings = s3_settings(request.getfixturevalue("moto_endpoint"), tmp_path)
    else:
        settings = local_settings(tmp_path)
    store = open_object_store(settings)
    yield store
    store.close()
