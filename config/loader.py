"""Find, read and validate the configuration, reporting every problem at once."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.settings import Settings

DEFAULT_CONFIG_NAME = "archiver.toml"
CONFIG_ENV_VAR = "ARCHIVER_CONFIG"


class ConfigProblems(Exception):
    """Raised with the list of problems; the archiver turns it into its ConfigError."""

    def __init__(self, problems: list[str], source: str | None) -> None:
        self.problems = problems
        self.source = source
        super().__init__("; ".join(problems))


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config PATH, else $ARCHIVER_CONFIG, else ./archiver.toml if it exists."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR])
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings from TOML plus environment overrides; relative paths are
    taken from the config file's folder so the archive does not move with the cwd."""
    path = resolve_config_path(explicit)
    data: dict[str, Any] = {}
    source = str(path) if path else None
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigProblems([f"config file not found: {path}"], source) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigProblems([f"not valid TOML: {exc}"], source) from None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigProblems([_describe(err) for err in exc.errors()], source) from None
    base = path.parent if path is not None else Path.cwd()
    return _anchor_paths(settings, base.resolve())


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling against config/example.toml)"
    return f"{location}: {message}"


def _anchor_paths(settings: Settings, base: Path) -> Settings:
    def anchored(value: Path | None) -> Path | None:
        return value if value is None or value.is_absolute() else base / value

    settings.archive.dir = anchored(settings.archive.dir)  # type: ignore[assignment]
    settings.storage.local.path = anchored(settings.storage.local.path)
    settings.signing.key_file = anchored(settings.signing.key_file)
    settings.search.index_dir = anchored(settings.search.index_dir)
    return settings
