"""The fake answers like the recorded X API did: same data for the same request."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.http import CredentialsError, HttpClient
from tests.fakes.x import (
    EDIT_CHAIN,
    TWEEPY_IDS,
    TWITTER_ID,
    VIDEO_ID,
    FakeX,
    load_cassette,
    load_jsonl,
)

from .support import TOKEN


def _client(x: FakeX) -> HttpClient:
    return HttpClient(x.server.url, auth_headers={"Authorization": f"Bearer {TOKEN}"})


def _replay(x: FakeX, recorded_url: str) -> dict:
    """GET the recorded request (twarc kept its URL) from the fake."""
    parts = urlsplit(recorded_url)
    with _client(x) as client:
        return client.get_json(parts.path, dict(parse_qsl(parts.query))).data


def test_the_tweepy_timeline_page_and_its_rate_limit_headers(x: FakeX) -> None:
    recorded = load_cassette("client_get_users_tweets/01-get-users-id-tweets.json")
    with _client(x) as client:
        result = client.get_json(f"/2/users/{TWITTER_ID}/tweets")
    expected = recorded["response"]["json"]
    assert result.data["data"] == expected["data"]
    assert [t["id"] for t in result.data["data"]] == list(TWEEPY_IDS)
    for key in ("result_count", "newest_id", "oldest_id"):
        assert result.data["meta"][key] == expected["meta"][key]
    recorded_headers = recorded["response"]["headers"]
    assert result.headers["x-rate-limit-limit"] == recorded_headers["x-rate-limit-limit"]
    assert int(result.headers["x-rate-limit-reset"]) > 1_000_000_000  # Unix seconds, like X


@pytest.mark.parametrize("name", ["edited.jsonl", "media_tweet.jsonl"])
def test_twarc_lookups_are_answered_with_the_recorded_bodies(x: FakeX, name: str) -> None:
    recorded = load_jsonl(name)
    expected = {k: v for k, v in recorded.items() if k != "__twarc"}
    served = _replay(x, recorded["__twarc"]["url"])
    # Media URLs point at the fake (same paths) so that tests can download them.
    text = json.dumps(served).replace(f"{x.server.url}/ext_tw_video_thumb/",
                                      "https://pbs.twimg.com/ext_tw_video_thumb/")
    text = text.replace(x.server.url, "https://video.twimg.com")
    assert json.loads(text) == expected


def test_the_recorded_edit_chain_is_served_as_x_serves_edits(x: FakeX) -> None:
    with _client(x) as client:
        timeline = client.get_json("/2/users/337119125/tweets").data
        original = client.get_json(f"/2/tweets/{EDIT_CHAIN[0]}").data
    assert [t["id"] for t in timeline["data"]] == [EDIT_CHAIN[1]]  # the latest version only
    assert original["data"]["edit_history_tweet_ids"] == list(EDIT_CHAIN)
    assert original["data"]["text"].startswith("i miss y")


def test_gone_and_private_posts_and_bad_tokens_are_answered_as_x_does(x: FakeX) -> None:
    x.delete(EDIT_CHAIN[1])
    x.protect(VIDEO_ID)
    with _client(x) as client:
        body = client.get_json("/2/tweets", {"ids": f"{EDIT_CHAIN[0]},{VIDEO_ID}"}).data
    assert "data" not in body
    assert [e["type"].rsplit("/", 1)[1] for e in body["errors"]] == [
        "resource-not-found", "not-authorized-for-resource"]
    with HttpClient(x.server.url) as anonymous, pytest.raises(CredentialsError):
        anonymous.get_json("/2/tweets", {"ids": VIDEO_ID})


def test_dm_events_need_a_user_context_token(x: FakeX) -> None:
    x.user_context = False
    with _client(x) as client, pytest.raises(CredentialsError, match="Application-Only"):
        client.get_json("/2/dm_events")
