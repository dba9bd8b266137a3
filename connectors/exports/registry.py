"""Export importers by format name, through the `archiver.importers` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from archiver.errors import UsageError
from connectors.exports.base import ExportImporter

GROUP = "archiver.importers"


def importer_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_importer(name: str) -> ExportImporter:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        installed = ", ".join(sorted(found)) or "none"
        raise UsageError(f"no importer for {name!r} exports (installed: {installed})")
    importer = found[name].load()
    if not (isinstance(importer, type) and issubclass(importer, ExportImporter)):
        raise UsageError(f"entry point {name!r} does not name an ExportImporter subclass")
    return importer()
