"""fetch(): media with Reels and carousels, comments and replies, Stories, Direct."""

from __future__ import annotations

import json

import pytest

from connectors.instagram import InstagramConnector
from tests.connectors.facebook.support import TOKEN
from tests.connectors.support import as_stored
from tests.fakes.meta_graph import (
    IG_COMMENTED_MEDIA,
    IG_PAGE_ID,
    IG_USER_ID,
    IG_USERNAME,
    FakeGraph,
)

MEDIA = f"/v19.0/{IG_USER_ID}/media"


def test_media_kinds_follow_media_product_type(graph: FakeGraph, run) -> None:
    result = run(capture_comments=False)

    assert result.latest(graph.reel["id"]).kind == "reel"
    assert result.latest(graph.story["id"]).kind == "story"
    assert result.latest(graph.carousel["id"]).kind == "post"
    recorded = result.latest(IG_COMMENTED_MEDIA)  # v6.0 payload: no media_product_type
    assert recorded.kind == "post"
    assert recorded.content["url"] == "https://www.instagram.com/p/CSgdWACBeKr/"
    assert recorded.content["created_at"] == "2021-08-13T08:02:40Z"
    assert [a.media_type for a in recorded.attachments] == ["image"]
    assert recorded.attachments[0].url.startswith(
        graph.server.url + "/cdn/scontent-gmp1-1.cdninstagram.com/"
    )
    assert InstagramConnector.ephemeral is True


def test_a_carousel_is_one_item_with_several_media(graph: FakeGraph, run) -> None:
    result = run(capture_comments=False)

    carousel = result.latest(graph.carousel["id"])
    children = graph.carousel["children"]["data"]
    assert [a.media_type for a in carousel.attachments] == ["image", "video", "image"]
    assert carousel.content["media"] == [
        {"id": c["id"], "type": c["media_type"].lower()} for c in children
    ]
    assert carousel.content["hashtags"] == ["harbour"]
    assert carousel.content["mentions"] == ["ig_fan"]
    assert carousel.content["author"] == IG_USERNAME
    assert "cdn" not in json.dumps(carousel.content)


def test_media_pages_by_cursor_and_later_runs_ask_since(graph: FakeGraph, run) -> None:
    first = run(capture_comments=False, capture_stories=False)
    walked = graph.requests_to(MEDIA)
    assert len(walked) == 2  # four media, two a page
    assert walked[0].param("after") is None and walked[1].param("after")
    graph.server.requests.clear()
    new = graph.add_media("Fresh #reel", product_type="REELS", media_type="VIDEO")

    second = run(first.cursor, capture_comments=False, capture_stories=False)

    assert graph.requests_to(MEDIA)[0].param("since") == str(
        json.loads(first.cursor["media"])["since"]
    )
    # since is inclusive: the newest media of the last walk comes again, unchanged
    assert second.ids() == [graph.reel["id"], new["id"]]
    assert second.latest(new["id"]).kind == "reel"
    assert [a.media_type for a in second.latest(new["id"]).attachments] == ["video"]


def test_comments_replies_and_hidden_comments(graph: FakeGraph, run) -> None:
    hidden = graph.add_ig_comment(IG_COMMENTED_MEDIA, "spam spam", hidden=True)
    result = run(capture_stories=False)

    comments = [i for i in result.items if i.kind in ("comment", "reply")]
    assert {c.content["thread_id"] for c in comments} == {IG_COMMENTED_MEDIA}
    recorded = result.latest("17858154961981086")
    assert recorded.kind == "comment"
    assert recorded.content["text"] == "Beautiful!"
    assert recorded.content["in_reply_to"] == IG_COMMENTED_MEDIA
    [reply] = [c for c in comments if c.kind == "reply"]
    assert reply.content["in_reply_to"] == "17858154961981086"
    assert reply.content["author"] == IG_USERNAME
    assert reply.content["text"] == "Thank you! 🙏"
    assert result.latest(hidden["id"]).content["hidden"] is True
    assert recorded.content["hidden"] is False
    # media without comments are not asked for them
    assert not graph.requests_to("/17895731045244887/comments")


def test_long_reply_lists_are_paged_through_the_replies_edge(graph: FakeGraph, run) -> None:
    graph.reply_inline_limit = 1
    extra = graph.add_ig_comment(IG_COMMENTED_MEDIA, "me too", parent="17858154961981086")

    result = run(capture_stories=False)

    assert {i.native_id for i in result.items if i.kind == "reply"} >= {extra["id"]}
    assert graph.requests_to("/17858154961981086/replies")
    top = result.latest("17858154961981086")
    assert TOKEN not in as_stored(top)  # the inline replies' paging.next is redacted
    assert "REDACTED" in top.raw["replies"]["paging"]["next"]


def test_stories_are_read_in_full_every_run(graph: FakeGraph, run) -> None:
    first = run(capture_comments=False)
    second = run(first.cursor, capture_comments=False)

    assert graph.story["id"] in second.ids("story")
    assert len(graph.requests_to(f"/{IG_USER_ID}/stories")) == 2
    assert all(r.param("since") is None for r in graph.requests_to("/stories"))
    assert second.latest(graph.story["id"]).content["media_product_type"] == "STORY"


def test_direct_messages_need_the_linked_page(graph: FakeGraph, run) -> None:
    without = run(capture_comments=False)
    assert without.ids("dm") == []
    assert not graph.requests_to("/conversations")

    result = run(capture_comments=False, page_id=IG_PAGE_ID)

    [request] = graph.requests_to(f"/{IG_PAGE_ID}/conversations")
    assert request.param("platform") == "instagram"
    dms = [i for i in result.items if i.kind == "dm"]
    assert [d.content["text"] for d in dms] == [
        "Hi! Is the shop open on Sunday?",
        "Yes, 10:00-16:00 ☀️",
    ]
    assert [d.content["author"] for d in dms] == ["ig_fan", IG_USERNAME]
    assert dms[0].content["participants"] == sorted([IG_USERNAME, "ig_fan"])
    assert dms[0].content["conversation_id"] == graph.ig_conversation


def test_direct_can_use_its_own_page_token(graph: FakeGraph, run, monkeypatch) -> None:
    page_token = "EAAPageTokenForDirect-0123456789abcdef"
    graph.tokens.add(page_token)
    monkeypatch.setenv("IG_PAGE_TOKEN", page_token)

    result = run(capture_comments=False, page_id=IG_PAGE_ID, dm_token_env="IG_PAGE_TOKEN")

    for request in graph.server.requests:
        if request.path.startswith("/cdn/"):
            continue
        direct = request.path.endswith(("/conversations", "/messages"))
        expected = page_token if direct else TOKEN
        assert request.headers["authorization"] == f"Bearer {expected}", request.path
    assert len(result.ids("dm")) == 2
    for item in result.items:
        assert page_token not in as_stored(item)


def test_a_throttled_media_listing_is_waited_out(graph: FakeGraph, run, fake_clock) -> None:
    graph.rate_limit(MEDIA, code=80002, regain_minutes=1)
    result = run(capture_comments=False, capture_stories=False)

    assert graph.carousel["id"] in result.ids("post")
    assert fake_clock.sleeps[0] == pytest.approx(60.0)
