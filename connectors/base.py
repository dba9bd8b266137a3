"""The Connector interface: the one thing a platform package implements.

A connector declares its name, version and account settings schema, and yields
CapturedItems from `fetch(cursor)`; the framework (archiver.capture) stores the
cursor, downloads media, decides new/edited/deleted and survives failures.
Parsing the platform's shapes is the connector's whole job.

To add a platform: subclass Connector in your own package and register it under
the entry-point group `archiver.connectors` (see tests/plugins/ for a minimal one).
An API that takes the account's token as a bearer credential needs no client code:
use `self.client`, and override `client_options` for the headers it requires.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from archiver.errors import FatalError
from archiver.item import CapturedItem
from connectors.http import HttpClient


class ConnectorSettings(BaseModel):
    """Per-account settings, stored in the catalogue. Secrets are never stored:
    `token_env` names the environment variable that holds the token."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        description="API root, e.g. https://mastodon.social (any test server too)"
    )
    token_env: str | None = Field(None, description="Environment variable holding the token")
    allow_media_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts allowed for media even if private or loopback (tests: 127.0.0.1)",
    )
    max_media_bytes: int = Field(50 * 1024 * 1024, ge=1)
    reconcile_days: int = Field(
        30, ge=0, description="How far back to re-check for edits/deletions"
    )

    def secret(self, env_var: str | None = None) -> str:
        """The token from the environment; FatalError (pause the account) when unset."""
        name = env_var or self.token_env
        if not name:
            raise FatalError("no token_env configured for this account")
        value = os.environ.get(name)
        if not value:
            raise FatalError(f"environment variable {name} is not set (it should hold the token)")
        return value


@dataclass(frozen=True)
class Account:
    id: int
    platform: str
    handle: str
    settings: ConnectorSettings


@dataclass(frozen=True)
class CursorUpdate:
    """Yielded after the items it covers: once they are archived, capture resumes here."""

    stream: str
    value: str


@dataclass(frozen=True)
class ArchivedItem:
    """What the archive holds of an item, handed to `reconcile`."""

    native_id: str
    kind: str
    content: Mapping[str, Any]
    captured_at: datetime


@dataclass(frozen=True)
class ConnectorContext:
    """What the framework lends a connector: an HTTP client factory (base_url, secret
    redaction and media allow-list already set) and the clock."""

    make_client: Callable[..., HttpClient]
    now: Callable[[], datetime]


class Connector(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    ephemeral: ClassVar[bool] = False  # content that vanishes (stories): capture often
    _client: HttpClient | None = None  # see `client`

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        self.account = account
        # Accounts may arrive with the base settings (e.g. from an older catalogue row):
        # every connector sees its own settings model.
        settings = account.settings
        if not isinstance(settings, self.settings_model):
            settings = self.settings_model.model_validate(settings.model_dump())
        self.settings = settings
        self.context = context

    @abstractmethod
    def fetch(self, cursor: Mapping[str, str]) -> Iterator[CapturedItem | CursorUpdate]:
        """Yield items new or changed since `cursor` (stream -> value), with a
        CursorUpdate after each page. Raise RetriableError / FatalError from
        archiver.errors for the run; SkippableError skips one item."""

    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        """For archived items in the reconciliation window, yield a tombstone
        (deleted=True, evidence in content) for each that is gone, and the current
        state of each that still exists (so edits are seen). Default: unsupported."""
        return iter(())

    # -- the account's HTTP client -----------------------------------------------------
    def bearer_client(self, token: str, **options: Any) -> HttpClient:
        """A client from the framework's factory that sends `token` as a bearer
        credential, only to the API's host. The token is registered with the client's
        scrubber as given, so no log, error or record it writes can hold it."""
        client = self.context.make_client(
            auth_headers={"Authorization": f"Bearer {token}"}, **options
        )
        client.scrubber.register(token)
        return client

    def client_options(self) -> dict[str, Any]:
        """What a platform adds to `client` (its headers, user agent, ...)."""
        return {}

    @property
    def client(self) -> HttpClient:
        """The account's client with the token from `token_env`; built on first use, so
        a missing token surfaces as FatalError from fetch, not from the constructor."""
        if self._client is None:
            self._client = self.bearer_client(self.settings.secret(), **self.client_options())
        return self._client

    def close(self) -> None:
        """Release clients; the framework calls it after every run."""
        if self._client is not None:
            self._client.close()
            self._client = None
