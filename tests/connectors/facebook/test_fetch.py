"""fetch(): the Page feed with its paging cursors, comments and replies, conversations."""

from __future__ import annotations

import json

from connectors.base import CursorUpdate
from tests.connectors.support import collect
from tests.fakes.meta_graph import (
    COMMENTED_POST,
    CONVERSATION_ID,
    PAGE_ID,
    FakeGraph,
    parse_graph_time,
)

FEED = f"/v19.0/{PAGE_ID}/feed"


def test_a_first_run_backfills_the_feed_page_by_page_with_after_cursors(
    graph: FakeGraph, run
) -> None:
    result = run(capture_comments=False, capture_dms=False)

    expected = [p["id"] for p in graph.page_posts()]
    assert sorted(result.ids("post")) == sorted(expected)
    assert len(expected) == 6
    feed = graph.requests_to(FEED)
    assert [r.param("limit") for r in feed] == ["3", "3"]
    assert feed[0].param("after") is None and feed[0].param("since") is None
    first_page = result.updates[0]
    assert first_page.stream == "feed"
    assert feed[1].param("after") == json.loads(first_page.value)["page"]["after"]
    newest = parse_graph_time(graph.page_posts()[0]["created_time"])
    assert json.loads(result.cursor["feed"]) == {
        "since": int(newest.timestamp()),
        "newest": None,
        "page": None,
    }


def test_paging_next_urls_are_rebuilt_on_our_root_never_followed(graph: FakeGraph, run) -> None:
    """Graph's next URLs point at graph.facebook.com and carry the token: the walk takes
    only their cursor and asks the configured host, with the token in a header."""
    run(capture_comments=False, capture_dms=False)

    for request in graph.server.requests:
        assert request.path.startswith("/v19.0/")
        assert request.param("access_token") is None
        assert request.headers["authorization"].startswith("Bearer ")
        assert request.param("fields")  # our own parameters, not the next URL's


def test_a_later_run_asks_only_for_posts_since_the_last_walk(graph: FakeGraph, run) -> None:
    first = run(capture_comments=False, capture_dms=False)
    graph.server.requests.clear()
    new = graph.add_post("Fresh news from the Page #launch https://example.org/x")

    second = run(first.cursor, capture_comments=False, capture_dms=False)

    feed = graph.requests_to(FEED)
    assert len(feed) == 1
    assert feed[0].param("since") == str(json.loads(first.cursor["feed"])["since"])
    # Graph's since is inclusive: the newest old post comes again and ingests unchanged.
    assert new["id"] in second.ids("post")
    assert len(second.ids("post")) == 2
    assert json.loads(second.cursor["feed"])["since"] == int(
        parse_graph_time(new["created_time"]).timestamp()
    )
    item = second.latest(new["id"])
    assert item.content["hashtags"] == ["launch"]
    assert item.content["urls"] == ["https://example.org/x"]


def test_an_interrupted_backfill_resumes_with_the_stored_page(
    graph: FakeGraph, make_connector
) -> None:
    output = make_connector(capture_comments=False, capture_dms=False).fetch({})
    seen: list[str] = []
    cursor: dict[str, str] = {}
    for produced in output:  # the run dies right after its first checkpoint
        if isinstance(produced, CursorUpdate):
            cursor[produced.stream] = produced.value
            break
        seen.append(produced.native_id)
    graph.server.requests.clear()

    rest = collect(make_connector(capture_comments=False, capture_dms=False).fetch(cursor), cursor)

    feed = graph.requests_to(FEED)
    assert feed[0].param("after") == json.loads(cursor["feed"])["page"]["after"]
    assert sorted(seen + rest.ids("post")) == sorted(p["id"] for p in graph.page_posts())
    assert json.loads(rest.cursor["feed"])["page"] is None


def test_comments_and_replies_come_as_one_stream_with_their_parents(graph: FakeGraph, run) -> None:
    result = run(capture_dms=False)

    comments = [i for i in result.items if i.kind in ("comment", "reply")]
    assert len(comments) == 10
    assert len(result.ids("reply")) == 4
    for item in comments:
        assert item.content["thread_id"] == COMMENTED_POST
        assert item.content["hidden"] is False
    top = result.latest("10158407654328553_10158407903973553")
    assert top.kind == "comment" and top.content["in_reply_to"] == COMMENTED_POST
    reply = result.latest("10158407654328553_10158409984053553")
    assert reply.kind == "reply"
    assert reply.content["in_reply_to"] == "10158407654328553_10158407903973553"
    assert reply.content["text"] == "Facebook for Developers they don’t respond 😞"
    answer = result.latest("10158407654328553_10158409983033553")
    assert (answer.content["author"], answer.content["author_name"]) == (
        PAGE_ID,
        "Facebook for Developers",
    )
    assert answer.content["urls"] == ["http://bit.ly/2NsSg8i"]
    requests = graph.requests_to(f"/{COMMENTED_POST}/comments")
    assert requests[0].param("filter") == "stream"
    assert len(requests) == 4  # ten comments, three a page
    assert {r.param("after") for r in requests[1:]} != {None}


def test_hidden_comments_are_kept_with_their_state(graph: FakeGraph, run) -> None:
    post = graph.add_post("Comment below")
    hidden = graph.add_comment(post["id"], "buy cheap followers at spam.example", hidden=True)
    shown = graph.add_comment(post["id"], "Nice!")

    result = run(capture_dms=False)

    assert result.latest(hidden["id"]).content["hidden"] is True
    assert result.latest(shown["id"]).content["hidden"] is False
    assert result.latest(hidden["id"]).raw["is_hidden"] is True


def test_posts_name_their_media_by_stable_links_and_download_from_the_cdn(
    graph: FakeGraph, run
) -> None:
    result = run(capture_comments=False, capture_dms=False)

    photo = result.latest("19292868552_10158349356748553")
    assert photo.content["media"] == [
        {
            "id": "10158349355013553",
            "type": "photo",
            "url": "https://www.facebook.com/FacebookforDevelopers/photos/a.441861428552/"
            "10158349355013553/?type=3",
            "title": None,
            "description": photo.raw["attachments"]["data"][0]["description"],
        }
    ]
    assert photo.content["mentions"] == ["Ninja Van Singapore", "Messenger"]
    [attachment] = photo.attachments
    assert attachment.media_type == "image"
    assert attachment.url.startswith(graph.server.url + "/cdn/scontent-ssn1-1.xx.fbcdn.net/")
    assert "cdn" not in json.dumps(photo.content)
    video = result.latest("19292868552_10158333323653553")
    assert video.content["media"][0]["type"] == "video"
    assert video.content["text"].count("愛料理") == 1


def test_page_conversations_become_dms_with_participants_and_attachments(
    graph: FakeGraph, run
) -> None:
    result = run(capture_comments=False)

    dms = [i for i in result.items if i.kind == "dm"]
    assert len(dms) == 2
    for dm in dms:
        assert dm.content["conversation_id"] == dm.content["thread_id"] == CONVERSATION_ID
        assert dm.content["participants"] == ["2121008874780932", "2711636948859886"]
        assert dm.content["author"] == "2711636948859886"
        assert dm.content["author_name"] == "Kun Liu"
    image, video = dms  # oldest first
    assert image.content["media"] == [
        {
            "id": "651143212510248",
            "type": "image",
            "name": "image-651143212510248",
            "mime_type": "image/jpeg",
        }
    ]
    assert [a.media_type for a in image.attachments] == ["image"]
    assert [a.media_type for a in video.attachments] == ["video"]
    assert json.loads(result.cursor["conversations"])["since"] > 0
    requests = graph.requests_to("/conversations")
    assert requests[0].param("platform") == "messenger"


def test_a_later_run_reads_only_conversations_updated_since(graph: FakeGraph, run) -> None:
    first = run(capture_comments=False)
    graph.server.requests.clear()
    message = graph.add_message(CONVERSATION_ID, "Are you open on Sunday? ☀️")

    second = run(first.cursor, capture_comments=False)

    # The newest message of the last walk comes again (ingested unchanged), older ones not.
    assert second.ids("dm") == [first.ids("dm")[-1], message["id"]]
    assert second.latest(message["id"]).content["text"] == "Are you open on Sunday? ☀️"
    assert len(graph.requests_to("/messages")) == 1


def test_dms_and_comments_can_be_switched_off(graph: FakeGraph, run) -> None:
    result = run(capture_comments=False, capture_dms=False)

    assert {i.kind for i in result.items} == {"post"}
    assert not graph.requests_to("/conversations")
    assert not graph.requests_to("/comments")
