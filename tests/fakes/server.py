"""A real HTTP server on 127.0.0.1 for connector tests: routes, scripted replies, a request log.

Generic on purpose: platform fakes (Mastodon, X, ...) register their routes on it.

    with FakeServer() as server:
        server.add_json("GET", "/api/v1/statuses", [{"id": "1"}])
        server.script("GET", "/flaky", Reply(500), Reply(500), Reply.json({"ok": True}))
        ... call server.url + "/api/v1/statuses" ...
        assert server.requests[0].headers["authorization"] == "Bearer t"

Matching: the most recently added route whose method and path match wins; a path is
an exact string (query excluded) or a compiled regex matched in full. A route's
scripted replies are used one per request, in order; when they run out the route's
fallback answers (if it has none, 599 so an unexpected extra request is loud).
An unmatched request gets 404 with a JSON body naming the path.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    """What to send back.

    `delay` waits before sending anything (for read timeouts); `send_bytes`, when set,
    declares the full Content-Length but sends only that many body bytes and closes
    (a truncated response); `chunks` sends the body with chunked transfer encoding in
    that many pieces (so the client cannot know the size up front).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    send_bytes: int | None = None
    chunks: int | None = None

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> Reply:
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, merged, json.dumps(payload).encode("utf-8"), **kw)

    @classmethod
    def truncated(cls, body: bytes, send_bytes: int, status: int = 200) -> Reply:
        return cls(status, {"Content-Type": "application/json"}, body, send_bytes=send_bytes)


Handler = Callable[[RecordedRequest], "Reply | tuple[int, Mapping[str, str], bytes]"]


@dataclass
class Route:
    method: str
    path: str | re.Pattern[str]
    fallback: Handler | Reply | None
    scripted: deque[Reply] = field(default_factory=deque)

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method != method:
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.fullmatch(path) is not None
        return self.path == path


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so Content-Length is what frames a body
    # Small replies otherwise wait ~40 ms for Nagle's algorithm and the peer's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep pytest output clean; the request log is on FakeServer.requests

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            raw_query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.owner._dispatch(recorded)
        try:
            self._send(reply)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its read timeout)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def _send(self, reply: Reply) -> None:
        if reply.delay and self.server.owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        self.send_response(reply.status)
        names = {k.lower() for k in reply.headers}
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunks:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            size = max(1, -(-len(reply.body) // reply.chunks))
            for start in range(0, len(reply.body), size):
                piece = reply.body[start : start + size]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.send_bytes is not None:
            self.wfile.write(reply.body[: reply.send_bytes])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up is routine in these tests; anything else is kept for them."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, ConnectionError | TimeoutError):
            self.owner.errors.append(error)


class FakeServer:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # exceptions raised by handlers
        self._routes: list[Route] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> FakeServer:
        server = _Server((self.host, 0), _RequestHandler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeServer is not running; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # -- routes -----------------------------------------------------------------------
    def add(
        self,
        method: str,
        path: str | re.Pattern[str],
        handler: Handler | Reply | None = None,
    ) -> Route:
        """Register a route answered by a fixed `Reply` or a handler function."""
        route = Route(method.upper(), path, handler)
        with self._lock:
            self._routes.append(route)
        return route

    def add_json(
        self,
        method: str,
        path: str | re.Pattern[str],
        payload: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Route:
        """Register a route that always answers with `payload` as JSON."""
        return self.add(method, path, Reply.json(payload, status, headers))

    def script(
        self,
        method: str,
        path: str | re.Pattern[str],
        *replies: Reply,
        then: Handler | Reply | None = None,
    ) -> Route:
        """Register a route answering `replies` in order, then `then` (if given)."""
        route = self.add(method, path, then)
        route.scripted.extend(replies)
        return route

    def clear(self) -> None:
        """Forget all routes and recorded requests."""
        with self._lock:
            self._routes.clear()
            self.requests.clear()
            self.errors.clear()

    # -- inspection -------------------------------------------------------------------
    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method.upper())
            ]

    # -- dispatch (server threads) ----------------------------------------------------
    def _dispatch(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = next(
                (r for r in reversed(self._routes) if r.matches(request.method, request.path)),
                None,
            )
            if route is None:
                return Reply.json({"error": "no route", "path": request.path}, status=404)
            if route.scripted:
                return route.scripted.popleft()
            answer = route.fallback
        if answer is None:
            return Reply.json({"error": "script exhausted", "path": request.path}, status=599)
        if isinstance(answer, Reply):
            return answer
        try:
            produced = answer(request)
        except Exception as exc:  # noqa: BLE001 - a test handler's bug must reach the test
            self.errors.append(exc)
            return Reply(500, {"Content-Type": "text/plain"}, repr(exc).encode())
        if isinstance(produced, Reply):
            return produced
        status, headers, body = produced
        return Reply(status, headers, body)
