"""XRPC over the shared HttpClient with an app-password session.

Login is com.atproto.server.createSession (handle + app password) and gives an access
JWT (short-lived, sent as `Authorization: Bearer`) and a refresh JWT. When the access
JWT expires the server answers `{"error": "ExpiredToken"}` with HTTP 400 (the PDS) or
401 (the AppView behind it); we then call com.atproto.server.refreshSession with the
refresh JWT, and log in again if that is refused too. Every password and JWT is
registered with the client's scrubber, so no URL, header, error or log line keeps one.

Chat (DMs) lives on Bluesky's chat service, not on the PDS: a chat.bsky.* call goes to
the PDS with the header `atproto-proxy: did:web:api.bsky.chat#bsky_chat` (service DID,
"#", service id; atproto spec "XRPC: Service Proxying"), and the PDS forwards it with
a service token of its own. The app password must allow DM access for this to work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiver.errors import FatalError, RetriableError
from connectors.http import CredentialsError, HttpClient, HttpResult, HttpStatusError

CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
CHAT_HEADERS = {"atproto-proxy": CHAT_PROXY}

EXPIRED = frozenset({"ExpiredToken"})
REFRESH_REFUSED = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired"})


def xrpc_error(exc: HttpStatusError) -> tuple[str | None, str | None]:
    """(error, message) of an XRPC error body {"error": ..., "message": ...}."""
    try:
        body = json.loads(exc.body.decode("utf-8", errors="replace"))
    except ValueError:
        return None, None
    if not isinstance(body, Mapping):
        return None, None
    error, message = body.get("error"), body.get("message")
    return (
        str(error) if isinstance(error, str) else None,
        str(message) if isinstance(message, str) else None,
    )


class LoginError(FatalError):
    """createSession refused the handle or app password: a person must fix the account."""


@dataclass(frozen=True)
class Session:
    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str


class XrpcSession:
    """Queries as one account, logging in on first use and renewing expired tokens."""

    def __init__(
        self, client: HttpClient, identifier: str, password: str, *, password_env: str = ""
    ) -> None:
        self.client = client
        self.identifier = identifier
        self.password_env = password_env
        self._password = password
        client.scrubber.register(password)
        self.session: Session | None = None

    # -- session ------------------------------------------------------------------------
    def login(self) -> Session:
        """com.atproto.server.createSession; LoginError when the credentials are refused."""
        self.client.auth_headers.pop("Authorization", None)
        path = "/xrpc/com.atproto.server.createSession"
        where = f" (${self.password_env})" if self.password_env else ""
        try:
            result = self.client.post_json(
                path, {"identifier": self.identifier, "password": self._password}
            )
        except CredentialsError as exc:
            raise LoginError(
                f"Bluesky refused the app password for {self.identifier}: create an app "
                "password (Settings > Privacy and security > App passwords) and put it in the "
                f"environment variable named by token_env{where}; server said: {exc}"
            ) from None
        except HttpStatusError as exc:
            error, message = xrpc_error(exc)
            raise LoginError(
                f"Bluesky refused the login for {self.identifier}: {error or exc.status} "
                f"({message or 'no message'}); AccountTakedown needs the account restored, "
                "AuthFactorTokenRequired means an app password (not the main password) is "
                "needed"
            ) from None
        return self._adopt(result, path)

    def refresh(self) -> Session:
        """com.atproto.server.refreshSession, or a new login if the refresh JWT is refused."""
        if self.session is None:
            return self.login()
        path = "/xrpc/com.atproto.server.refreshSession"
        self.client.auth_headers["Authorization"] = f"Bearer {self.session.refresh_jwt}"
        try:
            result = self.client.post_json(path)
        except CredentialsError:
            return self.login()
        except HttpStatusError as exc:
            if xrpc_error(exc)[0] in REFRESH_REFUSED:
                return self.login()
            raise
        finally:
            if self.session is not None:
                self.client.auth_headers["Authorization"] = f"Bearer {self.session.access_jwt}"
        return self._adopt(result, path)

    def _adopt(self, result: HttpResult, path: str) -> Session:
        data = result.data if isinstance(result.data, Mapping) else {}
        fields = [data.get(k) for k in ("did", "handle", "accessJwt", "refreshJwt")]
        if not all(isinstance(f, str) and f for f in fields):
            raise RetriableError(
                f"POST {result.url}: {path} answered without did/handle/accessJwt/refreshJwt"
            )
        did, handle, access, refresh = (str(f) for f in fields)
        for secret in (access, refresh):
            self.client.scrubber.register(secret)
        self.session = Session(did, handle, access, refresh)
        self.client.auth_headers["Authorization"] = f"Bearer {access}"
        return self.session

    @property
    def did(self) -> str:
        return (self.session or self.login()).did

    # -- queries ------------------------------------------------------------------------
    def query(
        self,
        nsid: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """GET /xrpc/<nsid>, renewing the session once if the access JWT has expired."""
        if self.session is None:
            self.login()
        path = f"/xrpc/{nsid}"
        try:
            return self.client.get_json(path, params, headers)
        except CredentialsError as exc:
            if exc.status != 401:
                raise
        except HttpStatusError as exc:
            if xrpc_error(exc)[0] not in EXPIRED:
                raise
        self.refresh()
        try:
            return self.client.get_json(path, params, headers)
        except HttpStatusError as exc:
            if xrpc_error(exc)[0] in EXPIRED:
                raise RetriableError(
                    f"GET {exc.url}: the token expired again right after renewal; check the "
                    "clocks of this host and the server"
                ) from None
            raise
