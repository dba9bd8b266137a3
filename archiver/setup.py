"""Creating an archive: folders, catalogue schema, signing key, example config."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from archiver.signing import create_key, load_signer
from config.settings import Settings
from storage.catalogue.db import open_engine
from storage.catalogue.migrate import upgrade
from storage.objects.registry import open_object_store


def example_config() -> str:
    return files("config").joinpath("example.toml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class InitReport:
    archive_dir: Path
    catalogue_url: str
    key_file: Path
    key_created: bool
    key_id: str


def initialise(settings: Settings) -> InitReport:
    """Idempotent: safe to run again; never replaces an existing key."""
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.catalogue_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    open_object_store(settings).close()
    created = not settings.key_file.exists()
    signer = create_key(settings.key_file) if created else load_signer(settings.key_file)
    return InitReport(
        settings.archive_dir, settings.catalogue_url, settings.key_file, created, signer.key_id
    )
