"""What the retention tests share: short-lived settings, catalogue and audit reads,
items that show media blobs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.media import store_blob
from archiver.item import CapturedItem, MediaRef
from config.settings import Settings
from storage.catalogue.models import records
from tests.conftest import make_settings


def short_lived(tmp_path, catalogue_url: str | None, **retention: Any) -> Settings:
    return make_settings(tmp_path, catalogue_url, retention={"default_period": "30d", **retention})


def record_ids(archive: Archive, **where: Any) -> list[str]:
    """Record ids in leaf order, where each given column equals its value."""
    query = select(records.c.record_id).order_by(records.c.leaf_index)
    for name, value in where.items():
        query = query.where(getattr(records.c, name) == value)
    with archive.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def audit_events(archive: Archive, action: str) -> list[tuple[str, dict[str, Any]]]:
    """(actor, parameters) of every audit event of this action, oldest first."""
    with archive.engine.connect() as conn:
        return [(row.actor, json.loads(row.params)) for row in archive.audit.events(conn, action)]


def showing(archive: Archive, item: CapturedItem, *blobs: bytes) -> CapturedItem:
    """The item with these blobs stored and attached, as the capture pipeline does."""
    media = tuple(
        MediaRef(store_blob(archive.store, data), len(data), "image/png") for data in blobs
    )
    return dataclasses.replace(item, media=media)
