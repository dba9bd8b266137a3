"""fetch() against the fake LinkedIn over real HTTP: the recorded post, paging, the
lastModifiedAt cursor, comments, media, required headers, rate limits and secrets."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from archiver.errors import FatalError
from connectors.base import CursorUpdate
from connectors.http import CredentialsError
from connectors.linkedin.normalise import parse_little_text
from tests.connectors.support import as_stored, collect
from tests.fakes import FakeClock
from tests.fakes.linkedin import FIRST_IMAGE, FIRST_POST, ORG, FakeLinkedIn

from .support import TOKEN, TOKEN_ENV


def test_the_recorded_post_normalises_with_its_image_resolved_to_a_download(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    run = collect(make_connector().fetch({}))

    [post] = run.of(FIRST_POST)
    assert post.kind == "post"
    assert post.content["text"] == "Don't forget the image."
    assert post.content["author"] == ORG
    assert post.content["created_at"] == "2023-03-24T13:16:03.610Z"
    assert post.content["last_modified_at"] == "2023-03-24T13:16:04.133Z"
    assert post.content["edited_at"] is None
    assert post.content["url"] == f"https://www.linkedin.com/feed/update/{FIRST_POST}/"
    assert post.content["media"] == [{"id": FIRST_IMAGE, "type": "image", "description": "Image"}]
    [attachment] = post.attachments
    assert attachment.url == linkedin.assets[FIRST_IMAGE]["downloadUrl"]  # signed: not content
    assert (attachment.media_type, attachment.description) == ("image", "Image")
    images = linkedin.server.requests_to("/rest/images/" + quote(FIRST_IMAGE, safe=""))
    assert len(images) == 1


def test_first_run_pages_with_start_and_count_and_checkpoints(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    posts = [linkedin.post(f"post {n}")["id"] for n in range(7)]

    run = collect(make_connector(capture_comments=False, page_size=3).fetch({}))

    assert sorted(run.ids("post")) == sorted([FIRST_POST, *posts])
    listing = linkedin.server.requests_to("/rest/posts")
    assert [(r.param("start"), r.param("count")) for r in listing] == [
        ("0", "3"),
        ("3", "3"),
        ("6", "3"),
    ]
    for request in listing:
        assert (request.param("q"), request.param("author")) == ("author", ORG)
        assert request.param("sortBy") == "LAST_MODIFIED"
    top = linkedin.posts[posts[6]]["lastModifiedAt"]
    assert [u.value for u in run.updates if u.stream == "posts_backfill"] == [
        f"{top}:3",
        f"{top}:6",
        f"{top}:8",
    ]
    assert run.cursor["posts"] == str(top)
    assert run.ids("post")[:3] == [posts[4], posts[5], posts[6]]  # oldest first per page


def test_later_runs_take_new_and_edited_posts_and_stop_at_the_cursor(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    old = [linkedin.post(f"post {n}")["id"] for n in range(6)]
    first = collect(make_connector(capture_comments=False).fetch({}))
    new = linkedin.post("fresh")["id"]
    linkedin.edit(old[1], "post 1, corrected")
    linkedin.server.requests.clear()

    second = collect(make_connector(capture_comments=False).fetch(first.cursor), first.cursor)

    assert second.ids() == [new, old[1]]  # oldest change first
    edited = second.of(old[1])[0]
    assert edited.content["text"] == "post 1, corrected"
    assert edited.content["edited_at"] == edited.content["last_modified_at"]
    assert second.cursor["posts"] == str(linkedin.posts[old[1]]["lastModifiedAt"])
    assert len(linkedin.server.requests_to("/rest/posts")) == 1  # stopped at the cursor
    assert collect(make_connector().fetch(second.cursor)).items == []


def test_a_failed_first_walk_resumes_from_its_checkpoint(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    posts = [linkedin.post(f"post {n}")["id"] for n in range(7)]
    partial = collect([])
    for produced in make_connector(capture_comments=False).fetch({}):
        partial.output.append(produced)
        if isinstance(produced, CursorUpdate):
            partial.cursor[produced.stream] = produced.value
            break
    linkedin.server.requests.clear()

    rest = collect(make_connector(capture_comments=False).fetch(partial.cursor), partial.cursor)

    assert sorted(partial.ids() + rest.ids()) == sorted([FIRST_POST, *posts])
    assert linkedin.server.requests_to("/rest/posts")[0].param("start") == "3"


def test_comments_and_replies_with_their_threads_and_images(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    post = linkedin.post("Tell us what you think")["id"]
    top = linkedin.comment(post, "Great news, {hashtag|\\#|launch}!")
    reply = linkedin.comment(top["commentUrn"], "Thanks!", actor=ORG)
    pictured = linkedin.comment(post, "look", image=b"\x89PNG comment image")

    run = collect(make_connector().fetch({}))

    by_id = {i.native_id: i for i in run.items}
    first = by_id[top["commentUrn"]]
    assert first.kind == "comment"
    assert (first.content["in_reply_to"], first.content["thread_id"]) == (post, post)
    assert first.content["text"] == "Great news, #launch!"
    assert first.content["hashtags"] == ["launch"]
    answer = by_id[reply["commentUrn"]]
    assert (answer.content["in_reply_to"], answer.content["thread_id"]) == (
        top["commentUrn"],
        post,
    )
    assert answer.content["author"] == ORG
    image = by_id[pictured["commentUrn"]]
    assert image.content["media"] == [
        {"id": f"urn:li:image:C{pictured['id']}", "type": "image", "description": None}
    ]
    assert [a.url for a in image.attachments] == [pictured["content"][0]["url"]]
    nested = linkedin.server.requests_to(
        f"/rest/socialActions/{quote(top['commentUrn'], safe='')}/comments"
    )
    assert len(nested) == 1


def test_every_request_carries_the_version_protocol_and_token_headers(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    linkedin.comment(FIRST_POST, "hello")
    collect(make_connector(api_version="202604").fetch({}))

    api = [r for r in linkedin.server.requests if r.path.startswith("/rest/")]
    assert {r.path.split("/")[2] for r in api} >= {"posts", "images", "socialActions"}
    for request in api:
        assert request.headers["linkedin-version"] == "202604"
        assert request.headers["x-restli-protocol-version"] == "2.0.0"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert make_connector().options.api_version == "202601"  # the default


def test_a_version_linkedin_no_longer_serves_is_a_fatal_settings_error(
    linkedin: FakeLinkedIn, make_connector
) -> None:
    with pytest.raises(FatalError, match="api_version"):
        collect(make_connector(api_version="202212").fetch({}))


def test_the_token_never_reaches_items_and_a_bad_one_is_fatal(
    linkedin: FakeLinkedIn, make_connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    linkedin.post("with a picture", image=b"img")
    linkedin.comment(FIRST_POST, "a comment")

    run = collect(make_connector().fetch({}))

    assert len(run.items) == 3
    for item in run.items:
        assert TOKEN not in as_stored(item)
        assert "authorization" not in {k.lower() for k in item.capture.response_headers}
    monkeypatch.setenv(TOKEN_ENV, "expired")
    with pytest.raises(CredentialsError):
        collect(make_connector().fetch({}))


def test_429s_are_waited_out_on_the_fake_clock(
    linkedin: FakeLinkedIn, make_connector, fake_clock: FakeClock
) -> None:
    linkedin.rate_limit(times=1, retry_after="30")
    linkedin.rate_limit(times=1)  # no headers at all: backoff

    run = collect(make_connector(capture_comments=False).fetch({}))

    assert run.ids() == [FIRST_POST]
    assert fake_clock.sleeps[:2] == [30.0, 2.0]  # Retry-After, then 2nd-attempt backoff


def test_little_text_mentions_hashtags_and_escapes() -> None:
    text, hashtags, mentions = parse_little_text(
        "Meet @[Acme \\(EU\\)](urn:li:organization:42) at {hashtag|\\#|Expo2026} \\*today\\*"
    )
    assert text == "Meet Acme (EU) at #Expo2026 *today*"
    assert hashtags == ["Expo2026"]
    assert mentions == ["urn:li:organization:42"]
