"""PostgreSQL for tests: a fresh database per test on the server named by
ARCHIVER_TEST_PG_URL (.ci/run starts one), or skipped with the reason shown."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

PG_URL_ENV = "ARCHIVER_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://archiver:archiver@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)


def unavailable_reason() -> str | None:
    """None when a server answers; otherwise why the PostgreSQL tests skip."""
    try:
        engine = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except (OperationalError, ModuleNotFoundError) as exc:
        return f"PostgreSQL not reachable at {make_url(admin_url()).render_as_string()}: {exc}"
    return None


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"archiver_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
