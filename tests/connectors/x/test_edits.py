"""Edits: every version of an edit chain is one item (named by the chain's first id),
earlier versions as history, oldest first, then the latest."""

from __future__ import annotations

from collections.abc import Callable

from connectors.x import XConnector
from connectors.x.normalise import edit_controls
from tests.connectors.support import collect
from tests.fakes.x import EDIT_CHAIN, WONG_ID, FakeX

Make = Callable[..., XConnector]


def test_the_recorded_edit_chain_is_one_item_with_two_versions(
    x: FakeX, make_connector: Make
) -> None:
    run = collect(make_connector(user_id=WONG_ID, capture_dms=False).fetch({}))
    assert {i.native_id for i in run.items} == {EDIT_CHAIN[0]}
    original, latest = run.items
    assert (original.historical, latest.historical) == (True, False)
    assert original.raw["data"]["id"] == EDIT_CHAIN[0] and latest.raw["data"]["id"] == EDIT_CHAIN[1]
    assert original.content["text"].startswith("i miss y\u2019all so much haha")
    assert latest.content["text"] == "hey :) https://t.co/rnwEIoNuqd"
    assert original.content["created_at"] == latest.content["created_at"] == "2022-10-03T17:57:01Z"
    assert original.content["edited_at"] is None
    assert latest.content["edited_at"] == "2022-10-03T17:57:11Z"
    assert (original.content["lang"], latest.content["lang"]) == ("en", "qst")
    assert latest.content["url"] == f"https://x.com/wongmjane/status/{EDIT_CHAIN[0]}"
    # The original's photo was not expanded in the listing; it is looked up once more.
    assert original.content["media"] == [
        {"id": "1576994475507077121", "type": "photo", "description": None}
    ]
    assert original.attachments and not latest.attachments
    assert latest.content["thread_id"] == EDIT_CHAIN[0]  # not the edit's own conversation id


def test_an_edit_after_capture_adds_the_new_version_to_the_same_item(
    x: FakeX, make_connector: Make
) -> None:
    post = x.post("Rate is 4.1%")
    first = collect(make_connector(capture_dms=False).fetch({}))
    archived = first.latest(post).content
    edit = x.edit(post, "Rate is 3.9%")
    second = collect(make_connector(capture_dms=False).fetch(first.cursor), first.cursor)
    assert [(i.native_id, i.historical) for i in second.items] == [(post, True), (post, False)]
    assert second.items[0].content == archived  # history the archive already holds
    assert second.items[1].content["text"] == "Rate is 3.9%"
    assert second.items[1].raw["data"]["id"] == edit
    assert second.cursor["tweets"] == edit


def test_three_versions_come_oldest_first(x: FakeX, make_connector: Make) -> None:
    post = x.post("v1")
    second = x.edit(post, "v2")
    x.edit(second, "v3")
    run = collect(make_connector(capture_dms=False).fetch({}))
    versions = run.of(post)
    assert [v.content["text"] for v in versions] == ["v1", "v2", "v3"]
    assert [v.historical for v in versions] == [True, True, False]


def test_edits_remaining_as_a_string_or_an_int_is_the_same_post(
    x: FakeX, make_connector: Make
) -> None:
    post = x.post("Same post, two spellings of one counter")
    x.set_edits_remaining(post, "4")
    as_text = collect(make_connector(capture_dms=False).fetch({})).latest(post)
    x.set_edits_remaining(post, 4)
    as_number = collect(make_connector(capture_dms=False).fetch({})).latest(post)
    assert as_text.raw["data"]["edit_controls"]["edits_remaining"] == "4"
    assert as_number.raw["data"]["edit_controls"]["edits_remaining"] == 4
    assert as_text.content == as_number.content  # no new version for a JSON type
    assert edit_controls(as_text.raw["data"]) == edit_controls(as_number.raw["data"])
    assert edit_controls(as_text.raw["data"]).edits_remaining == 4
