"""Connectors by name, through the `archiver.connectors` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from archiver.errors import UsageError
from connectors.base import Connector

GROUP = "archiver.connectors"


def connector_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_connector(name: str) -> type[Connector]:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise UsageError(
            f"no connector named {name!r} (installed: {', '.join(sorted(found)) or 'none'})"
        )
    connector = found[name].load()
    if not (isinstance(connector, type) and issubclass(connector, Connector)):
        raise UsageError(f"entry point {name!r} does not name a Connector subclass")
    return connector
