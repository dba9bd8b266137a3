"""The fake platform server itself: routing, scripts, recording, and the failure modes."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.server import FakeServer, RecordedRequest, Reply


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


def test_json_route_and_request_log(server: FakeServer) -> None:
    server.add_json("GET", "/api/v1/items", [{"id": "1"}], headers={"ETag": '"x"'})
    response = requests.get(
        server.url_for("/api/v1/items?limit=2&a=1&a=2"),
        headers={"Authorization": "Bearer t"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json() == [{"id": "1"}]
    assert response.headers["ETag"] == '"x"'
    (seen,) = server.requests
    assert (seen.method, seen.path, seen.raw_query) == ("GET", "/api/v1/items", "limit=2&a=1&a=2")
    assert seen.query == {"limit": ["2"], "a": ["1", "2"]}
    assert seen.param("limit") == "2"
    assert seen.headers["authorization"] == "Bearer t"


def test_script_then_fallback_and_exhaustion(server: FakeServer) -> None:
    server.script(
        "GET", "/once", Reply(500), Reply(429, {"Retry-After": "1"}), then=Reply.json({"ok": True})
    )
    server.script("GET", "/strict", Reply(204))
    statuses = [requests.get(server.url_for("/once"), timeout=5).status_code for _ in range(4)]
    assert statuses == [500, 429, 200, 200]
    assert requests.get(server.url_for("/strict"), timeout=5).status_code == 204
    assert requests.get(server.url_for("/strict"), timeout=5).status_code == 599


def test_regex_routes_handlers_and_latest_wins(server: FakeServer) -> None:
    def echo(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        return 201, {"X-Path": request.path}, request.body

    server.add("*", re.compile(r"/users/\d+"), echo)
    server.add_json("GET", "/users/7", {"override": True})
    posted = requests.post(server.url_for("/users/42"), data=b"hello", timeout=5)
    assert (posted.status_code, posted.content, posted.headers["X-Path"]) == (
        201,
        b"hello",
        "/users/42",
    )
    assert requests.get(server.url_for("/users/7"), timeout=5).json() == {"override": True}
    assert len(server.requests_to("/users/42", method="POST")) == 1


def test_unmatched_path_is_404(server: FakeServer) -> None:
    response = requests.get(server.url_for("/nope"), timeout=5)
    assert response.status_code == 404
    assert response.json() == {"error": "no route", "path": "/nope"}


def test_handler_bug_is_a_500_and_recorded(server: FakeServer) -> None:
    def broken(request: RecordedRequest) -> Reply:
        raise KeyError("oops")

    server.add("GET", "/broken", broken)
    assert requests.get(server.url_for("/broken"), timeout=5).status_code == 500
    assert isinstance(server.errors[0], KeyError)


def test_truncated_body_closes_early(server: FakeServer) -> None:
    server.add("GET", "/cut", Reply.truncated(b'{"a": "0123456789"}', send_bytes=5))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/cut")
    response = connection.getresponse()
    assert response.getheader("Content-Length") == "19"
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert caught.value.partial == b'{"a":'
    connection.close()


def test_chunked_body_has_no_length(server: FakeServer) -> None:
    payload = json.dumps({"n": list(range(100))}).encode()
    server.add("GET", "/chunked", Reply(200, {}, payload, chunks=5))
    response = requests.get(server.url_for("/chunked"), timeout=5)
    assert "Content-Length" not in response.headers
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.content == payload


def test_invalid_utf8_bytes_are_sent_as_is(server: FakeServer) -> None:
    server.add("GET", "/raw", Reply(200, {"Content-Type": "application/json"}, b'{"t": "\xff"}'))
    assert requests.get(server.url_for("/raw"), timeout=5).content == b'{"t": "\xff"}'


def test_slow_reply_triggers_client_timeout(server: FakeServer) -> None:
    server.add("GET", "/slow", Reply.json({}, delay=2.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url_for("/slow"), timeout=(1, 0.2))


def test_clear_and_port_after_stop() -> None:
    server = FakeServer().start()
    server.add_json("GET", "/a", {})
    requests.get(server.url_for("/a"), timeout=5)
    server.clear()
    assert server.requests == []
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
