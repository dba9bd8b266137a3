"""Private messages (t4) from /message/inbox and /message/sent against the fake Reddit
over real HTTP: paging both ways, incremental cursors, a thread as one conversation,
comment replies in the inbox paged past but not archived, unread messages left unread,
no reconcile, and a token without the privatemessages scope."""

from __future__ import annotations

import pytest

from archiver.errors import FatalError
from connectors.base import CursorUpdate
from tests.connectors.support import archived_from, collect
from tests.fakes import FakeClock
from tests.fakes.reddit import USERNAME, FakeReddit
from tests.fakes.server import FakeServer

from .support import TOKEN, floats_in

INBOX = "/message/inbox"
SENT = "/message/sent"
FRIEND = "a_customer"


def only_messages(make_connector, **overrides):
    return make_connector(capture_submissions=False, capture_comments=False, **overrides)


def test_a_thread_is_one_conversation_across_inbox_and_sent(
    reddit: FakeReddit, make_connector
) -> None:
    first = reddit.receive_message(FRIEND, "Opening hours", "Are you open on Sunday?")
    answer = reddit.reply_message(first["name"], "Yes, 10 to 4.")
    thanks = reddit.reply_message(answer["name"], "Thank you!")
    to_mods = reddit.send_message("#archiver_testing", "Flair", "Please add a flair.")

    run = collect(only_messages(make_connector).fetch({}))

    assert sorted(run.ids("dm")) == sorted(m["name"] for m in (first, answer, thanks, to_mods))
    thread = [run.latest(m["name"]).content for m in (first, answer, thanks)]
    assert {c["conversation_id"] for c in thread} == {first["name"]}
    assert {c["thread_id"] for c in thread} == {first["name"]}
    assert [c["in_reply_to"] for c in thread] == [None, first["name"], answer["name"]]
    assert [c["author"] for c in thread] == [FRIEND, USERNAME, FRIEND]
    assert [c["subject"] for c in thread] == [
        "Opening hours",
        "re: Opening hours",
        "re: Opening hours",
    ]
    assert {tuple(c["participants"]) for c in thread} == {tuple(sorted([FRIEND, USERNAME]))}
    assert thread[0]["text"] == "Are you open on Sunday?"
    assert thread[0]["url"] == f"https://www.reddit.com/message/messages/{first['id']}"
    assert thread[0]["created_at"].endswith("Z")
    mods = run.latest(to_mods["name"]).content
    assert (mods["recipient"], mods["subreddit"]) == ("#archiver_testing", "archiver_testing")
    for item in run.items:
        assert item.kind == "dm" and floats_in(item.content) == []
        assert item.raw["body_html"].startswith("<!-- SC_OFF -->")  # raw kept as served


def test_first_run_pages_down_then_later_runs_walk_up_with_before(
    reddit: FakeReddit, make_connector
) -> None:
    received = [reddit.receive_message(FRIEND, f"question {n}", "?")["name"] for n in range(5)]

    first = collect(only_messages(make_connector, page_limit=2).fetch({}))

    assert sorted(first.ids()) == sorted(received)
    down = reddit.server.requests_to(INBOX)
    assert [r.param("after") for r in down] == [None, received[3], received[1]]
    assert {r.param("mark") for r in reddit.server.requests_to(INBOX)} == {"false"}
    assert first.cursor["inbox"] == received[4] and first.cursor["inbox_walk"] == ""
    assert "sent" not in first.cursor  # nothing sent yet: no anchor

    newer = [reddit.receive_message(FRIEND, f"later {n}", "!")["name"] for n in range(3)]
    sent = reddit.reply_message(newer[0], "answered")["name"]
    reddit.server.requests.clear()
    second = collect(only_messages(make_connector, page_limit=2).fetch(first.cursor), first.cursor)

    assert second.ids() == [*newer, sent]  # oldest first
    ups = reddit.server.requests_to(INBOX)
    assert [r.param("before") for r in ups] == [received[4], newer[1]]
    assert [u for u in second.updates if u.stream == "inbox"] == [
        CursorUpdate("inbox", newer[1]),
        CursorUpdate("inbox", newer[2]),
    ]
    assert second.cursor["sent"] == sent
    assert collect(only_messages(make_connector).fetch(second.cursor)).items == []


def test_comment_replies_in_the_inbox_page_the_walk_but_are_not_archived(
    reddit: FakeReddit, make_connector
) -> None:
    post = reddit.submit("Announcement", "news")
    message = reddit.receive_message(FRIEND, "hello", "hi")["name"]
    first = collect(only_messages(make_connector, page_limit=2).fetch({}))
    replies = [
        reddit.comment(post["name"], f"reply {n}", author=FRIEND)["name"] for n in range(5)
    ]  # a full page and more of t1s, newer than the anchor
    later = reddit.receive_message(FRIEND, "again", "still there?")["name"]

    second = collect(only_messages(make_connector, page_limit=2).fetch(first.cursor), first.cursor)

    assert first.ids() == [message] and second.ids() == [later]
    assert not set(replies) & set(second.ids())
    assert [r.param("before") for r in reddit.server.requests_to(INBOX)[1:]] == [
        message,
        replies[1],
        replies[3],
        later,
    ]  # the last page was full: one more look
    assert second.cursor["inbox"] == later  # the cursor only ever names a message


def test_a_message_deleted_from_the_inbox_as_anchor_is_caught_up(
    reddit: FakeReddit, make_connector
) -> None:
    received = [reddit.receive_message(FRIEND, f"m{n}", "x")["name"] for n in range(2)]
    first = collect(only_messages(make_connector).fetch({}))
    reddit.delete_message(received[1])  # the anchor: before= it now answers nothing
    new = [reddit.receive_message(FRIEND, f"n{n}", "y")["name"] for n in range(4)]

    caught = collect(only_messages(make_connector).fetch(first.cursor), first.cursor)

    assert sorted(caught.ids()) == sorted(new)
    assert caught.cursor["inbox"] == new[3]


def test_capture_leaves_unread_messages_unread(reddit: FakeReddit, make_connector) -> None:
    unread = reddit.receive_message(FRIEND, "urgent", "please call")

    collect(only_messages(make_connector).fetch({}))

    assert unread["new"] is True  # the fake marks read unless mark=false, as Reddit does


def test_messages_are_not_reconciled(
    reddit: FakeReddit, make_connector, fake_clock: FakeClock
) -> None:
    """/api/info serves no t4: asking would make every message look deleted."""
    reddit.receive_message(FRIEND, "hello", "hi")
    archived = archived_from(
        collect(only_messages(make_connector).fetch({})).items, fake_clock.now()
    )

    assert archived and list(make_connector().reconcile(archived)) == []
    assert reddit.server.requests_to("/api/info") == []


def test_a_token_without_privatemessages_says_which_scope_or_setting(
    fake_server: FakeServer, fake_clock: FakeClock, make_connector
) -> None:
    limited = FakeReddit(
        fake_server, TOKEN, clock=fake_clock.now, scopes=frozenset({"history", "read"})
    )
    post = limited.submit("still archived", "posts come first")

    run = collect([])
    with pytest.raises(FatalError, match="privatemessages.*capture_messages = false"):
        for produced in make_connector().fetch({}):
            run.output.append(produced)
    assert run.ids() == [post["name"]]  # what came before the refusal is kept
    assert collect(make_connector(capture_messages=False).fetch({})).ids() == [post["name"]]
