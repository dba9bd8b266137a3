"""Maintenance tasks the tests register under the entry-point group archiver.maintenance."""

from __future__ import annotations

from typing import Any

from archiver.archive import Archive
from archiver.errors import StorageError

CALLS: list[str] = []


def count_records(archive: Archive) -> dict[str, Any]:
    from sqlalchemy import func, select

    from storage.catalogue.models import records

    CALLS.append("count_records")
    with archive.engine.connect() as conn:
        return {"records": conn.execute(select(func.count()).select_from(records)).scalar_one()}


def broken(archive: Archive) -> None:
    CALLS.append("broken")
    raise StorageError("the disposition target is unavailable")
