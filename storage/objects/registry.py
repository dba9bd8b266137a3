"""Find an object-store backend by name and open it.

The core never imports a backend: it names one in the settings and the
registry loads it from the `archiver.storage` entry points, so a new backend
is one package plus one entry-point line.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from archiver.errors import StorageError
from storage.objects.base import ObjectStore
from storage.objects.spool import spool_if_enabled

ENTRY_POINT_GROUP = "archiver.storage"


def installed_backends() -> list[str]:
    """The names of every installed object-store backend, sorted."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def backend_class(name: str) -> type[ObjectStore]:
    """The ObjectStore class registered under `name`."""
    entry = _entry_point(name)
    try:
        loaded = entry.load()
    except (ImportError, AttributeError) as exc:
        raise StorageError(
            f"object-store backend {name!r} is installed ({entry.value}) but cannot be "
            f"loaded: {exc}; reinstall the package that provides it"
        ) from exc
    if not (isinstance(loaded, type) and issubclass(loaded, ObjectStore)):
        raise StorageError(
            f"object-store backend {name!r} ({entry.value}) is not an ObjectStore subclass"
        )
    return loaded


def open_object_store(settings: Any) -> ObjectStore:
    """The configured store, built from the settings and checked usable, so a
    misconfigured store fails at start-up rather than at the first write. With
    storage.spool enabled it comes wrapped in the spool (storage/objects/spool.py)."""
    store = backend_class(settings.storage.backend).from_settings(settings)
    store = spool_if_enabled(store, settings)
    try:
        store.check()
    except BaseException:
        store.close()
        raise
    return store


def _entry_point(name: str) -> EntryPoint:
    matches = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    if not matches:
        installed = ", ".join(installed_backends()) or "none"
        raise StorageError(
            f"unknown object-store backend {name!r}; installed: {installed} "
            f"(entry-point group {ENTRY_POINT_GROUP!r}; check storage.backend)"
        )
    return matches[0]
