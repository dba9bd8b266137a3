"""Users of the web app and API: accounts with a role, argon2 passwords, login
sessions, API tokens for scripts, and login rate limits kept in the catalogue.

Secrets are never stored as given: passwords as argon2id hashes, session and API
tokens (256 random bits) as SHA-256, so a copy of the catalogue lets nobody in.
Every change to a user or token is in the audit trail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, delete, func, select

from archiver.errors import UsageError
from storage.catalogue.db import write_transaction
from storage.catalogue.web import api_tokens, login_attempts, web_sessions, web_users

if TYPE_CHECKING:
    from archiver.archive import Archive

ROLES = ("admin", "officer", "auditor")
ROLE_TITLES = {"admin": "administrator", "officer": "compliance officer", "auditor": "auditor"}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 12
TOKEN_PREFIX = "arch_"
SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=1)
TOUCH_EVERY = timedelta(minutes=1)  # a session's last_seen is written at most this often
_DUMMY_HASHES: dict[tuple[int, int, int], str] = {}


def _new_id(result: Any) -> int:
    """The primary key an INSERT made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_for(username: str) -> str:
    """The audit trail's name for what a web user does."""
    return f"web:{username}"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    disabled: bool

    @property
    def actor(self) -> str:
        return actor_for(self.username)

    @property
    def role_title(self) -> str:
        return ROLE_TITLES.get(self.role, self.role)

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(row.id, row.username, row.role, bool(row.disabled))


@dataclass(frozen=True)
class LoginLimits:
    """Failed attempts allowed in `window` per username (since its last success)
    and per client address, before further attempts are refused until they age out."""

    per_username: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


class LoginThrottled(UsageError):
    """Too many failed logins; `retry_after` seconds until one ages out."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(
            f"too many failed sign-ins: try again in {self.retry_after} seconds"
        )


class UserService:
    def __init__(
        self,
        archive: Archive,
        hasher: PasswordHasher | None = None,
        limits: LoginLimits | None = None,
    ) -> None:
        self.archive = archive
        self.hasher = hasher or PasswordHasher()  # argon2id, RFC 9106's second recommendation
        self.limits = limits or LoginLimits()

    @property
    def _dummy_hash(self) -> str:
        """A hash made with this hasher's parameters, checked when the user is unknown."""
        key = (self.hasher.time_cost, self.hasher.memory_cost, self.hasher.parallelism)
        if key not in _DUMMY_HASHES:
            _DUMMY_HASHES[key] = self.hasher.hash(secrets.token_hex(16))
        return _DUMMY_HASHES[key]

    def _now(self) -> datetime:
        return self.archive.clock.now()

    # -- users ---------------------------------------------------------------------------

    def add(self, username: str, role: str, password: str) -> User:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise UsageError(
                f"username {username!r}: use 1-64 of a-z, 0-9, '.', '_', '-' "
                "(starting with a letter or digit)"
            )
        if role not in ROLES:
            raise UsageError(f"role {role!r}: choose one of {', '.join(ROLES)}")
        self._check_password(password)
        now = self._now()
        with write_transaction(self.archive.engine) as conn:
            if conn.execute(select(web_users.c.id).where(web_users.c.username == username)).first():
                raise UsageError(f"user {username!r} exists already")
            user_id = _new_id(conn.execute(
                web_users.insert().values(
                    username=username,
                    role=role,
                    password_hash=self.hasher.hash(password),
                    disabled=False,
                    created_at=now,
                    created_by=self.archive.actor,
                    password_changed_at=now,
                )
            ))
            self.archive.audit.record(
                self.archive.actor, "user-add", {"username": username, "role": role}, conn=conn
            )
        return User(user_id, username, role, False)

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
        if len(password) > 1024:
            raise UsageError("a password may have at most 1024 characters")

    def list_users(self) -> list[dict[str, Any]]:
        with self.archive.engine.connect() as conn:
            tokens: dict[int, int] = dict(
                conn.execute(
                    select(api_tokens.c.user_id, func.count())
                    .where(api_tokens.c.revoked_at.is_(None))
                    .group_by(api_tokens.c.user_id)
                ).all()
            )
            return [
                {
                    "id": row.id,
                    "username": row.username,
                    "role": row.role,
                    "disabled": bool(row.disabled),
                    "created_at": row.created_at,
                    "created_by": row.created_by,
                    "last_login_at": row.last_login_at,
                    "active_tokens": tokens.get(row.id, 0),
                }
                for row in conn.execute(select(web_users).order_by(web_users.c.username))
            ]

    def get(self, username: str) -> User:
        with self.archive.engine.connect() as conn:
            row = conn.execute(
                select(web_users).where(web_users.c.username == username.strip().lower())
            ).first()
        if row is None:
            raise UsageError(f"no user {username!r} (see `archiver users list`)")
        return User.from_row(row)

    def by_id(self, user_id: int) -> User | None:
        with self.archive.engine.connect() as conn:
            row = conn.execute(select(web_users).where(web_users.c.id == user_id)).first()
        return None if row is None else User.from_row(row)

    def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable (or enable) a user; disabling also ends their sessions at once.
        Their tokens stop working while disabled (checked on every use)."""
        user = self.get(username)
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                web_users.update().where(web_users.c.id == user.id).values(disabled=disabled)
            )
            if disabled:
                conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user.id))
            self.archive.audit.record(
                self.archive.actor,
                "user-disable" if disabled else "user-enable",
                {"username": user.username},
                conn=conn,
            )
        return User(user.id, user.username, user.role, disabled)

    def set_password(self, username: str, password: str) -> None:
        """A new password; every session of the user ends."""
        self._check_password(password)
        user = self.get(username)
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                web_users.update()
                .where(web_users.c.id == user.id)
                .values(password_hash=self.hasher.hash(password), password_changed_at=self._now())
            )
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user.id))
            self.archive.audit.record(
                self.archive.actor, "user-password", {"username": user.username}, conn=conn
            )

    # -- signing in ------------------------------------------------------------------------

    def login(self, username: str, password: str, address: str) -> User | None:
        """Check a password under the rate limits: LoginThrottled when too many recent
        failures for this username or address, else the user, or None (wrong password,
        unknown or disabled user: indistinguishable to the caller). Every attempt is kept."""
        username = username.strip().lower()[:64]
        address = address[:64]
        self._check_throttle(username, address)
        with self.archive.engine.connect() as conn:
            row = conn.execute(select(web_users).where(web_users.c.username == username)).first()
        ok = False
        if row is None:
            self._verify(self._dummy_hash, password)  # the same work: no timing oracle
        else:
            ok = self._verify(row.password_hash, password) and not row.disabled
        now = self._now()
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                login_attempts.insert().values(
                    at=now, username=username, address=address, succeeded=ok
                )
            )
            # Old attempts no longer count for anything.
            conn.execute(
                delete(login_attempts).where(login_attempts.c.at < now - self.limits.window * 4)
            )
            if ok and row is not None:
                values: dict[str, Any] = {"last_login_at": now}
                if self.hasher.check_needs_rehash(row.password_hash):
                    values["password_hash"] = self.hasher.hash(password)
                conn.execute(web_users.update().where(web_users.c.id == row.id).values(**values))
        return User.from_row(row) if ok and row is not None else None

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _check_throttle(self, username: str, address: str) -> None:
        now = self._now()
        since = now - self.limits.window
        with self.archive.engine.connect() as conn:
            last_success = conn.execute(
                select(func.max(login_attempts.c.at)).where(
                    login_attempts.c.username == username, login_attempts.c.succeeded.is_(True)
                )
            ).scalar()
            user_since = max(since, last_success) if last_success else since
            waits = []
            for column, value, limit, start in (
                (login_attempts.c.username, username, self.limits.per_username, user_since),
                (login_attempts.c.address, address, self.limits.per_address, since),
            ):
                failures = list(
                    conn.execute(
                        select(login_attempts.c.at)
                        .where(
                            column == value,
                            login_attempts.c.succeeded.is_(False),
                            login_attempts.c.at > start,
                        )
                        .order_by(login_attempts.c.at.desc())
                        .limit(limit)
                    ).scalars()
                )
                if len(failures) >= limit:
                    # Allowed again when the oldest of the last `limit` failures ages out.
                    waits.append((failures[-1] + self.limits.window - now).total_seconds())
        if waits:
            raise LoginThrottled(int(max(waits)) + 1)

    # -- sessions ----------------------------------------------------------------------------

    def start_session(self, user: User, address: str) -> str:
        """A new session for a signed-in user; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                delete(web_sessions).where(web_sessions.c.expires_at < now)
            )  # tidy expired sessions
            conn.execute(
                web_sessions.insert().values(
                    token_sha256=token_digest(token),
                    user_id=user.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + SESSION_LIFETIME,
                    address=address[:64],
                )
            )
            self.archive.audit.record(
                user.actor, "login", {"username": user.username, "address": address[:64]},
                conn=conn,
            )
        return token

    def session_user(self, token: str) -> User | None:
        """The user of a live session: not expired, not idle too long, user enabled."""
        now = self._now()
        digest = token_digest(token)
        with self.archive.engine.connect() as conn:
            row = conn.execute(
                select(
                    web_sessions.c.user_id, web_sessions.c.expires_at,
                    web_sessions.c.last_seen_at, web_users.c.username, web_users.c.role,
                    web_users.c.disabled,
                )
                .join(web_users, web_users.c.id == web_sessions.c.user_id)
                .where(web_sessions.c.token_sha256 == digest)
            ).first()
        if row is None or row.disabled:
            return None
        if row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
            self.end_session(token)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            with write_transaction(self.archive.engine) as conn:
                conn.execute(
                    web_sessions.update()
                    .where(web_sessions.c.token_sha256 == digest)
                    .values(last_seen_at=now)
                )
        return User(row.user_id, row.username, row.role, False)

    def end_session(self, token: str, user: User | None = None) -> None:
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                delete(web_sessions).where(web_sessions.c.token_sha256 == token_digest(token))
            )
            if user is not None:
                self.archive.audit.record(
                    user.actor, "logout", {"username": user.username}, conn=conn
                )

    # -- API tokens ---------------------------------------------------------------------------

    def create_token(self, username: str, name: str) -> tuple[dict[str, Any], str]:
        """A new API token for a user: (its row, the token). The token is shown once."""
        user = self.get(username)
        if user.disabled:
            raise UsageError(f"user {user.username!r} is disabled")
        name = name.strip() or "token"
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = token[: len(TOKEN_PREFIX) + 6]
        now = self._now()
        with write_transaction(self.archive.engine) as conn:
            token_id = _new_id(conn.execute(
                api_tokens.insert().values(
                    user_id=user.id,
                    name=name[:128],
                    prefix=prefix,
                    token_sha256=token_digest(token),
                    created_at=now,
                    created_by=self.archive.actor,
                )
            ))
            self.archive.audit.record(
                self.archive.actor,
                "token-create",
                {"username": user.username, "token_id": token_id, "name": name, "prefix": prefix},
                conn=conn,
            )
        return {"id": token_id, "username": user.username, "name": name, "prefix": prefix,
                "created_at": now}, token

    def tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        query = (
            select(api_tokens, web_users.c.username)
            .join(web_users, web_users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.id)
        )
        if username is not None:
            query = query.where(web_users.c.username == username.strip().lower())
        with self.archive.engine.connect() as conn:
            return [
                {
                    "id": row.id,
                    "username": row.username,
                    "name": row.name,
                    "prefix": row.prefix,
                    "created_at": row.created_at,
                    "created_by": row.created_by,
                    "last_used_at": row.last_used_at,
                    "revoked_at": row.revoked_at,
                }
                for row in conn.execute(query)
            ]

    def revoke_token(self, token_id: int, username: str | None = None) -> dict[str, Any]:
        """Revoke a token by id (only the named user's when `username` is given)."""
        with write_transaction(self.archive.engine) as conn:
            row = conn.execute(
                select(api_tokens, web_users.c.username)
                .join(web_users, web_users.c.id == api_tokens.c.user_id)
                .where(api_tokens.c.id == token_id)
            ).first()
            if row is None or (username is not None and row.username != username):
                raise UsageError(f"no token {token_id} (see `archiver tokens list`)")
            if row.revoked_at is None:
                conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_at=self._now())
                )
                self.archive.audit.record(
                    self.archive.actor,
                    "token-revoke",
                    {"username": row.username, "token_id": token_id, "prefix": row.prefix},
                    conn=conn,
                )
        return {"id": token_id, "username": row.username, "prefix": row.prefix}

    def token_user(self, token: str) -> User | None:
        """The user an API token acts for, if the token is live and the user enabled."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = token_digest(token)
        now = self._now()
        with self.archive.engine.connect() as conn:
            row = conn.execute(
                select(api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at, web_users)
                .join(web_users, web_users.c.id == api_tokens.c.user_id)
                .where(and_(api_tokens.c.token_sha256 == digest, api_tokens.c.revoked_at.is_(None)))
            ).first()
        if row is None or row.disabled:
            return None
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            with write_transaction(self.archive.engine) as conn:
                conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.id == row.token_id)
                    .values(last_used_at=now)
                )
        return User(row.id, row.username, row.role, False)
