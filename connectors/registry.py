"""Connectors by name, through the `archiver.connectors` entry points."""

from __future__ import annotations

from connectors.base import Connector
from connectors.plugins import load_plugin, plugin_names

GROUP = "archiver.connectors"


def connector_names() -> list[str]:
    return plugin_names(GROUP)


def load_connector(name: str) -> type[Connector]:
    return load_plugin(GROUP, name, Connector, "connector")
