"""Backends are found by name through entry points, never imported by the core."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import StorageError
from storage.objects.local import LocalObjectStore
from storage.objects.registry import backend_class, installed_backends, open_object_store
from storage.objects.s3 import S3ObjectStore
from tests.support import local_settings


def test_the_installed_backends_are_found_by_name() -> None:
    assert {"local", "s3"} <= set(installed_backends())
    assert backend_class("local") is LocalObjectStore
    assert backend_class("s3") is S3ObjectStore


def test_an_unknown_backend_lists_the_installed_ones(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    settings.storage.backend = "floppy"  # past the settings validator, as a plugin might be
    with pytest.raises(StorageError, match="unknown object-store backend 'floppy'") as caught:
        open_object_store(settings)
    assert "local" in str(caught.value) and "s3" in str(caught.value)


def test_opening_checks_the_store(tmp_path: Path) -> None:
    (tmp_path / "objects").write_text("a file where the store should be")
    with pytest.raises(StorageError, match="not usable"):
        open_object_store(local_settings(tmp_path))
