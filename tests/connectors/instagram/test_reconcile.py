"""reconcile() on Instagram: caption edits as new content, tombstones from error 100,
and Stories that expire without being called deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from archiver.errors import FatalError, RetriableError
from tests.connectors.facebook.support import TOKEN
from tests.connectors.support import archived_from, as_stored
from tests.fakes import FakeClock
from tests.fakes.meta_graph import IG_COMMENTED_MEDIA, FakeGraph

COMMENT_ID = "17858154961981086"


def _archived(run, fake_clock: FakeClock, **options):
    return archived_from(run(**options).items, fake_clock.now())


def test_nothing_changed_means_equal_content_even_with_new_cdn_signatures(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock)
    graph.rotate_cdn()
    for media in graph.ig_media_list():
        media["like_count"] = media.get("like_count", 0) + 5

    results = list(make_connector().reconcile(archived))

    by_id = {a.native_id: a for a in archived}
    assert {r.native_id for r in results} == set(by_id)
    for item in results:
        assert item.content == by_id[item.native_id].content, item.native_id
        assert item.kind == by_id[item.native_id].kind


def test_a_caption_edit_is_new_content(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock, capture_comments=False)
    graph.edit_caption(graph.carousel["id"], "Two views, actually #harbour #sea")

    [current] = [
        r for r in make_connector().reconcile(archived) if r.native_id == graph.carousel["id"]
    ]

    assert current.content["text"] == "Two views, actually #harbour #sea"
    assert current.content["hashtags"] == ["harbour", "sea"]


def test_hidden_and_deleted_comments(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock)
    graph.hide_ig_comment(COMMENT_ID)
    reply_id = graph.ig_replies[COMMENT_ID][0]
    graph.delete(reply_id)

    results = {r.native_id: r for r in make_connector().reconcile(archived)}

    assert results[COMMENT_ID].content["hidden"] is True
    tombstone = results[reply_id]
    assert tombstone.deleted and tombstone.kind == "reply"
    assert (tombstone.content["error_code"], tombstone.content["error_subcode"]) == (100, 33)


def test_deleted_media_and_its_comments_become_tombstones(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock)
    graph.delete(IG_COMMENTED_MEDIA)

    results = list(make_connector().reconcile(archived))

    gone = {r.native_id: r for r in results if r.deleted}
    expected = {
        a.native_id
        for a in archived
        if a.native_id == IG_COMMENTED_MEDIA or a.content.get("thread_id") == IG_COMMENTED_MEDIA
    }
    assert set(gone) == expected
    media = gone[IG_COMMENTED_MEDIA]
    assert media.kind == "post" and media.content["status"] == 400
    assert "does not exist" in media.content["message"]
    for item in results:
        assert TOKEN not in as_stored(item)


def test_a_story_removed_while_live_is_a_tombstone(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock, capture_comments=False)
    graph.delete(graph.story["id"])

    [tombstone] = [r for r in make_connector().reconcile(archived) if r.deleted]

    assert tombstone.native_id == graph.story["id"] and tombstone.kind == "story"


def test_an_expired_story_is_not_called_deleted(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock, capture_comments=False)
    fake_clock.current += timedelta(hours=25)
    graph.expire_story(graph.story["id"])
    graph.server.requests.clear()

    results = list(make_connector().reconcile(archived))

    assert not any(r.deleted for r in results)
    assert graph.story["id"] not in {r.native_id for r in results}
    assert not graph.requests_to(f"/{graph.story['id']}")


def test_losing_the_account_marks_nothing_deleted(
    graph: FakeGraph, run, make_connector, fake_clock: FakeClock
) -> None:
    archived = _archived(run, fake_clock, capture_comments=False)
    graph.revoke_page_access()
    with pytest.raises(FatalError):
        list(make_connector().reconcile(archived))


def test_usage_headers_pace_instagram_too(graph: FakeGraph, run, fake_clock: FakeClock) -> None:
    graph.set_usage(95)
    with pytest.raises(RetriableError) as caught:
        run()
    assert caught.value.retry_after == pytest.approx(720.0)
