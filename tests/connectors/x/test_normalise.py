"""The one normaliser: the API shape and the archive shape of the same tweet give the
same native id and the same content."""

from __future__ import annotations

import pytest

from connectors.x.from_api import Includes, post_from_api
from connectors.x.from_archive import message_from_archive, post_from_archive
from connectors.x.normalise import (
    edit_controls,
    parse_archive_time,
    participants,
    post_content,
    quote_from_urls,
    snowflake_time,
)
from tests.fakes.x import EDIT_CHAIN, WONG_ID, load_jsonl

from .archives import POSTS


def _no_media(item_id: str, name: str) -> None:
    return None


# The recorded edit chain (edited.jsonl) as X's archive would hold it: one entry per
# version, numbers as strings, v1.1 entity names (constructed after the archive format).
ARCHIVE_CHAIN = [
    {
        "edit_info": {"initial": {
            "editTweetIds": list(EDIT_CHAIN), "editableUntil": "2022-10-03T18:27:01.000Z",
            "editsRemaining": "4", "isEditEligible": True}},
        "id_str": EDIT_CHAIN[0], "id": EDIT_CHAIN[0],
        "full_text": "i miss y\u2019all so much haha,,, https://t.co/glJ0r9uh9F https://t.co/4E9OBHOATs",
        "created_at": "Mon Oct 03 17:57:01 +0000 2022", "lang": "en",
        "favorite_count": "0", "retweet_count": "0",
        "entities": {
            "hashtags": [], "symbols": [], "user_mentions": [],
            "urls": [{"url": "https://t.co/glJ0r9uh9F", "indices": ["29", "52"],
                      "expanded_url": "https://twitter.com/i/web/status/1576994746135764992",
                      "display_url": "twitter.com/i/web/status/1\u2026"}],
            "media": [{"id_str": "1576994475507077121", "type": "photo", "indices": ["53", "76"],
                       "url": "https://t.co/4E9OBHOATs",
                       "media_url_https": "https://pbs.twimg.com/media/FeJ1a2bXoAEq8yT.jpg",
                       "expanded_url": "https://twitter.com/wongmjane/status/1576994746135764992/photo/1"}],
        },
        "extended_entities": {"media": [
            {"id_str": "1576994475507077121", "type": "photo", "indices": ["53", "76"],
             "url": "https://t.co/4E9OBHOATs",
             "media_url_https": "https://pbs.twimg.com/media/FeJ1a2bXoAEq8yT.jpg"}]},
    },
    {
        "edit_info": {"edit": {"initialTweetId": EDIT_CHAIN[0], "editControlInitial": {
            "editTweetIds": list(EDIT_CHAIN), "editableUntil": "2022-10-03T18:27:01.000Z",
            "editsRemaining": "4", "isEditEligible": True}}},
        "id_str": EDIT_CHAIN[1], "id": EDIT_CHAIN[1],
        "full_text": "hey :) https://t.co/rnwEIoNuqd",
        "created_at": "Mon Oct 03 17:57:11 +0000 2022", "lang": "qst",
        "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": [
            {"url": "https://t.co/rnwEIoNuqd", "indices": ["7", "30"],
             "expanded_url": "https://twitter.com/i/web/status/1576994789110992896",
             "display_url": "twitter.com/i/web/status/1\u2026"}]},
    },
]


def test_both_shapes_of_the_recorded_edit_chain_normalise_identically() -> None:
    recorded = load_jsonl("edited.jsonl")
    includes = Includes.of(recorded)
    api = [post_from_api(includes.tweets[i], includes) for i in EDIT_CHAIN]
    archive = [post_from_archive(entry, username="wongmjane", user_id=WONG_ID,
                                 media_member=_no_media) for entry in ARCHIVE_CHAIN]
    for from_api, from_archive in zip(api, archive, strict=True):
        assert from_api.native_id == from_archive.native_id == EDIT_CHAIN[0]
        options = {"native_id": EDIT_CHAIN[0], "created_at": "2022-10-03T17:57:01Z",
                   "own_user_id": WONG_ID}
        assert post_content(from_api, **options) == post_content(from_archive, **options)
    assert api[0].media[0].entry() == {"id": "1576994475507077121", "type": "photo",
                                        "description": None}


def test_edits_remaining_is_an_int_whatever_its_json_type() -> None:
    as_text = edit_controls({"edit_controls": {"edits_remaining": "4", "is_edit_eligible": True,
                                               "editable_until": "2022-10-03T18:27:01.000Z"}})
    as_number = edit_controls({"edit_controls": {"edits_remaining": 4, "is_edit_eligible": True,
                                                 "editable_until": "2022-10-03T18:27:01.000Z"}})
    from_archive = edit_controls(ARCHIVE_CHAIN[1])
    assert as_text == as_number == from_archive
    assert as_text.edits_remaining == 4 and as_text.editable_until == "2022-10-03T18:27:01Z"
    assert edit_controls({"edit_controls": {"edits_remaining": "many"}}).edits_remaining is None
    recorded = load_jsonl("media_tweet.jsonl")["data"][0]  # an int in this recording
    assert edit_controls(recorded).edits_remaining == 5


def test_created_at_is_the_snowflake_time_of_every_fixture_tweet() -> None:
    for post in POSTS:
        assert snowflake_time(post["id_str"]) == parse_archive_time(post["created_at"])
    for name in ("edited.jsonl", "media_tweet.jsonl"):
        for tweet in load_jsonl(name)["includes"]["tweets"]:
            assert snowflake_time(tweet["id"]) == tweet["created_at"].replace(".000Z", "Z")


def test_a_retweet_normalises_the_same_from_both_shapes() -> None:
    entry = next(p for p in POSTS if p["full_text"].startswith("RT @"))
    archive = post_from_archive(entry, username="darkliquid", user_id="15942882",
                                media_member=_no_media)
    api_tweet = {
        "id": entry["id_str"], "text": entry["full_text"], "author_id": "15942882",
        "created_at": "2022-10-23T09:10:43.000Z", "lang": "en",
        "conversation_id": entry["id_str"], "edit_history_tweet_ids": [entry["id_str"]],
        "referenced_tweets": [{"type": "retweeted", "id": "1584080000000000000"}],
        "entities": {"mentions": [{"start": 3, "end": 16, "username": "boondaburrah"},
                                  {"start": 18, "end": 27, "username": "bengl3rt"}]},
    }
    includes = Includes(users={"15942882": {"id": "15942882", "username": "darkliquid"}})
    api = post_from_api(api_tweet, includes)
    options = {"native_id": entry["id_str"], "created_at": "2022-10-23T09:10:43Z",
               "own_user_id": "15942882"}
    assert post_content(api, **options) == post_content(archive, **options)
    assert post_content(api, **options)["boost_author"] == "boondaburrah"


@pytest.mark.parametrize(
    ("text", "expanded", "quoted"),
    [
        ("look https://t.co/abc", "https://twitter.com/someone/status/123", "123"),
        ("look https://t.co/abc", "https://x.com/someone/status/123", "123"),
        ("https://t.co/abc is a thread", "https://twitter.com/someone/status/123", None),
        ("look https://t.co/abc", "https://example.org/status/123", None),
    ],
)
def test_a_quote_is_read_from_a_trailing_link_to_a_post(
    text: str, expanded: str, quoted: str | None
) -> None:
    start = text.index("https://t.co/abc")
    entity = {"url": "https://t.co/abc", "expanded_url": expanded, "start": start}
    assert quote_from_urls(text, [entity]) == quoted


@pytest.mark.parametrize(
    ("url", "media_id", "kind"),
    [
        ("https://ton.twitter.com/1.1/ton/data/dm/1700/1699/AbCd.jpg", "1699", "photo"),
        ("https://video.twimg.com/dm_video/1699/vid/1280x720/x.mp4?tag=1", "1699", "video"),
        ("https://video.twimg.com/dm_gif/1699/Ef.mp4", "1699", "animated_gif"),
    ],
)
def test_dm_media_ids_and_types_from_archive_urls(url: str, media_id: str, kind: str) -> None:
    message = message_from_archive(
        {"id": "1700", "text": "x", "senderId": "1", "createdAt": "2024-01-01T00:00:00.000Z",
         "mediaUrls": [url]}, "1-2", _no_media)
    assert [(m.id, m.type) for m in message.media] == [(media_id, kind)]
    assert message.created_at == "2024-01-01T00:00:00Z"


def test_participants_come_from_one_to_one_conversation_ids() -> None:
    assert participants("15942882-1106739631557472256") == ["1106739631557472256", "15942882"]
    assert participants("1512210732774948865") is None  # a group: the id says nothing
