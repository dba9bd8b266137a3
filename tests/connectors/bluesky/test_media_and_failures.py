"""Media attachments, and the connector surviving rate limits, 5xx storms and cut-off JSON."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archiver.errors import RetriableError
from connectors.bluesky import BlueskyConnector
from connectors.http import HttpClient
from tests.connectors.bluesky.conftest import run_fetch
from tests.fakes import FakeClock
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.server import FakeServer

PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes the test can recognise"
CHART = b"\x89PNG\r\n\x1a\n a chart's bytes"


def test_images_become_attachments_listed_in_content(
    sky: FakeBluesky,
    connector: BlueskyConnector,
    make_client: Callable[..., HttpClient],
) -> None:
    uri = sky.add_post("two pictures", images=[(PHOTO, "a photo"), (CHART, "")])
    item = run_fetch(connector).by_id()[uri]

    assert [(a.media_type, a.description) for a in item.attachments] == [
        ("image", "a photo"),
        ("image", ""),
    ]
    assert [m["url"] for m in item.content["media"]] == [a.url for a in item.attachments]
    assert [m["type"] for m in item.content["media"]] == ["image", "image"]
    assert all("/img/feed_fullsize/plain/" in a.url for a in item.attachments)

    # the URLs serve the test's bytes (what the capture pipeline will download)
    client = make_client(allow_hosts=["127.0.0.1"])
    assert [client.get_bytes(a.url).body for a in item.attachments] == [PHOTO, CHART]


def test_a_repost_of_the_stored_real_payload_keeps_its_media_and_quote(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    original = sky.add_fixture_post()  # recordWithMedia: one image and a quoted post
    repost = sky.repost(original)
    item = run_fetch(connector).by_id()[repost]
    assert item.content["boost_of"] == original
    assert item.content["boost_author"] == "test.marshal.dev"
    [attachment] = item.attachments
    assert attachment.url.startswith("https://cdn.bsky.app/img/feed_fullsize/plain/")
    assert item.content["quote_of"] == (
        "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kahesw26il2z"
    )


def test_a_429_with_ratelimit_headers_is_waited_out_without_sleeping(
    sky: FakeBluesky, connector: BlueskyConnector, fake_clock: FakeClock, fake_server: FakeServer
) -> None:
    uris = [sky.add_post(f"post {n}") for n in range(3)]
    sky.rate_limit("app.bsky.feed.getAuthorFeed", reset=fake_clock.epoch(30))
    run = run_fetch(connector)
    assert run.error is None
    assert {i.native_id for i in run.items} == set(uris)
    assert 30 in [round(s) for s in fake_clock.sleeps]  # waited until RateLimit-Reset
    feed_requests = fake_server.requests_to("/xrpc/app.bsky.feed.getAuthorFeed")
    assert len(feed_requests) == 3  # the 429, then two pages


def test_a_500_storm_then_success(
    sky: FakeBluesky, connector: BlueskyConnector, fake_clock: FakeClock
) -> None:
    uri = sky.add_post("survives")
    sky.server_errors("app.bsky.feed.getAuthorFeed", 3)  # the client retries 3 times
    run = run_fetch(connector)
    assert run.error is None
    assert [i.native_id for i in run.items] == [uri]
    assert len(fake_clock.sleeps) == 3


def test_a_500_storm_longer_than_the_retries_is_retriable(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    sky.add_post("not yet")
    sky.server_errors("app.bsky.feed.getAuthorFeed", 10)
    run = run_fetch(connector)
    assert isinstance(run.error, RetriableError)
    assert run.items == []


def test_a_connection_cut_mid_json_is_retried(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    uri = sky.add_post("complete")
    sky.truncate_next("app.bsky.feed.getAuthorFeed")
    run = run_fetch(connector)
    assert run.error is None
    assert [i.native_id for i in run.items] == [uri]


def test_a_complete_but_truncated_json_body_is_retriable(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    sky.add_post("later")
    sky.truncate_next("app.bsky.feed.getAuthorFeed", framed=True)
    run = run_fetch(connector)
    assert isinstance(run.error, RetriableError)
    assert "not valid JSON" in str(run.error)


@pytest.mark.parametrize("nsid", ["chat.bsky.convo.listConvos", "com.atproto.server.createSession"])
def test_rate_limits_elsewhere_are_waited_out_too(
    sky: FakeBluesky, connector: BlueskyConnector, fake_clock: FakeClock, nsid: str
) -> None:
    sky.add_message(sky.add_convo("friend.test"), "hi")
    sky.rate_limit(nsid, reset=fake_clock.epoch(5))
    run = run_fetch(connector)
    assert run.error is None
    assert [i.kind for i in run.items] == ["dm"]
