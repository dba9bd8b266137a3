"""Reconcile: archived posts looked up 100 at a time; gone ones become tombstones with
X's answer as evidence, edits come back as versions, late replies are found."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from archiver.errors import RetriableError
from connectors.base import ArchivedItem
from connectors.x import XConnector
from tests.connectors.support import archived_from, as_stored, collect
from tests.fakes import FakeClock
from tests.fakes.server import FakeServer, Reply
from tests.fakes.x import FakeX

from .support import TOKEN

Make = Callable[..., XConnector]
CAPTURED = datetime(2024, 1, 1, tzinfo=UTC)


def _archive_of(make_connector: Make) -> list[ArchivedItem]:
    return archived_from(collect(make_connector(capture_dms=False).fetch({})).items, CAPTURED)


def test_a_deleted_post_becomes_a_tombstone_with_x_s_answer_as_evidence(
    x: FakeX, make_connector: Make, fake_clock: FakeClock
) -> None:
    gone = x.post("Posted by mistake")
    kept = x.post("Still here")
    archived = _archive_of(make_connector)
    x.delete(gone)
    items = list(make_connector(capture_dms=False).reconcile(archived))
    tombstones = [i for i in items if i.deleted]
    assert [t.native_id for t in tombstones] == [gone]
    evidence = tombstones[0].content
    assert set(evidence) == {"status", "body", "observed_at", "request_url"}
    assert evidence["status"] == 200  # X answers a lookup of a gone post inside a 200
    problem = json.loads(evidence["body"])["errors"][0]
    assert problem["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert problem["resource_id"] == gone
    assert evidence["observed_at"] == fake_clock.now().isoformat().replace("+00:00", "Z")
    assert evidence["request_url"].startswith(x.server.url + "/2/tweets?ids=")
    assert tombstones[0].kind == "post"
    assert any(i.native_id == kept and not i.deleted for i in items)
    assert all(TOKEN not in as_stored(i) for i in items)
    lookups = x.server.requests_to("/2/tweets")
    assert len(lookups) == 1 and len(lookups[0].param("ids").split(",")) == len(archived)


def test_an_http_404_is_deletion_evidence_too(x: FakeX, make_connector: Make) -> None:
    gone = x.post("Posted by mistake")
    archived = [a for a in _archive_of(make_connector) if a.native_id == gone]
    x.delete(gone)
    x.not_found_status = 404
    (tombstone,) = make_connector(capture_dms=False).reconcile(archived)
    assert tombstone.deleted and tombstone.content["status"] == 404
    assert "Could not find tweet" in tombstone.content["body"]


def test_a_post_we_may_no_longer_see_is_not_called_deleted(x: FakeX, make_connector: Make) -> None:
    hidden = x.post("Account went private")
    archived = [a for a in _archive_of(make_connector) if a.native_id == hidden]
    x.protect(hidden)
    assert list(make_connector(capture_dms=False).reconcile(archived)) == []


def test_a_deleted_parent_does_not_take_its_replies_with_it(x: FakeX, make_connector: Make) -> None:
    parent = x.post("Thread start")
    child = x.reply(parent, "and a follow-up", author="15942882")
    archived = _archive_of(make_connector)
    x.delete(parent)
    items = list(make_connector(capture_dms=False).reconcile(archived))
    assert [i.native_id for i in items if i.deleted] == [parent]
    assert any(i.native_id == child and not i.deleted for i in items)


def test_reconcile_sees_edits_as_versions(x: FakeX, make_connector: Make) -> None:
    post = x.post("Opening at 9")
    archived = [a for a in _archive_of(make_connector) if a.native_id == post]
    x.edit(post, "Opening at 10")
    items = list(make_connector(capture_dms=False).reconcile(archived))
    assert [(i.native_id, i.historical, i.content["text"]) for i in items] == [
        (post, True, "Opening at 9"),
        (post, False, "Opening at 10"),
    ]
    assert items[0].content == archived[0].content


def test_replies_that_arrive_later_are_found_in_reconcile(x: FakeX, make_connector: Make) -> None:
    post = x.post("Any questions?")
    archived = [a for a in _archive_of(make_connector) if a.native_id == post]
    late = x.reply(post, "Yes: when do you open?")
    items = list(make_connector(capture_dms=False).reconcile(archived))
    assert [i.native_id for i in items if i.kind == "reply"] == [late]


def test_lookups_go_a_hundred_ids_at_a_time_and_dms_are_not_looked_up(
    x: FakeX, make_connector: Make
) -> None:
    posts = [x.post(f"notice {n}") for n in range(120)]
    x.add_dm("a question")
    archived = archived_from(collect(make_connector(page_size=100).fetch({})).items, CAPTURED)
    x.server.requests.clear()
    items = list(make_connector(capture_replies=False).reconcile(archived))
    assert [len(r.param("ids").split(",")) for r in x.server.requests_to("/2/tweets")] == [
        100,
        len(archived) - 101,
    ]
    assert not x.server.requests_to("/2/dm_events")
    assert {i.native_id for i in items} >= set(posts)


def test_one_run_does_not_ask_twice_for_what_its_fetch_just_read(
    x: FakeX, make_connector: Make
) -> None:
    older = x.post("Yesterday's news")
    post = x.post("Fresh news")
    x.reply(post, "first!")
    archived = _archive_of(make_connector)
    connector = make_connector(capture_dms=False)
    x.server.requests.clear()
    fetched = collect(connector.fetch({"tweets": older}))
    assert fetched.ids() == [post, fetched.ids("reply")[0]]
    list(connector.reconcile(archived))
    (lookup,) = x.server.requests_to("/2/tweets")
    assert post not in lookup.param("ids").split(",") and older in lookup.param("ids")
    queries = [r.param("query") for r in x.server.requests_to("/2/tweets/search/recent")]
    assert queries == [f"conversation_id:{post}", f"conversation_id:{older}"]


def test_a_404_that_is_not_x_talking_is_no_evidence(
    x: FakeX, make_connector: Make, fake_server: FakeServer
) -> None:
    post = x.post("Still here")
    archived = [a for a in _archive_of(make_connector) if a.native_id == post]
    fake_server.add(
        "GET", "/2/tweets", Reply(404, {"Content-Type": "text/html"}, b"<h1>nginx</h1>")
    )
    with pytest.raises(RetriableError, match="not X's"):
        list(make_connector(capture_dms=False).reconcile(archived))
