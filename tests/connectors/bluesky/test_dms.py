"""DMs through the chat proxy: messages, deletedMessageView tombstones, reconcile."""

from __future__ import annotations

import json
from collections.abc import Callable

from connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.conftest import archived, run_fetch
from tests.fakes.bluesky import FakeBluesky, link_facet
from tests.fakes.server import FakeServer


def test_a_deleted_message_view_is_a_tombstone(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    convo = sky.add_convo("friend.test")
    kept = sky.add_message(convo, "keep this")
    gone = sky.add_message(convo, "oops", from_account=False)
    sky.delete_message(convo, gone)

    items = run_fetch(connector).by_id()

    assert items[f"dm:{convo}:{kept}"].deleted is False
    tombstone = items[f"dm:{convo}:{gone}"]
    assert tombstone.deleted is True
    assert tombstone.kind == "dm"
    assert tombstone.content["status"] == 200
    assert tombstone.content["reason"] == "deletedMessageView"
    assert tombstone.content["conversation_id"] == convo
    assert "/xrpc/chat.bsky.convo.getMessages?" in tombstone.content["request_url"]
    assert tombstone.content["observed_at"].endswith("Z")
    evidence = json.loads(tombstone.content["body"])
    assert evidence["$type"] == "chat.bsky.convo.defs#deletedMessageView"
    assert evidence["id"] == gone
    assert tombstone.raw == evidence  # the message JSON as received
    assert "oops" not in json.dumps(tombstone.content)


def test_dm_cursors_are_per_conversation_and_incremental(
    sky: FakeBluesky, make_connector: Callable[..., BlueskyConnector], fake_server: FakeServer
) -> None:
    first_convo = sky.add_convo("friend.test")
    second_convo = sky.add_convo("colleague.test")
    for n in range(3):
        sky.add_message(first_convo, f"one {n}")
    sky.add_message(second_convo, "two 0")
    first = run_fetch(make_connector())
    assert {f"dm:{first_convo}", f"dm:{second_convo}"} <= set(first.cursor)
    assert len([i for i in first.items if i.kind == "dm"]) == 4

    newest = sky.add_message(second_convo, "two 1")
    second = run_fetch(make_connector(), first.cursor)
    dms = [i for i in second.items if i.kind == "dm"]
    assert f"dm:{second_convo}:{newest}" in {d.native_id for d in dms}
    # besides the new message, only each conversation's boundary message (at `since`)
    assert sorted(d.content["text"] for d in dms) == ["one 2", "two 0", "two 1"]
    pages = [
        r
        for r in fake_server.requests_to("/xrpc/chat.bsky.convo.getMessages")
        if r.param("convoId") == first_convo
    ]
    assert len(pages) == 2 + 1  # two pages in the first run, one in the second


def test_reconcile_finds_messages_deleted_after_capture(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    convo = sky.add_convo("friend.test")
    text = "see https://example.org"
    kept = sky.add_message(
        convo, text, facets=[link_facet(text, "https://example.org", "https://example.org")]
    )
    gone = sky.add_message(convo, "delete me", from_account=False)
    for n in range(3):
        sky.add_message(convo, f"later {n}")
    fetched = run_fetch(connector).by_id()
    assert fetched[f"dm:{convo}:{kept}"].content["urls"] == ["https://example.org"]
    sky.delete_message(convo, gone)

    wanted = [fetched[f"dm:{convo}:{kept}"], fetched[f"dm:{convo}:{gone}"]]
    results = {i.native_id: i for i in connector.reconcile(archived(wanted))}

    assert results[f"dm:{convo}:{kept}"].deleted is False
    assert results[f"dm:{convo}:{kept}"].content == fetched[f"dm:{convo}:{kept}"].content
    assert results[f"dm:{convo}:{gone}"].deleted is True
    assert results[f"dm:{convo}:{gone}"].content["reason"] == "deletedMessageView"


def test_reconcile_when_the_conversation_is_gone(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    convo = sky.add_convo("friend.test")
    message = sky.add_message(convo, "hello")
    fetched = run_fetch(connector).items
    sky.leave_convo(convo)
    [tombstone] = connector.reconcile(archived(fetched))
    assert tombstone.native_id == f"dm:{convo}:{message}"
    assert tombstone.deleted is True
    assert tombstone.content["reason"] == "InvalidConvo"
    assert tombstone.content["status"] == 400


def test_reconcile_a_message_missing_from_the_conversation(
    sky: FakeBluesky, connector: BlueskyConnector
) -> None:
    convo = sky.add_convo("friend.test")
    first = sky.add_message(convo, "first")
    vanished = sky.add_message(convo, "vanishes")
    sky.add_message(convo, "last")
    fetched = run_fetch(connector).by_id()
    sky.purge_message(convo, vanished)

    stored = archived([fetched[f"dm:{convo}:{first}"], fetched[f"dm:{convo}:{vanished}"]])
    results = {i.native_id: i for i in connector.reconcile(stored)}

    assert results[f"dm:{convo}:{first}"].deleted is False
    tombstone = results[f"dm:{convo}:{vanished}"]
    assert tombstone.deleted is True
    assert tombstone.content["reason"] == "absent from chat.bsky.convo.getMessages"
    assert json.loads(tombstone.content["body"])["messageId"] == vanished
