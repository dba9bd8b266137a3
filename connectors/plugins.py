"""Plugins by name through entry points: connectors, importers. The core never
imports a platform package; it asks here."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TypeVar

from archiver.errors import UsageError

T = TypeVar("T")


def plugin_names(group: str) -> list[str]:
    return sorted(ep.name for ep in entry_points(group=group))


def load_plugin(group: str, name: str, base: type[T], kind: str) -> type[T]:
    """The class registered as `name`, with a clear UsageError when it is missing or broken."""
    found = {ep.name: ep for ep in entry_points(group=group)}
    if name not in found:
        installed = ", ".join(sorted(found)) or "none"
        raise UsageError(f"no {kind} named {name!r} (installed: {installed})")
    try:
        loaded = found[name].load()
    except (ImportError, AttributeError) as exc:
        where = found[name].value
        raise UsageError(f"the {kind} {name!r} ({where}) failed to load: {exc}") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, base)):
        raise UsageError(f"entry point {name!r} does not name a {base.__name__} subclass")
    return loaded
