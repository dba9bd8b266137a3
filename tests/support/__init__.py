"""Helpers shared by the test packages: real servers on 127.0.0.1, settings builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config.settings import Settings


def local_settings(archive_dir: Path | str, **local_options: Any) -> Settings:
    """Settings for the local backend with its objects under `archive_dir`."""
    sections: dict[str, Any] = {
        "archive": {"dir": Path(archive_dir)},
        "storage": {"backend": "local", "local": local_options},
    }
    return Settings(**sections)  # as config.loader builds it from a TOML file
