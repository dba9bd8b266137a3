"""Normalisation on the stored real payloads (tests/fixtures/bluesky), no HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.bluesky import normalise as bsky
from connectors.bluesky.connector import WalkState

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bluesky"


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_a_thread_post_view_with_record_with_media() -> None:
    post = _load("thread_view_post_with_embed_media.json")["thread"]["post"]
    content = bsky.post_view_content(post)
    assert content["text"] == ""
    assert content["author"] == "test.marshal.dev"
    assert content["created_at"] == "2023-09-28T12:49:36.735Z"
    assert content["cid"] == post["cid"]
    assert content["lang"] == "en"
    assert content["url"] == (
        "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kaheyt6vpc22"
    )
    assert content["quote_of"].endswith("/app.bsky.feed.post/3kahesw26il2z")
    [image] = content["media"]
    assert image["type"] == "image"
    assert image["url"].startswith("https://cdn.bsky.app/img/feed_fullsize/plain/")
    assert bsky.post_kind(post["record"]) == "post"
    [attachment] = bsky.attachments(content["media"])
    assert attachment.url == image["url"]


def test_the_same_record_from_list_records_has_getblob_media() -> None:
    post = _load("thread_view_post_with_embed_media.json")["thread"]["post"]
    entry = {"uri": post["uri"], "cid": post["cid"], "value": post["record"]}
    content = bsky.record_content(
        entry,
        handle="test.marshal.dev",
        did="did:plc:kvwvcn5iqfooopmyzvb4qzba",
        service="https://pds.example",
    )
    [image] = content["media"]
    assert image["url"] == (
        "https://pds.example/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Akvwvcn5iqfooopmyzvb4qzba"
        "&cid=bafkreic3cp5ky525vsukjvrzxsc2h3jka2gud74l2hgeatw2rhj2qycnmq"
    )
    view = bsky.post_view_content(post)
    same = {k for k in content if content[k] == view[k]}
    assert same == set(content) - {"media"}  # only the media URL depends on the view


def test_a_get_record_answer_as_a_list_records_entry() -> None:
    entry = _load("post_record.json")
    content = bsky.record_content(
        entry, handle="test.marshal.dev", did="did:plc:kvwvcn5iqfooopmyzvb4qzba", service="x"
    )
    assert content["text"] == "new text114"
    assert content["created_at"] == "2024-02-22T19:58:13.903293+00:00"
    assert content["in_reply_to"] is None
    assert content["thread_id"] == entry["uri"]
    assert content["media"] == []


def test_time_keys_sort_like_times() -> None:
    assert bsky.time_key("2024-02-22T19:58:13.903293+00:00") == "2024-02-22T19:58:13.903293Z"
    assert bsky.time_key("2023-09-28T12:49:36.735Z") == "2023-09-28T12:49:36.735000Z"
    assert bsky.time_key("2023-09-28T14:49:36+02:00") == "2023-09-28T12:49:36.000000Z"
    assert bsky.time_key("not a time") is None
    assert bsky.time_key(None) is None


def test_feed_sort_key_uses_the_earlier_of_created_and_indexed() -> None:
    entry = {
        "post": {
            "indexedAt": "2025-01-02T00:00:00Z",
            "record": {"createdAt": "2020-01-01T00:00:00Z"},
        }
    }
    assert bsky.feed_sort_key(entry) == "2020-01-01T00:00:00.000000Z"
    pinned = {**entry, "reason": {"$type": "app.bsky.feed.defs#reasonPin"}}
    assert bsky.feed_sort_key(pinned) is None


def test_multibyte_facets_and_self_labels() -> None:
    text = "Ünïcödé #tag https://x.example"
    record = {
        "text": text,
        "facets": [
            {
                "index": {"byteStart": 0, "byteEnd": 3},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://x.example"}],
            },
            {
                "index": {"byteStart": 0, "byteEnd": 3},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "tag"}],
            },
        ],
        "tags": ["tag", "extra"],
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]},
        "createdAt": "2025-01-01T00:00:00Z",
    }
    content = bsky.record_content(
        {"uri": "at://did:plc:a/app.bsky.feed.post/3k", "cid": "c", "value": record},
        handle="a.test",
        did="did:plc:a",
        service="https://pds.example",
    )
    assert content["hashtags"] == ["tag", "extra"]
    assert content["urls"] == ["https://x.example"]
    assert content["content_warning"] == "nudity"


def test_repost_ids_fall_back_when_the_appview_omits_the_repost_uri() -> None:
    entry = {
        "post": {"uri": "at://did:plc:b/app.bsky.feed.post/3x"},
        "reason": {"$type": "app.bsky.feed.defs#reasonRepost", "by": {"did": "did:plc:a"}},
    }
    assert (
        bsky.repost_native_id(entry) == "at://did:plc:b/app.bsky.feed.post/3x#repost-by-did:plc:a"
    )


def test_walk_state_round_trips_and_accepts_a_bare_resume_point() -> None:
    state = WalkState(since="2025-01-01T00:00:00.000000Z", newest="b", page="c::d")
    assert WalkState.decode(state.encode()) == state
    assert WalkState.decode("2024-06-01T00:00:00.000000Z") == WalkState(
        since="2024-06-01T00:00:00.000000Z"
    )
    assert WalkState.decode(None) == WalkState()
