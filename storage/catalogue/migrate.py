"""Schema migrations (Alembic), run from code so `archiver init` and
`archiver db upgrade` need no alembic.ini on the user's machine."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from archiver.errors import StorageError

SCRIPT_LOCATION = "storage.catalogue:migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def require_current(engine: Engine) -> None:
    """Refuse to work on a catalogue whose schema is older or newer than this code."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise StorageError(
            f"catalogue {engine.url.render_as_string()} is not initialised: run `archiver init`"
        )
    if current != head:
        raise StorageError(
            f"catalogue schema is at {current}, this version needs {head}: "
            "run `archiver db upgrade`"
        )
