"""Catalogue tables for retention, legal holds, disposition and erasure requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.catalogue.models import HEX64, Base, UTCDateTime


class RecordMediaRow(Base):
    """Which media blobs a record shows: holds and disposition act on blobs too."""

    __tablename__ = "record_media"
    record_id: Mapped[str] = mapped_column(HEX64, primary_key=True)
    sha256: Mapped[str] = mapped_column(HEX64, primary_key=True, index=True)


class HoldRow(Base):
    """A legal hold (a matter): its scope, why, who placed and released it."""

    __tablename__ = "holds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    matter: Mapped[str] = mapped_column(String(128), unique=True)
    query: Mapped[str] = mapped_column(Text)
    accounts: Mapped[list[str]] = mapped_column(JSON, default=list)
    date_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    date_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | released
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(255))
    release_reason: Mapped[str | None] = mapped_column(Text)
    # New captures are held when indexed: records up to this leaf were already checked.
    applied_through: Mapped[int] = mapped_column(BigInteger, default=-1)


class HoldRecordRow(Base):
    __tablename__ = "hold_records"
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    record_id: Mapped[str] = mapped_column(HEX64, primary_key=True, index=True)


class HoldMediaRow(Base):
    __tablename__ = "hold_media"
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(HEX64, primary_key=True, index=True)


class DispositionRow(Base):
    """One disposition run: its signed report is an object and a leaf of the log."""

    __tablename__ = "dispositions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(HEX64, unique=True)
    leaf_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    disposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    records: Mapped[int] = mapped_column(Integer)
    media: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(255))


class ErasureRequestRow(Base):
    """A GDPR Art. 17 request and every decision taken on it."""

    __tablename__ = "erasure_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(255))
    query: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # refused | scheduled | purged | nothing
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decisions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


record_media = RecordMediaRow.__table__
holds = HoldRow.__table__
hold_records = HoldRecordRow.__table__
hold_media = HoldMediaRow.__table__
dispositions = DispositionRow.__table__
erasure_requests = ErasureRequestRow.__table__
