"""fetch() against the fake Bluesky over real HTTP: paging, cursors, kinds, merging views."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from archiver.errors import RetriableError
from archiver.item import CapturedItem
from connectors.base import CursorUpdate
from connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.conftest import run_fetch
from tests.fakes.bluesky import FakeBluesky, link_facet, mention_facet, tag_facet
from tests.fakes.server import FakeServer

MakeConnector = Callable[..., BlueskyConnector]


def test_paging_yields_every_post_once_and_cursor_updates_follow_their_page(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    uris = [sky.add_post(f"post {n}") for n in range(5)]
    run = run_fetch(connector)  # page_limit=2: three feed pages, three record pages

    assert run.error is None
    ids = [i.native_id for i in run.items]
    assert Counter(ids) == Counter(uris)
    feed_requests = fake_server.requests_to("/xrpc/app.bsky.feed.getAuthorFeed")
    assert [r.param("limit") for r in feed_requests] == ["2", "2", "2"]
    assert [r.param("cursor") is not None for r in feed_requests] == [False, True, True]
    assert feed_requests[0].param("filter") == "posts_with_replies"

    # a page's items come before the update that covers them
    kinds = ["item" if isinstance(y, CapturedItem) else y.stream for y in run.output]
    assert kinds[:7] == ["item", "item", "feed", "item", "item", "feed", "item"]
    feed_updates = [json.loads(u.value) for u in run.updates if u.stream == "feed"]
    assert all("page" in value for value in feed_updates[:-1])
    newest = sky.posts[uris[-1]].indexed_at.replace(".000Z", ".000000Z")
    assert feed_updates[-1] == {"since": newest}
    assert json.loads(run.cursor["records"]) == {"since": uris[-1].rsplit("/", 1)[1]}


def test_incremental_fetch_stops_at_the_stored_cursor(
    sky: FakeBluesky, make_connector: MakeConnector, fake_server: FakeServer
) -> None:
    old = [sky.add_post(f"old {n}") for n in range(5)]
    first = run_fetch(make_connector())
    new = [sky.add_post(f"new {n}") for n in range(2)]
    fake_server.requests.clear()

    second = run_fetch(make_connector(), first.cursor)

    assert second.error is None
    ids = [i.native_id for i in second.items]
    assert set(new) <= set(ids)
    # only the boundary post (exactly at `since`) is seen again, none older
    assert set(ids) - set(new) == {old[-1]}
    assert len(ids) == len(set(ids))
    assert len(fake_server.requests_to("/xrpc/app.bsky.feed.getAuthorFeed")) == 2
    assert len(fake_server.requests_to("/xrpc/com.atproto.repo.listRecords")) == 2
    newest = sky.posts[new[-1]].indexed_at.replace(".000Z", ".000000Z")
    assert json.loads(second.cursor["feed"]) == {"since": newest}

    third = run_fetch(make_connector(), second.cursor)
    assert [i.native_id for i in third.items] == [new[-1]]


def test_a_walk_broken_off_mid_way_is_finished_by_the_next_run(
    sky: FakeBluesky, make_connector: MakeConnector, fake_server: FakeServer
) -> None:
    uris = [sky.add_post(f"post {n}") for n in range(6)]
    sky.break_later_pages("app.bsky.feed.getAuthorFeed")  # past the client's retries
    broken = run_fetch(make_connector())
    assert isinstance(broken.error, RetriableError)
    assert [i.native_id for i in broken.items] == [uris[5], uris[4]]
    assert "page" in json.loads(broken.cursor["feed"])

    sky.heal("app.bsky.feed.getAuthorFeed")
    resumed = run_fetch(make_connector(), broken.cursor)
    assert resumed.error is None
    ids = [i.native_id for i in resumed.items]
    assert set(uris[:4]) <= set(ids)  # the unread pages, then a fresh walk from the top
    assert json.loads(resumed.cursor["feed"]) == {
        "since": sky.posts[uris[5]].indexed_at.replace(".000Z", ".000000Z")
    }


def test_replies_reposts_and_dms_have_the_right_kinds(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    root = sky.add_post("root")
    other = sky.add_post("someone else's", author="friend.test")
    reply = sky.add_reply(other, "replying to a friend")
    nested = sky.add_reply(reply, "and to myself")
    repost = sky.repost(other)
    convo = sky.add_convo("friend.test")
    sky.add_message(convo, "hello friend")
    incoming = sky.add_message(convo, "hello archivist", from_account=False)

    run = run_fetch(connector)
    assert run.error is None
    items = run.by_id()
    assert len(items) == len(run.items) == 6  # root, 2 replies, 1 repost, 2 DMs: once each

    assert items[root].kind == "post"
    assert items[root].content["thread_id"] == root
    assert items[reply].kind == "reply"
    assert items[reply].content["in_reply_to"] == other
    assert items[reply].content["thread_id"] == other
    assert items[nested].content["in_reply_to"] == reply
    assert items[nested].content["thread_id"] == other  # the root, not the parent
    assert other not in items  # a friend's post is not the account's

    boosted = items[repost]
    assert boosted.kind == "post"
    assert boosted.content["boost_of"] == other
    assert boosted.content["boost_author"] == "friend.test"
    assert boosted.content["author"] == sky.account.handle
    assert boosted.raw["reason"]["$type"] == "app.bsky.feed.defs#reasonRepost"

    dms = [i for i in run.items if i.kind == "dm"]
    assert [d.content["text"] for d in dms] == ["hello archivist", "hello friend"]
    assert dms[0].native_id == f"dm:{convo}:{incoming}"
    assert dms[0].content["author"] == "friend.test"
    assert dms[0].content["conversation_id"] == convo
    assert dms[0].content["participants"] == ["archivist.test", "friend.test"]
    assert dms[0].raw["$type"] == "chat.bsky.convo.defs#messageView"
    assert f"dm:{convo}" in run.cursor

    chat = [r for r in fake_server.requests if r.path.startswith("/xrpc/chat.bsky.")]
    assert chat and all(
        r.headers["atproto-proxy"] == "did:web:api.bsky.chat#bsky_chat" for r in chat
    )


def test_items_carry_raw_payload_and_capture_context(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    uri = sky.add_post("hello")
    run = run_fetch(connector)
    item = run.by_id()[uri]
    assert item.platform == "bluesky"
    assert item.account == sky.account.handle
    assert item.raw["post"]["uri"] == uri  # the feed item as received
    assert item.raw["post"]["likeCount"] == 0
    assert item.capture.connector == "bluesky"
    assert item.capture.connector_version == BlueskyConnector.version == "1.0.0"
    request_url = item.capture.request_url or ""
    assert request_url.startswith(connector.settings.base_url)
    assert "/xrpc/app.bsky.feed.getAuthorFeed?" in request_url
    assert item.capture.response_headers["content-type"].startswith("application/json")
    assert item.content["url"].startswith("https://bsky.app/profile/did:plc:")


def test_records_the_appview_does_not_show_come_from_list_records(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    shown = sky.add_post("shown")
    hidden = sky.add_post("hidden", images=[(b"\x89PNG hidden", "a chart")])
    sky.hide_from_appview(hidden)

    run = run_fetch(connector)
    items = run.by_id()
    assert Counter(i.native_id for i in run.items) == Counter([shown, hidden])
    assert items[shown].raw["post"]["uri"] == shown  # from the feed, not repeated
    record_item = items[hidden]
    assert set(record_item.raw) == {"uri", "cid", "value"}  # the listRecords entry
    assert record_item.content["text"] == "hidden"
    assert record_item.content["cid"] == sky.posts[hidden].cid
    [media] = record_item.content["media"]
    assert "/xrpc/com.atproto.sync.getBlob?did=" in media["url"]
    assert record_item.attachments[0].url == media["url"]
    assert record_item.attachments[0].description == "a chart"


def test_facets_give_links_mentions_and_tags(sky: FakeBluesky, connector: BlueskyConnector) -> None:
    text = "Grüße @friend.test, see https://example.org/a #Archiv"
    friend = sky._actor("friend.test")
    facets = [
        mention_facet(text, "@friend.test", friend.did),
        link_facet(text, "https://example.org/a", "https://example.org/a"),
        tag_facet(text, "#Archiv"),
    ]
    uri = sky.add_post(text, facets=facets, tags=["compliance"], langs=["de", "en"])
    content = run_fetch(connector).by_id()[uri].content
    assert content["text"] == text
    assert content["mentions"] == [friend.did]
    assert content["urls"] == ["https://example.org/a"]
    assert content["hashtags"] == ["Archiv", "compliance"]
    assert content["lang"] == "de"
    assert content["langs"] == ["de", "en"]


def test_chat_disabled_makes_no_chat_requests(
    sky: FakeBluesky, make_connector: MakeConnector, fake_server: FakeServer
) -> None:
    sky.add_post("hello")
    sky.add_message(sky.add_convo("friend.test"), "hidden from us")
    run = run_fetch(make_connector(chat_enabled=False))
    assert run.error is None
    assert [i.kind for i in run.items] == ["post"]
    assert not [r for r in fake_server.requests if r.path.startswith("/xrpc/chat.")]
    assert all(
        not isinstance(u, CursorUpdate) or not u.stream.startswith("dm:") for u in run.output
    )
