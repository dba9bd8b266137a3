"""HttpClient against a real HTTP server on 127.0.0.1: no mocking of requests."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from datetime import timedelta

import pytest

from archiver import __version__
from archiver.errors import FatalError, RetriableError, SkippableError
from connectors.http import (
    BlockedURLError,
    CredentialsError,
    HttpClient,
    HttpStatusError,
    NotFound,
    ResponseTooLargeError,
)
from tests.fakes import FakeClock
from tests.fakes.server import FakeServer, Reply

MakeClient = Callable[..., HttpClient]
TOKEN = "tok-7f3a9c2e1b5d4f60"


# -- retries -----------------------------------------------------------------------------
def test_retries_a_500_storm_then_succeeds(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.script(
        "GET", "/items", Reply(500), Reply(502), Reply(503), then=Reply.json({"ok": True})
    )
    result = make_client(max_retries=3).get_json("/items")
    assert result.data == {"ok": True}
    assert result.attempts == 4
    assert len(fake_server.requests_to("/items")) == 4
    assert fake_clock.sleeps == [1.0, 2.0, 4.0]  # exponential; jitter pinned to its maximum


def test_backoff_is_capped_and_jittered(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.script("GET", "/items", *[Reply(500)] * 4, then=Reply.json([]))
    make_client(max_retries=4, backoff_base=1.0, backoff_cap=3.0, rng=lambda: 0.5).get_json(
        "/items"
    )
    assert fake_clock.sleeps == [0.5, 1.0, 1.5, 1.5]


def test_gives_up_after_max_retries(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.add("GET", "/items", Reply(500, body=b"upstream down"))
    with pytest.raises(RetriableError, match=r"HTTP 500.*upstream down.*3 attempts"):
        make_client(max_retries=2).get_json("/items")
    assert len(fake_server.requests_to("/items")) == 3


def test_connection_refused_is_retried_then_retriable(
    make_client: MakeClient, fake_clock: FakeClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}", max_retries=2)
    with pytest.raises(RetriableError, match="gave up after 3 attempts"):
        client.get_json("/items")
    assert len(fake_clock.sleeps) == 2


def test_connection_error_message_has_no_token(make_client: MakeClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}", max_retries=0)
    with pytest.raises(RetriableError) as caught:
        client.get_json(f"/items?access_token={TOKEN}&signature=abc123")
    assert TOKEN not in str(caught.value) and "abc123" not in str(caught.value)


def test_read_timeout_is_retried(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.script(
        "GET", "/slow", Reply.json({"late": True}, delay=2.0), then=Reply.json({"late": False})
    )
    result = make_client(read_timeout=0.2, max_retries=1).get_json("/slow")
    assert result.data == {"late": False}
    assert result.attempts == 2


def test_timeouts_exhaust_into_retriable(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.add("GET", "/slow", Reply.json({}, delay=2.0))
    with pytest.raises(RetriableError, match="(?i)timeout"):
        make_client(read_timeout=0.2, max_retries=1).get_json("/slow")


# -- 429 and rate limits -------------------------------------------------------------------
def test_429_retry_after_is_honoured(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.script(
        "GET", "/items", Reply(429, {"Retry-After": "1"}), then=Reply.json({"ok": True})
    )
    result = make_client().get_json("/items")
    assert result.data == {"ok": True}
    assert fake_clock.sleeps == [1.0]
    assert len(fake_server.requests_to("/items")) == 2


def test_429_with_reset_header_waits_until_reset(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    headers = {
        "x-rate-limit-limit": "900",
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(fake_clock.epoch(42)),
    }
    fake_server.script("GET", "/items", Reply(429, headers), then=Reply.json([]))
    make_client().get_json("/items")
    assert fake_clock.sleeps == [42.0]


def test_429_without_headers_backs_off(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.script("GET", "/items", Reply(429), Reply(429), then=Reply.json([]))
    make_client().get_json("/items")
    assert fake_clock.sleeps == [1.0, 2.0]


def test_429_wait_beyond_cap_is_handed_to_the_framework(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.add("GET", "/items", Reply(429, {"Retry-After": "3600"}))
    with pytest.raises(RetriableError) as caught:
        make_client(max_rate_limit_wait=60).get_json("/items")
    assert caught.value.retry_after == pytest.approx(3600)
    assert fake_clock.sleeps == []
    assert len(fake_server.requests_to("/items")) == 1


def test_503_retry_after_is_honoured(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.script("GET", "/items", Reply(503, {"Retry-After": "7"}), then=Reply.json([]))
    make_client().get_json("/items")
    assert fake_clock.sleeps == [7.0]


def _platform_headers(platform: str, fake_clock: FakeClock) -> dict[str, str]:
    """Each platform's spelling of "10 requests left, window resets in 100 s"."""
    reset = fake_clock.current + timedelta(seconds=100)
    return {
        "mastodon": {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "10",
            "X-RateLimit-Reset": reset.isoformat().replace("+00:00", ".000Z"),
        },
        "x": {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": "10",
            "x-rate-limit-reset": str(fake_clock.epoch(100)),
        },
        "bluesky": {
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": "10",
            "RateLimit-Reset": str(fake_clock.epoch(100)),
            "RateLimit-Policy": "3000;w=300",
        },
        "reddit": {
            "x-ratelimit-used": "590",
            "x-ratelimit-remaining": "10.0",
            "x-ratelimit-reset": "100",
        },
    }[platform]


@pytest.mark.parametrize("platform", ["mastodon", "x", "bluesky", "reddit"])
def test_slows_down_before_the_limit(
    platform: str, fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.add(
        "GET", "/items", Reply.json([], headers=_platform_headers(platform, fake_clock))
    )
    client = make_client()
    first = client.get_json("/items")
    assert first.rate_limit is not None and first.rate_limit.remaining == 10
    assert fake_clock.sleeps == []
    client.get_json("/items")
    # 10 requests left for 100 s: one every 10 s rather than all now and a 429 later.
    assert fake_clock.sleeps == [pytest.approx(10.0)]


def test_no_pacing_with_plenty_of_quota(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    headers = {
        "x-rate-limit-limit": "900",
        "x-rate-limit-remaining": "500",
        "x-rate-limit-reset": str(fake_clock.epoch(100)),
    }
    fake_server.add("GET", "/items", Reply.json([], headers=headers))
    client = make_client()
    for _ in range(3):
        client.get_json("/items")
    assert fake_clock.sleeps == []


def test_facebook_regain_time_blocks_until_then(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    usage = {
        "1234": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 40,
                "total_time": 50,
                "estimated_time_to_regain_access": 2,
            }
        ]
    }
    fake_server.add(
        "GET", "/me", Reply.json({}, headers={"x-business-use-case-usage": json.dumps(usage)})
    )
    client = make_client()
    client.get_json("/me")
    client.get_json("/me")
    assert fake_clock.sleeps == [pytest.approx(120.0)]


# -- status codes ------------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_fatal(
    status: int, fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/me", Reply.json({"error": "The access token is invalid"}, status))
    client = make_client(auth_headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(CredentialsError) as caught:
        client.get_json("/me", params={"access_token": TOKEN})
    error = caught.value
    assert isinstance(error, FatalError)
    assert error.status == status
    assert "/me?access_token=[REDACTED]" in str(error)
    assert "access token" in str(error)
    assert TOKEN not in str(error)
    assert len(fake_server.requests) == 1  # no retrying a bad token


@pytest.mark.parametrize("status", [404, 410])
def test_gone_is_not_found_with_body(
    status: int, fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/statuses/9", Reply.json({"error": "Record not found"}, status))
    with pytest.raises(NotFound) as caught:
        make_client().get_json("/statuses/9")
    assert isinstance(caught.value, SkippableError)
    assert caught.value.status == status
    assert json.loads(caught.value.body) == {"error": "Record not found"}


def test_other_4xx_is_skippable_with_excerpt(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/bad", Reply(400, body=b"x" * 5000 + b"tail"))
    with pytest.raises(HttpStatusError) as caught:
        make_client().get_json("/bad")
    assert not isinstance(caught.value, NotFound)
    assert caught.value.status == 400
    assert "HTTP 400" in str(caught.value)
    assert len(str(caught.value)) < 600  # the body is cut in the message


# -- bodies --------------------------------------------------------------------------------
def test_truncated_body_is_retried_then_retriable(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    body = json.dumps({"items": list(range(200))}).encode()
    fake_server.add("GET", "/items", Reply.truncated(body, send_bytes=50))
    with pytest.raises(RetriableError, match=rf"cut off before the declared {len(body)} bytes"):
        make_client(max_retries=1).get_json("/items")
    assert len(fake_server.requests_to("/items")) == 2


def test_truncated_once_then_complete_succeeds(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    body = json.dumps({"items": [1, 2, 3]}).encode()
    fake_server.script("GET", "/items", Reply.truncated(body, 10), then=Reply.json({"items": [1]}))
    assert make_client().get_json("/items").data == {"items": [1]}


def test_invalid_json_is_retriable_at_once(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/items", Reply(200, {"Content-Type": "text/html"}, b"<html>oops"))
    with pytest.raises(RetriableError, match="not valid JSON"):
        make_client().get_json("/items")
    assert len(fake_server.requests_to("/items")) == 1


def test_declared_oversize_response_is_refused(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add_json("GET", "/big", {"blob": "a" * 5000})
    with pytest.raises(ResponseTooLargeError, match="1000-byte cap") as caught:
        make_client(max_response_bytes=1000).get_json("/big")
    assert isinstance(caught.value, SkippableError)


def test_streamed_oversize_response_is_refused(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    body = json.dumps({"blob": "a" * 300_000}).encode()
    fake_server.add("GET", "/big", Reply(200, {"Content-Type": "application/json"}, body, chunks=8))
    with pytest.raises(ResponseTooLargeError, match="100000-byte cap"):
        make_client(max_response_bytes=100_000).get_json("/big")


def test_invalid_utf8_is_kept_losslessly(fake_server: FakeServer, make_client: MakeClient) -> None:
    body = b'{"text": "caf\xe9 \xff\xfe ok", "n": 1}'
    fake_server.add("GET", "/odd", Reply(200, {"Content-Type": "application/json"}, body))
    result = make_client().get_json("/odd")
    assert result.body == body
    assert result.data["n"] == 1
    assert result.data["text"].encode("utf-8", "surrogateescape") == b"caf\xe9 \xff\xfe ok"


def test_empty_204_has_no_data(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.add("GET", "/none", Reply(204))
    result = make_client().get_json("/none")
    assert result.status == 204 and result.data is None


# -- media ---------------------------------------------------------------------------------
def test_media_download_within_cap(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.add(
        "GET", "/media/a.jpg", Reply(200, {"Content-Type": "image/jpeg"}, b"\xff" * 2048)
    )
    client = make_client(allow_hosts=["127.0.0.1"])
    result = client.get_bytes(fake_server.url_for("/media/a.jpg"), max_bytes=4096)
    assert result.body == b"\xff" * 2048
    assert result.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("chunks", [None, 4])
def test_media_over_cap_is_skipped(
    chunks: int | None, fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/media/big.mp4", Reply(200, {}, b"\0" * 10_000, chunks=chunks))
    client = make_client(allow_hosts=["127.0.0.1"])
    with pytest.raises(ResponseTooLargeError, match="4096-byte cap"):
        client.get_bytes(fake_server.url_for("/media/big.mp4"), max_bytes=4096)


def test_media_from_loopback_refused_unless_allowed(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/media/a.jpg", Reply(200, {}, b"img"))
    with pytest.raises(BlockedURLError, match="loopback"):
        make_client().get_bytes(fake_server.url_for("/media/a.jpg"))
    assert fake_server.requests == []


def test_media_redirect_to_refused_address_is_blocked(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    # "localhost" is allowed by name; its redirect to a bare loopback IP is not.
    fake_server.add("GET", "/media/hop", Reply(302, {"Location": fake_server.url_for("/admin")}))
    client = make_client(allow_hosts=["localhost"])
    with pytest.raises(BlockedURLError):
        client.get_bytes(f"http://localhost:{fake_server.port}/media/hop")
    assert fake_server.requests_to("/admin") == []


def test_connected_peer_is_rechecked_after_dns(
    fake_server: FakeServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name looked public when checked, the socket reached loopback."""
    import connectors.http.client as client_module

    monkeypatch.setattr(client_module, "check_public_url", lambda *a, **k: [])
    fake_server.add("GET", "/media/a.jpg", Reply(200, {}, b"internal secrets"))
    with pytest.raises(BlockedURLError, match="connected to loopback"):
        make_client().get_bytes(fake_server.url_for("/media/a.jpg"))


def test_auth_headers_stay_on_the_api_host(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add_json("GET", "/api/me", {"id": 1})
    fake_server.add("GET", "/media/a.jpg", Reply(200, {}, b"img"))
    client = make_client(
        auth_headers={"Authorization": f"Bearer {TOKEN}"}, allow_hosts=["localhost", "127.0.0.1"]
    )
    client.get_json("/api/me")
    client.get_bytes(f"http://localhost:{fake_server.port}/media/a.jpg")
    assert fake_server.requests_to("/api/me")[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in fake_server.requests_to("/media/a.jpg")[0].headers


def test_redirects_are_followed_for_api_calls(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add("GET", "/old", Reply(301, {"Location": "/new?page=2"}))
    fake_server.add_json("GET", "/new", {"moved": True})
    result = make_client().get_json("/old")
    assert result.data == {"moved": True}
    assert result.url.endswith("/new?page=2")


# -- identity, metadata and secrets ------------------------------------------------------
def test_user_agent_and_accept(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.add_json("GET", "/me", {})
    make_client(user_agent_suffix="(by /u/archivist)").get_json("/me")
    headers = fake_server.requests[0].headers
    assert headers["user-agent"].startswith(f"social-archiver/{__version__} ")
    assert headers["user-agent"].endswith("(by /u/archivist)")
    assert headers["accept"] == "application/json"


def test_base_url_path_is_kept(fake_server: FakeServer, make_client: MakeClient) -> None:
    fake_server.add_json("GET", "/api/v1/accounts/7", {"id": "7"})
    client = make_client(base_url=fake_server.url_for("/api/v1/"))
    assert client.get_json("/accounts/7", params={"limit": 40}).data == {"id": "7"}
    assert fake_server.requests[0].param("limit") == "40"


def test_metadata_is_filtered_and_links_parsed(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    next_url = fake_server.url_for("/items?max_id=5")
    fake_server.add_json(
        "GET",
        "/items",
        [],
        headers={
            "Link": f'<{next_url}>; rel="next"',
            "Set-Cookie": "session=abc",
            "ETag": '"v1"',
            "X-Request-Id": "req-1",
            "X-Powered-By": "noise",
            "X-RateLimit-Remaining": "299",
        },
    )
    result = make_client().get_json("/items")
    assert result.links["next"]["url"] == next_url
    assert set(result.headers) >= {
        "link",
        "etag",
        "x-request-id",
        "x-ratelimit-remaining",
        "content-type",
        "date",
    }
    assert "set-cookie" not in result.headers
    assert "x-powered-by" not in result.headers
    assert result.capture_metadata()["status"] == 200


def test_token_never_stored_or_logged(
    fake_server: FakeServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    other_secret = "app-secret-0d9e8f7a"
    next_url = fake_server.url_for("/items")
    fake_server.script(
        "GET",
        "/items",
        Reply(500, body=f"echo {TOKEN}".encode()),
        then=Reply.json(
            [],
            headers={
                "Link": f'<{next_url}?access_token={TOKEN}&max_id=3>; rel="next"',
                "X-Request-Id": f"id-{other_secret}",
                "Set-Cookie": f"sid={TOKEN}",
            },
        ),
    )
    client = make_client(auth_headers={"Authorization": f"Bearer {TOKEN}"}, secrets=[other_secret])
    with caplog.at_level(logging.DEBUG, logger="connectors.http"):
        result = client.get_json("/items", params={"access_token": TOKEN, "max_id": "9"})
    sent = fake_server.requests_to("/items")[-1]
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"  # it was really sent
    assert sent.param("access_token") == TOKEN
    stored = json.dumps(
        {"url": result.url, "headers": result.headers, "meta": result.capture_metadata()}
    )
    assert TOKEN not in stored and other_secret not in stored
    assert "access_token=[REDACTED]" in result.url and "max_id=9" in result.url
    assert "/items" in caplog.text  # one debug line per request, redacted
    assert TOKEN not in caplog.text and other_secret not in caplog.text


def test_auth_headers_need_a_destination() -> None:
    with pytest.raises(ValueError, match="auth_hosts"):
        HttpClient(auth_headers={"Authorization": "Bearer x"})


# -- POST (login-style procedures) -------------------------------------------------------
def test_post_json_sends_json_and_retries_like_get(
    fake_server: FakeServer, make_client: MakeClient, fake_clock: FakeClock
) -> None:
    fake_server.script("POST", "/login", Reply(503), then=Reply.json({"session": "ok"}))
    result = make_client(max_retries=2).post_json("/login", {"identifier": "me", "n": 1})
    assert result.data == {"session": "ok"}
    assert result.attempts == 2
    sent = fake_server.requests_to("/login", "POST")
    assert [json.loads(r.body) for r in sent] == [{"identifier": "me", "n": 1}] * 2
    assert sent[-1].headers["content-type"] == "application/json"
    assert fake_clock.sleeps == [1.0]


def test_post_json_errors_name_the_method_and_hide_registered_secrets(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    password = "pw-9d1e77c0a4b2"
    fake_server.add_json("POST", "/login", {"error": f"bad password {password}"}, status=401)
    fake_server.add_json("POST", "/other", {"error": f"echo {password}"}, status=400)
    client = make_client()
    client.scrubber.register(password)
    with pytest.raises(CredentialsError) as credentials:
        client.post_json("/login", {"password": password})
    assert str(credentials.value).startswith("POST ")
    assert password not in str(credentials.value)
    with pytest.raises(HttpStatusError) as refused:
        client.post_json("/other", {"password": password})
    assert refused.value.status == 400
    assert password.encode() not in refused.value.body
    assert password not in str(refused.value)


def test_post_json_without_payload_sends_no_body(
    fake_server: FakeServer, make_client: MakeClient
) -> None:
    fake_server.add_json("POST", "/refresh", {"ok": True})
    assert make_client().post_json("/refresh").data == {"ok": True}
    assert fake_server.requests_to("/refresh", "POST")[0].body == b""
