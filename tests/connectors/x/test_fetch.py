"""Fetching from the fake X API over HTTP: timeline paging and cursors, replies through
conversation search, DMs, media, retweets and quotes, rate limits, secrets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from archiver.errors import FatalError, RetriableError
from archiver.item import CapturedItem
from connectors.base import CursorUpdate
from connectors.x import XConnector, XSettings
from tests.connectors.support import as_stored, collect
from tests.fakes import FakeClock
from tests.fakes.x import (
    FRIEND_ID,
    IGOR_ID,
    ORG_ID,
    PHOTO_FILE,
    PHOTO_ID,
    RETWEET_ID,
    VIDEO_ID,
    FakeX,
    png,
)

from .archives import TWEET_COUNT
from .support import TOKEN

Make = Callable[..., XConnector]
TIMELINE = f"/2/users/{ORG_ID}/tweets"


def test_the_first_run_pages_down_the_timeline_then_sets_the_cursor(
    x: FakeX, make_connector: Make
) -> None:
    run = collect(make_connector(capture_dms=False).fetch({}))
    newest = x.org_posts()[0]["id"]
    assert sorted(run.ids()) == sorted(p["id"] for p in x.org_posts())
    assert len(run.items) == TWEET_COUNT
    requests = x.server.requests_to(TIMELINE)
    assert [r.param("max_results") for r in requests] == ["10", "10", "10"]
    assert requests[0].param("pagination_token") is None
    assert all(r.param("pagination_token") for r in requests[1:])
    assert "edit_history_tweet_ids" in requests[0].param("tweet.fields")
    assert "attachments.media_keys" in requests[0].param("expansions")
    posts = x.org_posts()
    progress = [u.value for u in run.updates if u.stream == "tweets_progress"]
    assert progress == [
        f"{newest}:{posts[9]['id']}",
        f"{newest}:{posts[19]['id']}",
        f"{newest}:{posts[-1]['id']}",
        "",
    ]
    assert run.cursor == {"tweets": newest, "tweets_progress": ""}


def test_later_runs_ask_with_since_id_and_get_only_what_is_new(
    x: FakeX, make_connector: Make
) -> None:
    first = collect(make_connector(capture_dms=False).fetch({}))
    x.server.requests.clear()
    quiet = collect(make_connector(capture_dms=False).fetch(first.cursor), first.cursor)
    assert quiet.items == [] and quiet.updates == []
    assert [r.param("since_id") for r in x.server.requests_to(TIMELINE)] == [first.cursor["tweets"]]
    new = x.post("A new post #launch")
    later = collect(make_connector(capture_dms=False).fetch(first.cursor), first.cursor)
    assert later.ids() == [new]
    assert later.cursor["tweets"] == new
    assert later.items[0].content["hashtags"] == ["launch"]


def test_a_walk_cut_short_resumes_below_the_last_archived_page(
    x: FakeX, make_connector: Make
) -> None:
    output: list[CapturedItem | CursorUpdate] = []
    fetch = make_connector(capture_dms=False).fetch({})
    with pytest.raises(RetriableError):
        for produced in fetch:
            output.append(produced)
            if isinstance(produced, CursorUpdate):
                x.fail(10, path=TIMELINE)  # X falls over after the first page
    broken = collect(output)
    assert len(broken.items) == 10 and "tweets" not in broken.cursor
    top, oldest = broken.cursor["tweets_progress"].split(":")
    x.server.requests.clear()
    x.heal()
    resumed = collect(make_connector(capture_dms=False).fetch(broken.cursor), broken.cursor)
    assert x.server.requests_to(TIMELINE)[0].param("until_id") == oldest
    assert len(resumed.items) == TWEET_COUNT - 10
    assert set(resumed.ids()).isdisjoint(broken.ids())
    assert resumed.cursor["tweets"] == top and resumed.cursor["tweets_progress"] == ""


def test_replies_to_our_posts_come_from_conversation_search(x: FakeX, make_connector: Make) -> None:
    ours = x.post("Branch hours change on Friday")
    answer = x.reply(ours, "Thanks for letting us know!")
    aside = x.reply(answer, "agreed", author="41551140")  # @symatt answers the replier
    our_reply = x.reply(answer, "You're welcome", author=ORG_ID)
    run = collect(make_connector(capture_dms=False).fetch({}))
    searches = x.server.requests_to("/2/tweets/search/recent")
    assert [s.param("query") for s in searches] == [f"conversation_id:{ours}"]
    replies = {i.native_id: i for i in run.items if i.kind == "reply"}
    assert answer in replies and aside not in replies
    assert replies[answer].content["author"] == "KissItBett3r"
    assert replies[answer].content["thread_id"] == ours
    assert replies[answer].content["in_reply_to"] == ours
    assert replies[our_reply].content["thread_id"] is None  # our reply: the archive can't say
    assert run.ids().count(our_reply) == 1  # from the timeline, not again from search


def test_search_only_reaches_back_seven_days(
    x: FakeX, make_connector: Make, fake_clock: FakeClock
) -> None:
    ours = x.post("An older announcement", at=fake_clock.now() - timedelta(days=20))
    old = x.reply(ours, "seen it", at=fake_clock.now() - timedelta(days=10))
    fresh = x.reply(ours, "late to this", at=fake_clock.now() - timedelta(days=2))
    run = collect(make_connector(capture_dms=False).fetch({}))
    assert fresh in run.ids("reply") and old not in run.ids()


def test_search_queries_stay_within_the_tier_limit(x: FakeX, make_connector: Make) -> None:
    posts = [x.post(f"post {n}") for n in range(30)]
    collect(make_connector(capture_dms=False, search_query_max_chars=200, page_size=100).fetch({}))
    queries = [r.param("query") for r in x.server.requests_to("/2/tweets/search/recent")]
    assert len(queries) > 1 and all(len(q) <= 200 for q in queries)
    assert sorted(c.split(":")[1] for q in queries for c in q.split(" OR ")) == sorted(posts)


def test_dms_are_captured_and_the_next_run_stops_at_the_newest_archived(
    x: FakeX, make_connector: Make
) -> None:
    incoming = x.add_dm("Can you call me about my application?", photo=png(20, 20))
    outgoing = x.add_dm("Of course, what time suits you?", sender=ORG_ID, recipient=FRIEND_ID)
    first = collect(make_connector().fetch({}))
    dms = {i.native_id: i for i in first.items if i.kind == "dm"}
    assert list(dms) == [incoming, outgoing]
    message = dms[incoming].content
    assert message["sender_id"] == FRIEND_ID
    assert message["participants"] == sorted([ORG_ID, FRIEND_ID])
    assert message["thread_id"] == message["conversation_id"] == f"{ORG_ID}-{FRIEND_ID}"
    assert message["media"] == [{"id": str(int(incoming) - 1), "type": "photo"}]
    assert dms[incoming].attachments[0].url.startswith(x.server.url + "/media/dm/")
    assert first.cursor["dm_events"] == outgoing
    x.server.requests.clear()
    reply = x.add_dm("3pm please")
    second = collect(make_connector().fetch(first.cursor), first.cursor)
    assert second.ids("dm") == [reply]
    assert len(x.server.requests_to("/2/dm_events")) == 1


def test_an_app_only_token_cannot_read_dms_and_the_error_says_what_to_do(
    x: FakeX, make_connector: Make
) -> None:
    x.user_context = False
    with pytest.raises(FatalError, match="capture_dms = false"):
        collect(make_connector().fetch({}))
    assert len(collect(make_connector(capture_dms=False).fetch({})).items) == TWEET_COUNT
    with pytest.raises(FatalError, match="set user_id"):
        collect(make_connector(user_id=None, capture_dms=False).fetch({}))


def test_the_account_id_can_come_from_its_username(x: FakeX, make_connector: Make) -> None:
    run = collect(make_connector(user_id=None, username="@darkliquid", capture_dms=False).fetch({}))
    assert x.server.requests_to("/2/users/by/username/darkliquid")
    assert len(run.items) == TWEET_COUNT


def test_photos_and_videos_resolve_through_includes(x: FakeX, make_connector: Make) -> None:
    run = collect(make_connector(capture_dms=False).fetch({}))
    photo = run.latest(PHOTO_ID)
    assert photo.content["media"] == [
        {"id": "1541752552856887298", "type": "photo", "description": None}
    ]
    assert photo.attachments[0].url == x.server.url_for(f"/media/{PHOTO_FILE}")
    assert photo.attachments[0].media_type == "image"
    assert (
        "https://twitter.com/darkliquid/status/1541752634348019715/photo/1"
        not in (photo.content["urls"])
    )  # the photo's own link is media, not a link
    video = collect(make_connector(user_id=IGOR_ID, capture_dms=False).fetch({})).latest(VIDEO_ID)
    assert video.content["media"] == [
        {"id": "1558552952549277696", "type": "video", "description": None}
    ]
    assert video.attachments[0].media_type == "video"
    assert "/vid/1280x720/" in video.attachments[0].url  # the highest bit rate
    assert video.content["text"] == "She's GOING with it! \U0001f40d https://t.co/uXqSAGWkWJ"


def test_photo_alt_text_is_the_media_description(x: FakeX, make_connector: Make) -> None:
    post = x.post("Our new branch", photos=[(png(), "The branch's front door")])
    item = collect(make_connector(capture_dms=False).fetch({})).latest(post)
    assert item.content["media"][0]["description"] == "The branch's front door"
    assert item.attachments[0].description == "The branch's front door"


def test_retweets_and_quotes(x: FakeX, make_connector: Make) -> None:
    quoted = x.post("Rates are changing", author=FRIEND_ID)
    quote = x.post("Worth reading", quote=quoted)
    retweet = x.retweet(quoted)
    run = collect(make_connector(capture_dms=False).fetch({}))
    assert run.latest(quote).content["quote_of"] == quoted
    boost = run.latest(retweet).content
    assert boost["boost_author"] == "KissItBett3r" and boost["text"].startswith("RT @KissItBett3r:")
    assert boost["mentions"] == [] and boost["media"] == []
    assert run.latest(retweet).raw["data"]["referenced_tweets"] == [
        {"type": "retweeted", "id": quoted}
    ]
    recorded = run.latest(RETWEET_ID).content
    assert recorded["boost_author"] == "boondaburrah" and recorded["thread_id"] == RETWEET_ID


def test_html_entities_in_text_are_unescaped(x: FakeX, make_connector: Make) -> None:
    run = collect(make_connector(capture_dms=False).fetch({}))
    assert run.latest("1607434750175715329").content["text"] == "@SEGA Sonic 3 & Knuckles"
    assert "&amp;" in run.latest("1607434750175715329").raw["data"]["text"]  # raw stays raw


def test_a_429_is_waited_out_until_x_rate_limit_reset(
    x: FakeX, make_connector: Make, fake_clock: FakeClock
) -> None:
    x.rate_limit(1, reset_in=90, path=TIMELINE)
    run = collect(make_connector(capture_dms=False).fetch({}))
    assert len(run.items) == TWEET_COUNT
    assert fake_clock.sleeps == [90.0]  # exactly until the epoch in x-rate-limit-reset
    assert len(x.server.requests_to(TIMELINE)) == 4
    assert "x-rate-limit-remaining" in run.items[0].capture.response_headers


def test_the_token_never_reaches_what_is_stored(x: FakeX, make_connector: Make) -> None:
    ours = x.post("hello")
    x.reply(ours, "hi")
    x.add_dm("a private question", photo=png())
    run = collect(make_connector().fetch({}))
    assert run.items
    for item in run.items:
        assert TOKEN not in as_stored(item)
    assert all(
        r.headers["authorization"] == f"Bearer {TOKEN}"
        for r in x.server.requests
        if r.path.startswith("/2/")
    )
    assert not any(
        "authorization" in r.headers for r in x.server.requests if r.path.startswith("/media/")
    )


def test_settings_default_to_x_s_api(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = XSettings(token_env="X_TOKEN")
    assert settings.base_url == "https://api.x.com"
    with pytest.raises(ValueError):
        XSettings(token_env="X_TOKEN", page_size=3)
    with pytest.raises(ValueError):
        XSettings(token_env="X_TOKEN", user_id="@darkliquid")
    assert XSettings(token_env="X_TOKEN", user_id=15942882).user_id == "15942882"  # --set JSON


def test_a_missing_token_is_fatal_before_any_request(
    x: FakeX, make_connector: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = make_connector()
    monkeypatch.delenv("ARCHIVER_TEST_X_TOKEN")
    with pytest.raises(FatalError, match="ARCHIVER_TEST_X_TOKEN"):
        collect(connector.fetch({}))
    assert x.server.requests == []
