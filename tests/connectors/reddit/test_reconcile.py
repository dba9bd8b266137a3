"""reconcile(): /api/info in batches of 100, edits as new content, tombstones for
[deleted], [removed] and things the answer leaves out."""

from __future__ import annotations

from tests.connectors.support import archived_from, collect
from tests.fakes import FakeClock
from tests.fakes.reddit import FakeReddit

from .support import floats_in


def test_unchanged_things_come_back_with_the_content_of_their_first_capture(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    post = reddit.submit("stable", "nothing changes")
    reddit.comment(post["name"], "me neither")
    archived = archived_from(collect(make_connector().fetch({})).items, fake_clock.now())

    results = list(make_connector().reconcile(archived))

    assert sorted(r.native_id for r in results) == sorted(a.native_id for a in archived)
    by_id = {a.native_id: a for a in archived}
    for item in results:
        assert not item.deleted
        assert item.content == by_id[item.native_id].content  # listing == /api/info
    [info] = reddit.server.requests_to("/api/info")
    assert sorted(info.param("id").split(",")) == sorted(by_id)
    assert info.param("raw_json") == "1"


def test_an_edit_is_the_current_text_with_edited_as_whole_seconds(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    post = reddit.submit("typo", "teh text")
    archived = archived_from(collect(make_connector().fetch({})).items, fake_clock.now())
    edited = reddit.edit(post["name"], "the text")

    [current] = list(make_connector().reconcile(archived))

    assert current.content["text"] == "the text"
    assert current.content["edited"] == int(edited["edited"])
    assert archived[0].content["edited"] is None
    assert floats_in(current.content) == []


def test_deleted_removed_and_vanished_things_are_tombstones_with_their_evidence(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    post = reddit.submit("thread", "root")
    deleted = reddit.comment(post["name"], "regretted")
    removed = reddit.comment(post["name"], "rule-breaking")
    vanished = reddit.submit("in a sub that was banned")
    archived = archived_from(collect(make_connector().fetch({})).items, fake_clock.now())
    reddit.delete(deleted["name"])
    reddit.remove(removed["name"])
    reddit.purge(vanished["name"])

    results = {r.native_id: r for r in make_connector().reconcile(archived)}

    assert not results[post["name"]].deleted
    by_author = results[deleted["name"]]
    assert by_author.deleted and by_author.kind == "comment"
    assert (by_author.content["marker"], by_author.content["field"]) == ("[deleted]", "body")
    assert by_author.content["author"] == "[deleted]"
    assert by_author.content["source"] == "info"
    assert by_author.raw["body"] == "[deleted]"  # the thing as /api/info served it
    assert results[removed["name"]].content["marker"] == "[removed]"
    gone = results[vanished["name"]]
    assert gone.deleted and gone.kind == "post"
    assert gone.content["marker"] == "missing"
    assert gone.content["request_url"].startswith(reddit.server.url + "/api/info")
    assert vanished["name"] not in gone.raw["returned"]
    assert gone.content["observed_at"] == "2024-01-01T00:00:00Z"


def test_archived_things_are_looked_up_a_hundred_at_a_time(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    for n in range(150):
        reddit.submit(f"post {n}")
    archived = archived_from(
        collect(make_connector(page_limit=100, capture_comments=False).fetch({})).items,
        fake_clock.now(),
    )
    assert len(archived) == 150

    results = list(make_connector().reconcile(archived))

    assert len(results) == 150 and not any(r.deleted for r in results)
    batches = [len(r.param("id").split(",")) for r in reddit.server.requests_to("/api/info")]
    assert batches == [100, 50]
