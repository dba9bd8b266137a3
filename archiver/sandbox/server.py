"""The sandbox's HTTP server: the few Mastodon API routes the connector reads,
on 127.0.0.1 with an ephemeral port and a random bearer token."""

from __future__ import annotations

import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from archiver.sandbox.organisation import ORG, Organisation

_STATUS = re.compile(r"/api/v1/statuses/(\d+)(/context|/history)?")


def _page(entries: list[dict[str, Any]], key: Any, query: dict[str, str]) -> list[dict[str, Any]]:
    """Mastodon's paging: newest first; max_id pages down, min_id/since_id up."""
    limit = int(query.get("limit", "20"))
    if "max_id" in query:
        entries = [e for e in entries if int(key(e)) < int(query["max_id"])]
    floor = query.get("min_id") or query.get("since_id")
    if floor:
        entries = [e for e in entries if int(key(e)) > int(floor)]
        if "min_id" in query:  # the page immediately above min_id
            entries = entries[-limit:]
    return entries[:limit]


class SandboxServer:
    """Context manager: serves the organisation until closed."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(24)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.organisation = Organisation(self.url)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SandboxServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path.startswith("/media/"):
                    body = sandbox.organisation.media.get(parts.path)
                    self._send(200 if body else 404, body or b"", "image/png")
                    return
                if self.headers.get("Authorization") != f"Bearer {sandbox.token}":
                    self._json(401, {"error": "The access token is invalid"})
                    return
                with sandbox._lock:
                    status, payload, links = sandbox.route(parts.path, query)
                self._json(status, payload, links)

            def _json(self, status: int, payload: Any, links: str = "") -> None:
                headers = {"Link": links} if links else {}
                self._send(status, json.dumps(payload).encode(), "application/json", headers)

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any, str]:
        org = self.organisation
        if path == "/api/v1/accounts/verify_credentials":
            return 200, ORG, ""
        if path == f"/api/v1/accounts/{ORG['id']}/statuses":
            return self._listing(path, org.own_statuses(), lambda s: s["id"], query)
        if path == "/api/v1/conversations":
            return self._listing(path, org.conversations(), lambda c: c["last_status"]["id"], query)
        match = _STATUS.fullmatch(path)
        if match:
            status_id, view = match.groups()
            status = org.statuses.get(status_id)
            if status is None:
                return 404, {"error": "Record not found"}, ""
            if view == "/context":
                return 200, org.context(status_id), ""
            if view == "/history":
                return (
                    200,
                    org.histories.get(status_id, [org.version_of(status, status["created_at"])]),
                    "",
                )
            return 200, status, ""
        return 404, {"error": "Not found"}, ""

    def _listing(
        self, path: str, entries: list[dict[str, Any]], key: Any, query: dict[str, str]
    ) -> tuple[int, Any, str]:
        page = _page(entries, key, query)
        links = []
        if page and len(page) == int(query.get("limit", "20")):
            links.append(f'<{self.url}{path}?{urlencode({"max_id": key(page[-1])})}>; rel="next"')
        if page:
            links.append(f'<{self.url}{path}?{urlencode({"min_id": key(page[0])})}>; rel="prev"')
        return 200, page, ", ".join(links)
