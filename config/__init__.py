"""Configuration: the settings schema, the TOML + environment loader, the example file."""

from config.loader import ConfigProblems, load_settings
from config.settings import Settings

__all__ = ["ConfigProblems", "Settings", "load_settings"]
