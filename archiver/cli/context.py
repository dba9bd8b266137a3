"""What every command shares: the loaded settings, the opened archive, output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console

from archiver.archive import Archive
from archiver.errors import ConfigError
from config import ConfigProblems, Settings, load_settings


@dataclass
class CliContext:
    config_path: str | None
    _settings: Settings | None = None
    _archive: Archive | None = None
    console: Console = field(default_factory=lambda: Console(stderr=False))
    errors: Console = field(default_factory=lambda: Console(stderr=True))

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigProblems as exc:
                raise ConfigError(exc.problems, exc.source) from None
        return self._settings

    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = Archive.open(self.settings)
        return self._archive

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    @property
    def interactive(self) -> bool:
        return sys.stderr.isatty()


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


pass_cli = click.make_pass_decorator(CliContext)
