"""Engines for the catalogue: SQLite tuned for one busy writer, PostgreSQL as is.

SQLite transactions that write start with BEGIN IMMEDIATE, so two processes
ingesting at once queue on the write lock instead of deadlocking half-way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from archiver.errors import StorageError
from storage.catalogue.models import chain_heads

SQLITE_BUSY_SECONDS = 60


def open_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes SQLite's write lock up front."""
    try:
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            yield conn
    except OperationalError as exc:
        raise StorageError(
            f"catalogue unavailable ({engine.url.render_as_string()}): {exc.orig}"
        ) from exc


def insert_if_absent(conn: Connection, table: Table, key: str, **values: Any) -> bool:
    """INSERT that does nothing when a row with the same key exists (two daemons
    starting at once race for the same rows); True when this call inserted it."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # RETURNING says whether the row went in (rowcount is -1 on psycopg here).
    return conn.execute(
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[key])
    ).first() is not None


def lock_chain(conn: Connection, name: str) -> tuple[int, str | None]:
    """Lock a chain head row for this transaction and return (length, head hash)."""
    query = select(chain_heads.c.length, chain_heads.c.head_hash).where(chain_heads.c.name == name)
    if conn.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises writers
        query = query.with_for_update()
    row = conn.execute(query).one()
    return row.length, row.head_hash


def advance_chain(conn: Connection, name: str, length: int, head_hash: str | None) -> None:
    conn.execute(
        chain_heads.update()
        .where(chain_heads.c.name == name)
        .values(length=length, head_hash=head_hash)
    )
