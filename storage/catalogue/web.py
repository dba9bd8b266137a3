"""Catalogue tables for the web app: its users, their login sessions and API tokens,
and login attempts (kept in the catalogue so rate limits survive a restart)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.catalogue.models import HEX64, Base, UTCDateTime


class WebUserRow(Base):
    """A person who signs in to the web app; `role` decides what they may do."""

    __tablename__ = "web_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | officer | auditor
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, PHC string
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSessionRow(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is
    stored, so a copy of the catalogue cannot be replayed as a session."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(HEX64, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(64))


class ApiTokenRow(Base):
    """A token for scripts, shown once; stored as its SHA-256 (a random 256-bit
    token needs no slow hash). `prefix` lets a person tell tokens apart."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(HEX64, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttemptRow(Base):
    """One password attempt, for rate limiting per username and per address."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )


# Core tables for queries (typed as Table: the declarative attribute is a FromClause).
web_users = cast(Table, WebUserRow.__table__)
web_sessions = cast(Table, WebSessionRow.__table__)
api_tokens = cast(Table, ApiTokenRow.__table__)
login_attempts = cast(Table, LoginAttemptRow.__table__)
