"""What the web app keeps between requests (the opened archive, its settings) and
what each request gets (the signed-in user, the archive acting as that user)."""

from __future__ import annotations

import copy
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from flask import current_app, g

from archiver.archive import Archive
from archiver.search_service import SearchService
from archiver.users import LoginLimits, User, UserService

SECRET_ENV = "ARCHIVER_WEB_SECRET_KEY"
SECRET_FILE = "web-session-key"


@dataclass
class WebConfig:
    """How the app runs. Secure cookies are the default; turn them off only to try
    the app over plain http on this machine (docs/web.md)."""

    secure_cookies: bool = True
    secret_key: bytes | None = None  # None: $ARCHIVER_WEB_SECRET_KEY, else a key file
    trusted_proxies: int = 0  # X-Forwarded-For/-Proto hops to trust (behind a TLS proxy)
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    password_hasher: PasswordHasher | None = None  # tests pass a cheap one
    exports_dir: Path | None = None  # where evidence packs are built; default in archive.dir
    testing: bool = False


def secret_key(archive: Archive, config: WebConfig) -> bytes:
    """The key that signs session cookies: given, from the environment, or kept in
    archive.dir/keys (mode 0600) so sessions survive a restart."""
    if config.secret_key:
        return config.secret_key
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode("utf-8")
    path = archive.settings.archive_dir / "keys" / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as out:
        out.write(secrets.token_bytes(32))
    return path.read_bytes()


class WebState:
    """One per app: the archive opened once, shared by every request thread."""

    def __init__(self, archive: Archive, config: WebConfig) -> None:
        self.archive = archive
        self.config = config
        self.hasher = config.password_hasher or PasswordHasher()
        self.users = UserService(archive, self.hasher, config.login_limits)
        self._leaves_lock = threading.Lock()
        self._leaves: tuple[int, list[bytes]] | None = None
        self.exports: Any = None  # the export runner (archiver/web/views/exports.py attaches it)

    def acting_as(self, user: User) -> Archive:
        """The archive as this user: the same engine, store, clock and index, with the
        user as the actor, so every audited action names them (`web:<username>`)."""
        acting = copy.copy(self.archive)
        acting.actor = user.actor
        acting.__dict__["search"] = SearchService(acting, self.archive.search.index)
        return acting

    def leaf_hashes(self, tree_size: int, load: Any) -> list[bytes]:
        """The log's leaf hashes up to a checkpoint's size, kept for the latest size
        (they never change once logged), so inclusion proofs cost no second read."""
        with self._leaves_lock:
            if self._leaves is None or self._leaves[0] != tree_size:
                self._leaves = (tree_size, load(tree_size))
            return self._leaves[1]


def state() -> WebState:
    return current_app.extensions["archiver"]  # type: ignore[no-any-return]


def acting_archive() -> Archive:
    """The archive acting as the signed-in user (set by the access check)."""
    return g.archive  # type: ignore[no-any-return]


def current_user() -> User | None:
    return g.get("user")
