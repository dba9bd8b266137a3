"""reconcile(): post lookups (404 -> tombstone with the answer as evidence), comment
threads re-read (late comments, edits, deletions confirmed by a 404)."""

from __future__ import annotations

import json
from urllib.parse import quote

from tests.connectors.support import archived_from, collect
from tests.fakes import FakeClock
from tests.fakes.linkedin import ERRORS, FIRST_POST, FakeLinkedIn


def test_a_deleted_post_and_its_comments_become_tombstones_with_the_404(
    linkedin: FakeLinkedIn, make_connector, fake_clock: FakeClock
) -> None:
    post = linkedin.post("short-lived")["id"]
    comment = linkedin.comment(post, "first!")["commentUrn"]
    archived = archived_from(collect(make_connector().fetch({})).items, fake_clock.now())
    linkedin.delete(post)

    results = {r.native_id: r for r in make_connector().reconcile(archived)}

    tombstone = results[post]
    assert tombstone.deleted and tombstone.kind == "post"
    assert tombstone.content == {
        "status": 404,
        "body": json.dumps(ERRORS["404"]),
        "observed_at": "2024-01-01T00:00:00Z",
        "request_url": f"{linkedin.server.url}/rest/posts/{quote(post, safe='')}",
    }
    assert tombstone.raw == ERRORS["404"]
    assert results[comment].deleted and results[comment].kind == "comment"
    assert not results[FIRST_POST].deleted


def test_unchanged_posts_cost_no_media_lookups_and_edits_are_new_content(
    linkedin: FakeLinkedIn, make_connector, fake_clock: FakeClock
) -> None:
    pictured = linkedin.post("with a picture", image=b"png bytes")["id"]
    archived = archived_from(collect(make_connector().fetch({})).items, fake_clock.now())
    linkedin.edit(pictured, "with a picture, described")
    linkedin.server.requests.clear()

    results = {r.native_id: r for r in make_connector().reconcile(archived)}

    unchanged = results[FIRST_POST]
    assert unchanged.content == next(a.content for a in archived if a.native_id == FIRST_POST)
    assert unchanged.attachments == ()
    edited = results[pictured]
    assert edited.content["text"] == "with a picture, described"
    assert edited.content["edited_at"] is not None
    assert len(edited.attachments) == 1  # the changed post's media is fetched again
    images = [r for r in linkedin.server.requests if r.path.startswith("/rest/images/")]
    assert len(images) == 1


def test_comment_threads_bring_late_comments_edits_and_confirmed_deletions(
    linkedin: FakeLinkedIn, make_connector, fake_clock: FakeClock
) -> None:
    post = linkedin.post("discuss")["id"]
    kept = linkedin.comment(post, "I stay")["commentUrn"]
    edited = linkedin.comment(post, "I change")["commentUrn"]
    doomed = linkedin.comment(post, "I go")
    archived = archived_from(collect(make_connector().fetch({})).items, fake_clock.now())
    linkedin.edit_comment(edited, "I changed")
    linkedin.delete_comment(doomed["commentUrn"])
    late = linkedin.comment(post, "sorry I'm late")["commentUrn"]

    results = {r.native_id: r for r in make_connector().reconcile(archived)}

    assert results[kept].content == next(a.content for a in archived if a.native_id == kept)
    assert results[edited].content["text"] == "I changed"
    assert results[edited].content["edited_at"] is not None
    assert not results[late].deleted and results[late].content["thread_id"] == post
    gone = results[doomed["commentUrn"]]
    assert gone.deleted and gone.content["status"] == 404
    assert gone.content["request_url"] == (
        f"{linkedin.server.url}/rest/socialActions/{quote(post, safe='')}/comments/{doomed['id']}"
    )
