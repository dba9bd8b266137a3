"""Export importers by format name, through the `archiver.importers` entry points."""

from __future__ import annotations

from connectors.exports.base import ExportImporter
from connectors.plugins import load_plugin, plugin_names

GROUP = "archiver.importers"


def importer_names() -> list[str]:
    return plugin_names(GROUP)


def load_importer(name: str) -> ExportImporter:
    return load_plugin(GROUP, name, ExportImporter, "importer")()
