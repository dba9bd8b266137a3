"""Plugins by name through entry points: connectors, importers. The core never
imports a platform package; it asks here."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, TypeVar

from archiver.errors import UsageError

T = TypeVar("T")
_LOADED: dict[tuple[str, str], type[Any]] = {}  # a class once loaded stays what its name means


def plugin_names(group: str) -> list[str]:
    return sorted(ep.name for ep in entry_points(group=group))


def load_plugin(group: str, name: str, base: type[T], kind: str) -> type[T]:
    """The class registered as `name`, with a clear UsageError when it is missing or broken.
    Found classes are kept: reading the installed packages' entry points takes about
    12 ms, and the daemon asks for a connector on every run. Names not found are
    looked up afresh each time, so a plugin installed meanwhile is seen."""
    known = _LOADED.get((group, name))
    if known is not None and issubclass(known, base):
        return known
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
    _LOADED[(group, name)] = loaded
    return loaded
