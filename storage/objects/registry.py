"""Find object-store backends by name through entry points; the core never imports one."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from archiver.errors import StorageError
from storage.objects.base import ObjectStore

GROUP = "archiver.storage"


def open_object_store(settings: Any) -> ObjectStore:
    name = settings.storage.backend
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise StorageError(f"unknown storage backend {name!r} (installed: {', '.join(sorted(found))})")
    store = found[name].load().from_settings(settings)
    store.check()
    return store
