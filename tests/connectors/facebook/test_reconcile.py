"""reconcile(): edits by updated_time as new content, counters and re-signed CDN URLs
as no change, hidden comments, tombstones with Graph's evidence, and no tombstones at
all when the token has lost the Page."""

from __future__ import annotations

import json

import pytest

from archiver.errors import FatalError
from tests.connectors.support import archived_from
from tests.fakes import FakeClock
from tests.fakes.meta_graph import COMMENTED_POST, FakeGraph, gone_body
from tests.fakes.server import Reply

REPLY_ID = "10158407654328553_10158409984053553"
COMMENT_ID = "10158407654328553_10158407903973553"


def _first(run, make_connector, fake_clock: FakeClock, **options):
    result = run(**options)
    return result, archived_from(result.items, fake_clock.now())


def test_unchanged_items_come_back_equal_despite_counters_and_activity(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock)
    for post in graph.page_posts():
        graph.react(post["id"], 7)  # like counts and shares move
        graph.touch_post(post["id"])  # updated_time moves (someone commented)
    graph.rotate_cdn()  # every image URL is signed afresh

    results = list(make_connector().reconcile(archived))

    by_id = {a.native_id: a for a in archived if a.kind != "dm"}
    assert {r.native_id for r in results} == set(by_id)
    for item in results:
        assert not item.deleted
        assert item.content == by_id[item.native_id].content, item.native_id


def test_an_edit_moves_updated_time_and_changes_the_content(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock, capture_comments=False)
    target = graph.page_posts()[1]["id"]
    before = graph.objects[target]["updated_time"]
    graph.edit_post(target, "Corrected: Ninja Van serves all of Southeast Asia.")

    [current] = [r for r in make_connector().reconcile(archived) if r.native_id == target]

    assert graph.objects[target]["updated_time"] != before
    assert current.content["text"] == "Corrected: Ninja Van serves all of Southeast Asia."
    assert current.raw["updated_time"] == graph.objects[target]["updated_time"]
    old = next(a for a in archived if a.native_id == target)
    changed = {k for k in current.content if current.content[k] != old.content[k]}
    assert "text" in changed and changed <= {"text", "urls", "hashtags"}


def test_hiding_a_comment_and_late_comments_show_up_in_reconcile(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock)
    graph.hide_comment(COMMENT_ID)
    late = graph.add_comment(COMMENTED_POST, "A late question", parent=COMMENT_ID)

    results = {r.native_id: r for r in make_connector().reconcile(archived)}

    assert results[COMMENT_ID].content["hidden"] is True
    assert results[late["id"]].kind == "reply"
    assert results[late["id"]].content["in_reply_to"] == COMMENT_ID
    # comments listed with their post are not looked up one by one
    assert not graph.requests_to(f"/v19.0/{COMMENT_ID}")


def test_a_deleted_post_is_a_tombstone_carrying_graphs_answer(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock)
    graph.delete(COMMENTED_POST)  # its comments go with it

    results = list(make_connector().reconcile(archived))

    tombstones = {r.native_id: r for r in results if r.deleted}
    comment_ids = {
        a.native_id
        for a in archived
        if a.content.get("thread_id") == COMMENTED_POST and a.kind != "post"
    }
    assert set(tombstones) == {COMMENTED_POST} | comment_ids
    post = tombstones[COMMENTED_POST]
    assert post.kind == "post"
    assert post.content == {
        "status": 400,
        "error_code": 100,
        "error_subcode": 33,
        "error_type": "GraphMethodException",
        "message": gone_body(COMMENTED_POST)["error"]["message"],
        "body": json.dumps(gone_body(COMMENTED_POST), ensure_ascii=False),
        "request_url": post.capture.request_url,
        "observed_at": "2024-01-01T00:00:00Z",
    }
    assert post.raw == gone_body(COMMENTED_POST)
    assert f"/v19.0/{COMMENTED_POST}?fields=" in post.content["request_url"]
    assert tombstones[REPLY_ID].kind == "reply"


def test_a_404_is_deletion_evidence_too(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock, capture_comments=False)
    target = graph.page_posts()[2]["id"]
    graph.fail(f"/v19.0/{target}", Reply.json({"error": "not found"}, 404))

    [tombstone] = [r for r in make_connector().reconcile(archived) if r.deleted]

    assert tombstone.native_id == target
    assert tombstone.content["status"] == 404 and tombstone.content["error_code"] is None


def test_other_graph_errors_are_not_deletions(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    """Code 100 without subcode 33 is a bad request (a field, a parameter), not evidence."""
    from archiver.errors import SkippableError

    _, archived = _first(run, make_connector, fake_clock, capture_comments=False)
    target = graph.page_posts()[0]["id"]
    bad = {
        "error": {"message": "(#100) Unknown fields: nope", "type": "OAuthException", "code": 100}
    }
    graph.fail(f"/v19.0/{target}", Reply.json(bad, 400))

    with pytest.raises(SkippableError, match="Unknown fields"):
        list(make_connector().reconcile(archived))


def test_losing_the_page_marks_nothing_deleted(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock)
    graph.revoke_page_access()

    with pytest.raises(FatalError, match="lost access"):
        list(make_connector().reconcile(archived))


def test_dms_are_not_looked_up(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    _, archived = _first(run, make_connector, fake_clock, capture_comments=False)
    dms = [a for a in archived if a.kind == "dm"]
    assert dms
    graph.server.requests.clear()

    assert list(make_connector().reconcile(dms)) == []
    assert graph.server.requests == []
