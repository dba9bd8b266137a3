"""reconcile(): tombstones from 404s, current states, edits and replies seen later."""

from __future__ import annotations

import json

from tests.connectors.support import archived_from, collect
from tests.fakes import FakeClock
from tests.fakes.mastodon import FakeMastodon, load_fixture

from .support import ORG_DM_ID, TOOT_IDS


def test_a_deleted_status_becomes_a_tombstone_with_the_404_as_evidence(
    mastodon: FakeMastodon, make_connector, fake_clock: FakeClock
) -> None:
    run = collect(make_connector().fetch({}))
    archived = archived_from(run.items, fake_clock.now())
    gone = TOOT_IDS[3]
    mastodon.delete_status(gone)

    results = list(make_connector().reconcile(archived))

    tombstones = [r for r in results if r.deleted]
    assert [t.native_id for t in tombstones] == [gone]
    tombstone = tombstones[0]
    assert tombstone.kind == "post"
    assert tombstone.content == {
        "status": 404,
        "body": json.dumps(load_fixture("status_missing/01-get-statuses-0.json")),
        "observed_at": "2024-01-01T00:00:00Z",
        "request_url": f"{mastodon.server.url}/api/v1/statuses/{gone}",
    }
    assert tombstone.raw == {"error": "Record not found"}
    assert tombstone.capture.request_url == tombstone.content["request_url"]


def test_statuses_that_still_exist_come_back_as_their_current_state_unchanged(
    mastodon: FakeMastodon, make_connector, fake_clock: FakeClock
) -> None:
    mastodon.add_dm("<p>hello org</p>")
    run = collect(make_connector().fetch({}))
    archived = archived_from(run.items, fake_clock.now())

    results = list(make_connector().reconcile(archived))

    assert sorted(r.native_id for r in results) == sorted(a.native_id for a in archived)
    by_id = {a.native_id: a for a in archived}
    for item in results:
        assert not item.deleted
        assert item.kind == by_id[item.native_id].kind
        assert item.content == by_id[item.native_id].content  # nothing edited: no new version
    dm = next(r for r in results if r.native_id == ORG_DM_ID)
    assert dm.content["conversation_id"] == "6"  # carried over: GET /statuses/:id lacks it
    assert str(dm.capture.request_url).endswith(f"/api/v1/statuses/{ORG_DM_ID}")


def test_an_edit_seen_by_reconcile_yields_only_the_versions_after_the_archived_one(
    mastodon: FakeMastodon, make_connector, fake_clock: FakeClock
) -> None:
    target = TOOT_IDS[5]
    run = collect(make_connector().fetch({}))
    mastodon.edit_status(target, content="<p>Toot number 5, corrected</p>")
    mastodon.edit_status(target, content="<p>Toot number 5, corrected again</p>")

    first = [
        r
        for r in make_connector().reconcile(archived_from(run.items, fake_clock.now()))
        if r.native_id == target
    ]

    assert [v.content["text"] for v in first] == [
        "Toot number 5, corrected",
        "Toot number 5, corrected again",
        "Toot number 5, corrected again",
    ]
    assert first[0].content["edited_at"] is not None

    mastodon.edit_status(target, content="<p>third time</p>")
    archived_now = archived_from(first, fake_clock.now())
    second = list(make_connector().reconcile(archived_now))

    assert [v.content["text"] for v in second] == ["third time", "third time"]


def test_replies_that_arrive_after_capture_are_found_by_reconcile(
    mastodon: FakeMastodon, make_connector, fake_clock: FakeClock
) -> None:
    run = collect(make_connector().fetch({}))
    late = mastodon.add_reply(TOOT_IDS[1], "<p>late to the party</p>")
    mastodon.add_reply(late["id"], "<p>not addressed to the org</p>")

    results = list(make_connector().reconcile(archived_from(run.items, fake_clock.now())))

    replies = [r for r in results if r.kind == "reply"]
    assert [r.native_id for r in replies] == [late["id"]]
    assert replies[0].content["thread_id"] == TOOT_IDS[1]
