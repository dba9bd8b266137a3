"""reconcile(): deletions become tombstones with evidence, survivors their current state."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from connectors.base import ArchivedItem
from connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.conftest import archived, run_fetch
from tests.fakes import FakeClock
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.server import FakeServer

EVIDENCE_KEYS = {"status", "body", "observed_at", "request_url"}


@pytest.mark.parametrize(
    ("report", "status", "reason"),
    [
        ("RecordNotFound", 400, "RecordNotFound"),
        ("NotFound", 400, "NotFound"),
        ("notFoundPost", 200, "notFoundPost"),
    ],
)
def test_a_deleted_post_becomes_a_tombstone_with_evidence(
    sky: FakeBluesky,
    connector: BlueskyConnector,
    fake_clock: FakeClock,
    report: str,
    status: int,
    reason: str,
) -> None:
    gone = sky.add_post("regrettable")
    kept = sky.add_post("fine")
    stored = archived(run_fetch(connector).items)
    sky.delete_post(gone, report=report)

    results = {i.native_id: i for i in connector.reconcile(stored)}

    tombstone = results[gone]
    assert tombstone.deleted is True
    assert tombstone.kind == "post"
    assert EVIDENCE_KEYS <= set(tombstone.content)
    assert tombstone.content["status"] == status
    assert tombstone.content["reason"] == reason
    assert tombstone.content["observed_at"] == "2024-01-01T00:00:00Z"  # the fake clock
    assert "/xrpc/app.bsky.feed.getPostThread?" in tombstone.content["request_url"]
    body = json.loads(tombstone.content["body"])
    if status == 400:
        assert body == {"error": report, "message": f"Post not found: {gone}"}
    else:
        assert body["thread"] == {
            "$type": "app.bsky.feed.defs#notFoundPost",
            "uri": gone,
            "notFound": True,
        }
    assert tombstone.attachments == ()
    confirmed = tombstone.content["confirmed_by"]  # the PDS agrees the record is gone
    assert confirmed["status"] == 400 and confirmed["reason"] == "RecordNotFound"
    assert "/xrpc/com.atproto.repo.getRecord?" in confirmed["request_url"]
    assert results[kept].deleted is False


def test_a_surviving_post_is_its_current_state_and_unchanged_content(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    uri = sky.add_post("stable", images=[(b"\xff\xd8 jpeg bytes", "a photo")])
    reply = sky.add_reply(uri, "a reply")
    fetched = run_fetch(connector).by_id()
    sky.like(uri, 42)  # counters are raw, not content

    results = {i.native_id: i for i in connector.reconcile(archived(fetched.values()))}

    assert results[uri].deleted is False
    assert results[uri].content == fetched[uri].content  # no spurious "edited"
    assert results[uri].raw["likeCount"] == 42
    assert results[reply].kind == "reply"
    assert results[reply].content == fetched[reply].content
    [get_posts] = fake_server.requests_to("/xrpc/app.bsky.feed.getPosts")
    assert sorted(get_posts.query["uris"]) == sorted([uri, reply])


def test_a_changed_cid_is_changed_normalised_content(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    uri = sky.add_post("first words")
    before = run_fetch(connector).by_id()[uri]
    new_cid = sky.edit_post(uri, text="second thoughts")

    [after] = connector.reconcile(archived([before]))

    assert after.native_id == uri
    assert after.deleted is False
    assert after.content != before.content
    assert after.content["cid"] == new_cid != before.content["cid"]
    assert after.content["text"] == "second thoughts"
    changed = {k for k in after.content if after.content[k] != before.content[k]}
    assert changed == {"cid", "text"}


def test_a_cid_change_alone_still_changes_content(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    uri = sky.add_post("same text")
    before = run_fetch(connector).by_id()[uri]
    sky.edit_post(uri, text="same text", reformatted=True)  # a field we do not normalise
    [after] = connector.reconcile(archived([before]))
    assert after.content != before.content
    assert after.content["text"] == before.content["text"]


def test_a_post_the_appview_lost_but_the_repo_keeps_is_not_deleted(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    unchanged = sky.add_post("taken down, still in the repo")
    edited = sky.add_post("will be rewritten")
    fetched = run_fetch(connector).by_id()
    for uri in (unchanged, edited):
        sky.hide_from_appview(uri)  # getPosts omits them, getPostThread says NotFound
    sky.edit_post(edited, text="rewritten")

    results = {i.native_id: i for i in connector.reconcile(archived(fetched.values()))}

    assert unchanged not in results  # same cid in the repo: nothing changed
    assert results[edited].deleted is False
    assert results[edited].content["text"] == "rewritten"
    assert set(results[edited].raw) == {"uri", "cid", "value"}  # the getRecord answer
    assert len(fake_server.requests_to("/xrpc/com.atproto.repo.getRecord")) == 2


def test_a_foreign_post_is_judged_by_the_appview_alone(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    foreign = sky.add_post("not ours", author="friend.test")
    sky.delete_post(foreign, report="notFoundPost")
    item = ArchivedItem(foreign, "post", {"cid": "x"}, datetime(2025, 3, 2, tzinfo=UTC))
    [tombstone] = connector.reconcile([item])
    assert tombstone.deleted and "confirmed_by" not in tombstone.content
    assert fake_server.requests_to("/xrpc/com.atproto.repo.getRecord") == []


def test_an_undone_repost_becomes_a_tombstone(
    sky: FakeBluesky, connector: BlueskyConnector, fake_server: FakeServer
) -> None:
    other = sky.add_post("worth sharing", author="friend.test")
    kept = sky.repost(other)
    undone = sky.repost(sky.add_post("also", author="friend.test"))
    stored = archived(run_fetch(connector).items)
    sky.unrepost(undone)

    results = list(connector.reconcile(stored))

    assert [r.native_id for r in results] == [undone]
    [tombstone] = results
    assert tombstone.deleted and tombstone.kind == "post"
    assert tombstone.content["status"] == 400
    assert tombstone.content["reason"] == "RecordNotFound"
    assert "/xrpc/com.atproto.repo.getRecord?" in tombstone.content["request_url"]
    assert len(fake_server.requests_to("/xrpc/com.atproto.repo.getRecord")) == 2
    assert kept != undone


def test_get_posts_is_asked_25_uris_at_a_time(
    sky: FakeBluesky, make_connector: Callable[..., BlueskyConnector], fake_server: FakeServer
) -> None:
    uris = [sky.add_post(f"post {n}") for n in range(30)]
    connector = make_connector(page_limit=100, chat_enabled=False)
    stored = archived(run_fetch(connector).items)
    results = list(connector.reconcile(stored))
    assert sorted(r.native_id for r in results) == sorted(uris)
    assert [
        len(r.query["uris"]) for r in fake_server.requests_to("/xrpc/app.bsky.feed.getPosts")
    ] == [
        25,
        5,
    ]
