"""The SQL catalogue: an index over the object store, rebuildable from it.

Times are stored as naive UTC (the UTCDateTime type converts), because SQLite
has no time zones and mixing aware and naive values is a classic bug source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HEX64 = String(64)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalogue: use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class RecordRow(Base):
    """One stored record (a version of an item, or a tombstone)."""

    __tablename__ = "records"
    record_id: Mapped[str] = mapped_column(HEX64, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(255))
    native_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    prev_record_id: Mapped[str | None] = mapped_column(HEX64)
    observation: Mapped[str] = mapped_column(String(16))
    content_sha256: Mapped[str] = mapped_column(HEX64)
    size: Mapped[int] = mapped_column(Integer)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retention_policy: Mapped[str | None] = mapped_column(String(64))
    leaf_index: Mapped[int] = mapped_column(BigInteger)  # unique through log_leaves' key
    capture_run_id: Mapped[int | None] = mapped_column(Integer)
    indexed: Mapped[bool] = mapped_column(Boolean, default=False)
    disposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The record's thread (archiver/threads.py), so an export can bring a post's
    # thread and a DM's conversation; NULL only until `archiver db upgrade` fills it.
    thread_key: Mapped[str | None] = mapped_column(String(255))
    __table_args__ = (
        UniqueConstraint("platform", "account", "native_id", "version"),
        Index("ix_records_thread", "platform", "account", "thread_key"),
        # The index queue: a partial index holds only rows still to index, so ingest
        # and the indexer maintain a small index instead of one over every record.
        Index(
            "ix_records_index_queue",
            "leaf_index",
            sqlite_where=text("indexed = 0"),
            postgresql_where=text("indexed = false"),
        ),
    )


class ItemRow(Base):
    """The latest state of one platform item, per archived account."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(255))
    native_id: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    latest_record_id: Mapped[str] = mapped_column(HEX64)
    latest_version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(HEX64)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    first_captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("platform", "account", "native_id"),)


class LogLeafRow(Base):
    """A leaf of the Merkle log: the record ids in ingestion order (RFC 9162)."""

    __tablename__ = "log_leaves"
    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(HEX64, unique=True)
    leaf_hash: Mapped[str] = mapped_column(HEX64)


class ChainHeadRow(Base):
    """The length and head of an append-only chain ('log', 'audit'). Locking this
    row serialises appends, so leaf indexes and audit sequence numbers have no gaps."""

    __tablename__ = "chain_heads"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger, default=0)
    head_hash: Mapped[str | None] = mapped_column(HEX64)


class CheckpointRow(Base):
    """A signed tree head, also stored as an object under checkpoints/."""

    __tablename__ = "checkpoints"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(HEX64)
    audit_length: Mapped[int] = mapped_column(BigInteger)
    audit_head: Mapped[str | None] = mapped_column(HEX64)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(HEX64)
    signature: Mapped[str] = mapped_column(Text)
    object_key: Mapped[str] = mapped_column(String(255))


class AuditEventRow(Base):
    """An append-only, hash-chained audit event: who did what, when, with what."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(HEX64)
    event_hash: Mapped[str] = mapped_column(HEX64)


class AccountRow(Base):
    """An account the archive captures, with its connector settings (no secrets)."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(64))
    handle: Mapped[str] = mapped_column(String(255))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("platform", "handle"),)


class CaptureRunRow(Base):
    """One capture of one account: counts, duration, errors."""

    __tablename__ = "capture_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    connector: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")
    new: Mapped[int] = mapped_column(Integer, default=0)
    edited: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)


class CursorRow(Base):
    """Where incremental capture resumes, per account and stream."""

    __tablename__ = "cursors"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


records = RecordRow.__table__
items = ItemRow.__table__
log_leaves = LogLeafRow.__table__
chain_heads = ChainHeadRow.__table__
checkpoints = CheckpointRow.__table__
audit_events = AuditEventRow.__table__
accounts = AccountRow.__table__
capture_runs = CaptureRunRow.__table__
cursors = CursorRow.__table__
