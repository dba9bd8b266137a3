"""fetch() against the fake Reddit over real HTTP: paging both ways, cursors, kinds,
content, media, headers, rate limits and secrets."""

from __future__ import annotations

import pytest

from archiver.errors import FatalError
from archiver.item import CapturedItem
from connectors.base import CursorUpdate
from connectors.http import CredentialsError
from tests.connectors.support import as_stored, collect
from tests.fakes import FakeClock
from tests.fakes.reddit import USERNAME, FakeReddit

from .support import TOKEN, TOKEN_ENV, floats_in

SUBMITTED = f"/user/{USERNAME}/submitted"
COMMENTS = f"/user/{USERNAME}/comments"


def populate(reddit: FakeReddit, posts: int = 7, comments: int = 5) -> tuple[list[str], list[str]]:
    """Submissions and comments (on the first submission), oldest first."""
    post_names = [reddit.submit(f"post {n}", f"body {n}")["name"] for n in range(posts)]
    comment_names = [reddit.comment(post_names[0], f"comment {n}")["name"] for n in range(comments)]
    return post_names, comment_names


def test_first_run_walks_each_listing_down_and_checkpoints_after_each_page(
    reddit: FakeReddit, make_connector
) -> None:
    posts, comments = populate(reddit)

    run = collect(make_connector(page_limit=3).fetch({}))

    assert sorted(run.ids("post")) == sorted(posts)
    assert sorted(run.ids("comment")) == sorted(comments)
    listing = reddit.server.requests_to(SUBMITTED)
    assert [r.param("after") for r in listing] == [None, posts[4], posts[1]]
    for request in listing:
        assert (request.param("limit"), request.param("raw_json"), request.param("sort")) == (
            "3",
            "1",
            "new",
        )
    walk = [u.value for u in run.updates if u.stream == "submitted_walk"]
    assert walk == [f"{posts[6]}|{posts[4]}|", f"{posts[6]}|{posts[1]}|", ""]
    assert run.cursor["submitted"] == posts[6]
    assert run.cursor["comments"] == comments[4]
    # each page's items come before the checkpoint that covers them, oldest first
    first_checkpoint = run.output.index(CursorUpdate("submitted_walk", walk[0]))
    assert [i.native_id for i in run.output[:first_checkpoint]] == posts[4:]


def test_incremental_runs_walk_up_with_before_oldest_page_first(
    reddit: FakeReddit, make_connector
) -> None:
    populate(reddit, posts=2, comments=0)
    first = collect(make_connector().fetch({}))
    new = [reddit.submit(f"update {n}")["name"] for n in range(4)]
    reddit.server.requests.clear()

    second = collect(make_connector().fetch(first.cursor), first.cursor)

    assert second.ids() == new  # oldest first
    ups = reddit.server.requests_to(SUBMITTED)
    assert [r.param("before") for r in ups] == [first.cursor["submitted"], new[2]]
    assert [u for u in second.updates if u.stream == "submitted"] == [
        CursorUpdate("submitted", new[2]),
        CursorUpdate("submitted", new[3]),
    ]
    assert second.cursor["submitted"] == new[3]
    assert collect(make_connector().fetch(second.cursor)).items == []


def test_a_deleted_before_anchor_is_noticed_and_newer_things_caught_up(
    reddit: FakeReddit, make_connector
) -> None:
    posts, _ = populate(reddit, posts=3, comments=0)
    first = collect(make_connector().fetch({}))
    reddit.delete(posts[2])  # the anchor: Reddit now answers before=it with nothing

    quiet = collect(make_connector().fetch(first.cursor), first.cursor)
    assert quiet.items == []
    assert quiet.cursor["submitted"] == posts[2]  # kept: nothing newer exists yet

    new = [reddit.submit(f"after the deletion {n}")["name"] for n in range(4)]
    caught = collect(make_connector().fetch(quiet.cursor), quiet.cursor)

    assert sorted(caught.ids()) == sorted(new)
    assert caught.cursor["submitted"] == new[3]
    assert caught.cursor["submitted_walk"] == ""
    again = collect(make_connector().fetch(caught.cursor), caught.cursor)
    assert again.items == []


def test_an_interrupted_first_walk_resumes_from_its_checkpoint(
    reddit: FakeReddit, make_connector
) -> None:
    posts, _ = populate(reddit, posts=8, comments=0)
    partial = collect([])
    for produced in make_connector(capture_comments=False).fetch({}):
        partial.output.append(produced)
        if isinstance(produced, CursorUpdate):
            partial.cursor[produced.stream] = produced.value
            if produced.stream == "submitted_walk":
                break  # the run died after its first page was archived
    assert "submitted" not in partial.cursor

    rest = collect(make_connector(capture_comments=False).fetch(partial.cursor), partial.cursor)

    assert sorted(partial.ids() + rest.ids()) == sorted(posts)
    assert rest.cursor["submitted"] == posts[7]
    assert reddit.server.requests_to(SUBMITTED)[1].param("after") == posts[5]


def test_kinds_threads_and_content_hold_no_floats(reddit: FakeReddit, make_connector) -> None:
    post = reddit.submit("a title", "some *markdown*")
    reply = reddit.comment(post["name"], "top level")
    nested = reddit.comment(reply["name"], "nested")
    reddit.edit(nested["name"], "nested, edited")

    run = collect(make_connector().fetch({}))

    by_id = {i.native_id: i for i in run.items}
    submission = by_id[post["name"]]
    assert submission.kind == "post"
    assert submission.content["text"] == "some *markdown*"
    assert submission.content["title"] == "a title"
    assert submission.content["thread_id"] == post["name"]
    assert submission.content["url"] == f"https://www.reddit.com{post['permalink']}"
    assert submission.content["created_at"] == "2023-11-14T22:14:20Z"
    top, child = by_id[reply["name"]], by_id[nested["name"]]
    assert (top.kind, top.content["in_reply_to"], top.content["thread_id"]) == (
        "comment",
        post["name"],
        post["name"],
    )
    assert (child.content["in_reply_to"], child.content["thread_id"]) == (
        reply["name"],
        post["name"],
    )
    assert child.content["edited"] == int(nested["edited"])
    assert child.content["edited_at"].endswith("Z")
    assert "link_title" not in top.content and "link_title" in top.raw  # raw keeps it
    for item in run.items:
        assert floats_in(item.content) == []
    assert isinstance(top.raw["created_utc"], float)  # raw is kept as served


def test_moderator_removed_things_in_a_listing_are_tombstones_with_evidence(
    reddit: FakeReddit, make_connector
) -> None:
    post = reddit.submit("soon removed", "original words")
    reddit.remove(post["name"])

    run = collect(make_connector().fetch({}))

    [tombstone] = run.of(post["name"])
    assert tombstone.deleted and tombstone.kind == "post"
    assert tombstone.content["marker"] == "[removed]"
    assert tombstone.content["field"] == "selftext"
    assert tombstone.content["source"] == "listing"
    assert tombstone.content["request_url"].startswith(reddit.server.url + SUBMITTED)
    assert tombstone.raw["selftext"] == "[removed]"  # the listing item as served
    assert floats_in(tombstone.content) == []


def test_images_and_galleries_are_attachments_with_stable_urls_in_content(
    reddit: FakeReddit, make_connector
) -> None:
    image_post = reddit.submit("a picture")
    image_url = reddit.attach_image(image_post["name"], b"\x89PNG fake")
    gallery_post = reddit.submit("a gallery")
    signed = reddit.attach_gallery(gallery_post["name"], [b"one", b"two"])

    run = collect(make_connector().fetch({}))

    [image] = run.of(image_post["name"])
    assert [(a.url, a.media_type) for a in image.attachments] == [(image_url, "image")]
    assert image.content["media"] == [
        {"id": None, "type": "image", "url": image_url, "description": None}
    ]
    [gallery] = run.of(gallery_post["name"])
    assert [a.url for a in gallery.attachments] == signed
    assert [m["url"] for m in gallery.content["media"]] == [u.split("?")[0] for u in signed]
    assert [m["description"] for m in gallery.content["media"]] == ["picture 0", "picture 1"]


def test_requests_carry_a_reddit_style_user_agent_and_the_bearer_token(
    reddit: FakeReddit, make_connector
) -> None:
    populate(reddit, posts=1, comments=1)
    collect(make_connector(app_id="acme-archiver").fetch({}))

    for request in reddit.server.requests:
        agent = request.headers["user-agent"]
        assert agent.endswith(f"python:acme-archiver:1.0.0 (by /u/{USERNAME})")
        assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_the_token_never_reaches_items(reddit: FakeReddit, make_connector) -> None:
    post = reddit.submit("removed later", "text")
    reddit.remove(post["name"])
    populate(reddit, posts=2, comments=2)

    run = collect(make_connector().fetch({}))

    assert run.items
    for item in run.items:
        assert TOKEN not in as_stored(item)
        assert "authorization" not in {k.lower() for k in item.capture.response_headers}


def test_a_bad_token_is_fatal_and_a_missing_one_says_which_variable(
    reddit: FakeReddit, make_connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    with pytest.raises(CredentialsError):
        collect(make_connector().fetch({}))
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(FatalError, match=TOKEN_ENV):
        collect(make_connector().fetch({}))


def test_rate_limit_headers_pace_requests_on_the_fake_clock(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    populate(reddit, posts=7, comments=0)
    reddit.throttle(remaining=0, reset_in=120)  # the first answer spends the quota

    run = collect(make_connector(capture_comments=False).fetch({}))

    assert len(run.ids()) == 7
    assert fake_clock.sleeps[:1] == [120.0]
    assert sum(fake_clock.sleeps) < 130  # then a full quota: no more waiting


def test_a_429_waits_for_reddits_reset_and_carries_on(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    populate(reddit, posts=2, comments=0)
    reddit.rate_limit(times=1, reset_in=45)

    run = collect(make_connector(capture_comments=False).fetch({}))

    assert len(run.ids()) == 2
    assert 45.0 in fake_clock.sleeps
    assert all(isinstance(i, CapturedItem) for i in run.items)
