"""fetch() against the fake Mastodon over real HTTP: paging, cursors, kinds, content."""

from __future__ import annotations

from collections import Counter

import pytest

from archiver.canonical import canonical_bytes
from archiver.errors import FatalError, RetriableError
from archiver.item import Attachment, CapturedItem
from connectors.base import CursorUpdate
from connectors.http import CredentialsError
from tests.connectors.support import as_stored, collect
from tests.fakes import FakeClock
from tests.fakes.mastodon import FakeMastodon

from .support import (
    ADMIN_DM_ID,
    EDITED_ID,
    HANDLE,
    ORG_DM_ID,
    ORG_ID,
    TOKEN,
    TOKEN_ENV,
    TOOT_IDS,
)

STATUSES_PATH = f"/api/v1/accounts/{ORG_ID}/statuses"


def test_backfill_yields_every_status_once_and_checkpoints_after_each_page(
    mastodon: FakeMastodon, make_connector
) -> None:
    run = collect(make_connector(page_limit=5).fetch({}))

    posts = run.ids("post")
    assert Counter(posts) == Counter([*TOOT_IDS, EDITED_ID])  # 11 statuses, 3 pages
    assert ORG_DM_ID not in posts  # the org's own DM is listed, but captured as a dm
    listing = mastodon.server.requests_to(STATUSES_PATH)
    assert [r.param("max_id") for r in listing[:3]] == [None, TOOT_IDS[7], TOOT_IDS[2]]
    assert listing[3].param("min_id") == ORG_DM_ID  # then forward from the newest

    seen: list[int] = []
    for produced in run.output:
        if isinstance(produced, CapturedItem) and produced.kind == "post":
            seen.append(int(produced.native_id))
        elif isinstance(produced, CursorUpdate) and produced.stream == "statuses_backfill":
            newest, oldest = produced.value.split(":")
            assert newest == ORG_DM_ID
            assert int(oldest) == min(seen)  # the checkpoint covers only what was yielded
    final = run.output.index(CursorUpdate("statuses", ORG_DM_ID))
    assert all(run.output.index(i) < final for i in run.items if i.kind == "post")
    assert run.cursor["statuses"] == ORG_DM_ID
    assert run.cursor["conversations"] == ORG_DM_ID


def test_incremental_fetch_yields_only_newer_statuses_oldest_first(
    mastodon: FakeMastodon, make_connector
) -> None:
    first = collect(make_connector().fetch({}))
    new = [mastodon.post_status(f"<p>update {n}</p>")["id"] for n in range(7)]

    second = collect(make_connector().fetch(first.cursor), first.cursor)

    assert second.ids() == new
    updates = [u for u in second.updates if u.stream == "statuses"]
    assert updates == [CursorUpdate("statuses", new[4]), CursorUpdate("statuses", new[6])]
    assert second.output.index(updates[0]) == 5  # after the first page's five items
    assert second.cursor["statuses"] == new[6]
    assert collect(make_connector().fetch(second.cursor)).items == []


def test_failed_backfill_resumes_from_its_checkpoint(
    mastodon: FakeMastodon, make_connector, fake_clock: FakeClock
) -> None:
    output = make_connector().fetch({})
    first = collect([])
    for produced in output:
        first.output.append(produced)
        if isinstance(produced, CursorUpdate):
            first.cursor[produced.stream] = produced.value
            mastodon.fail(4, path=STATUSES_PATH)  # every attempt at page two fails
            break
    with pytest.raises(RetriableError, match="HTTP 500"):
        collect(output)
    assert "statuses" not in first.cursor
    assert fake_clock.sleeps  # backed off on the fake clock, not in real time
    newer = mastodon.post_status("<p>posted during the outage</p>")["id"]

    resumed = collect(make_connector().fetch(first.cursor), first.cursor)

    assert Counter(first.ids("post") + resumed.ids("post")) == Counter(
        [*TOOT_IDS, EDITED_ID, newer]
    )
    assert resumed.cursor["statuses"] == newer


def test_replies_by_others_and_dms_come_out_with_their_kinds(
    mastodon: FakeMastodon, make_connector
) -> None:
    toot = TOOT_IDS[9]
    reply = mastodon.add_reply(toot, "<p>nice toot</p>")
    aside = mastodon.add_reply(reply["id"], "<p>talking to myself</p>")  # not to the org
    ours = mastodon.post_status("<p>thanks!</p>", in_reply_to=reply["id"])
    answer = mastodon.add_reply(ours["id"], "<p>you are welcome</p>")
    dm = mastodon.add_dm("<p>are you there?</p>", in_reply_to=ADMIN_DM_ID, conversation_id="3")

    run = collect(make_connector().fetch({}))

    kinds = {i.native_id: i.kind for i in run.items}
    assert kinds[toot] == "post"
    assert kinds[reply["id"]] == "reply"
    assert kinds[ours["id"]] == "reply"  # the org's own reply, from its statuses
    assert kinds[answer["id"]] == "reply"
    assert aside["id"] not in kinds
    assert Counter(run.ids())[reply["id"]] == 1
    assert run.ids("dm") == [ORG_DM_ID, ADMIN_DM_ID, dm["id"]]  # conversation 3 is newest

    captured = run.of(reply["id"])[0]
    assert captured.account == HANDLE
    assert captured.content["author"] == "admin"
    assert captured.content["in_reply_to"] == toot
    assert captured.content["thread_id"] == toot
    assert captured.raw == reply
    assert run.of(answer["id"])[0].content["thread_id"] == toot
    message = run.of(dm["id"])[0].content
    assert message["conversation_id"] == "3"
    assert message["participants"] == ["admin"]
    assert message["text"] == "@mastodonpy_test are you there?"
    assert message["mentions"] == ["mastodonpy_test"]
    assert message["visibility"] == "direct"


def test_boosts_polls_content_warnings_and_media_are_kept(
    mastodon: FakeMastodon, make_connector
) -> None:
    theirs = mastodon.post_status("<p>worth sharing</p>", author=mastodon.other)
    boost = mastodon.boost(theirs["id"])
    poll = mastodon.post_status("<p>tabs or spaces?</p>", poll=["tabs", "spaces"])
    warned = mastodon.post_status(
        "<p>the ending of the film</p>", spoiler_text="spoilers", sensitive=True
    )
    picture = b"\x89PNG\r\n\x1a\n fake image bytes"
    url = mastodon.attach_image(warned["id"], picture, description="a cat on a keyboard")
    connector = make_connector()

    run = collect(connector.fetch({}))

    boosted = run.of(boost["id"])[0]
    assert boosted.kind == "post"
    assert boosted.content["boost_of"] == theirs["id"]
    assert boosted.content["boost_author"] == "admin"
    assert boosted.content["author"] == "mastodonpy_test"
    assert boosted.content["text"] == "worth sharing"
    assert run.of(poll["id"])[0].content["poll"] == {"options": ["tabs", "spaces"]}
    item = run.of(warned["id"])[0]
    assert item.content["content_warning"] == "spoilers"
    assert item.content["sensitive"] is True
    media_id = warned["media_attachments"][0]["id"]
    assert item.content["media"] == [
        {"id": media_id, "type": "image", "url": url, "description": "a cat on a keyboard"}
    ]
    assert item.attachments == (Attachment(url, "image", "a cat on a keyboard"),)
    assert connector.client.get_bytes(url).body == picture  # the fake serves the file


def test_html_and_script_become_inert_text_while_raw_keeps_the_original(
    mastodon: FakeMastodon, make_connector
) -> None:
    html = (
        '<p>Hi <script>alert("pwned")</script><img src=x onerror="alert(1)">'
        "&lt;b&gt;not bold&lt;/b&gt;<br>second line</p><style>p{color:red}</style>"
        '<p><a href="https://example.com/x" rel="nofollow">link</a> '
        '<a href="javascript:alert(2)">js</a></p>'
    )
    status = mastodon.post_status(html)

    item = collect(make_connector().fetch({})).of(status["id"])[0]

    assert item.content["text"] == "Hi <b>not bold</b>\nsecond line\n\nlink js"
    assert item.content["urls"] == ["https://example.com/x"]
    assert item.raw["content"] == html


def test_invalid_utf8_in_content_is_kept_losslessly(mastodon: FakeMastodon, make_connector) -> None:
    body = b"<p>caf\xe9 \xff\xfe end</p>"
    status = mastodon.post_status(body)

    item = collect(make_connector().fetch({})).of(status["id"])[0]

    assert item.raw["content"].encode("utf-8", "surrogateescape") == body
    assert item.content["text"].encode("utf-8", "surrogateescape") == b"caf\xe9 \xff\xfe end"
    canonical_bytes(item.content)  # storable as it is


def test_the_token_never_appears_in_any_yielded_item(
    mastodon: FakeMastodon, make_connector
) -> None:
    mastodon.add_reply(TOOT_IDS[4], f"<p>is your token {TOKEN[:6]}?</p>")
    mastodon.edit_status(TOOT_IDS[3], content="<p>edited</p>")
    mastodon.attach_image(TOOT_IDS[2], b"GIF89a")
    mastodon.add_dm()
    mastodon.rate_limit(1)

    run = collect(make_connector().fetch({}))

    assert len(run.items) > 15
    for item in run.items:
        assert TOKEN not in as_stored(item)
    assert any("link" in i.capture.response_headers for i in run.items)
    assert all(
        r.headers["authorization"] == f"Bearer {TOKEN}"
        for r in mastodon.server.requests
        if r.path.startswith("/api/")
    )


def test_a_rejected_token_is_fatal(
    mastodon: FakeMastodon, make_connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "revoked-token-3b1d")
    with pytest.raises(CredentialsError) as raised:
        list(make_connector().fetch({}))
    assert raised.value.status == 401
    assert isinstance(raised.value, FatalError)
    assert "revoked-token-3b1d" not in str(raised.value)

    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(FatalError, match=TOKEN_ENV):
        list(make_connector().fetch({}))


def test_rate_limit_is_waited_out_on_the_clock_then_capture_continues(
    mastodon: FakeMastodon, make_connector, fake_clock: FakeClock
) -> None:
    mastodon.rate_limit(1, reset_in=42, path=STATUSES_PATH)

    run = collect(make_connector().fetch({}))

    assert Counter(run.ids("post")) == Counter([*TOOT_IDS, EDITED_ID])
    assert 41 <= sum(fake_clock.sleeps) <= 43  # the ISO 8601 reset, not a guess
    assert len(mastodon.server.requests_to(STATUSES_PATH)) == 5  # 429 + 3 pages + forward


def test_a_short_5xx_storm_is_retried_and_a_long_one_surfaces_as_retriable(
    mastodon: FakeMastodon, make_connector
) -> None:
    mastodon.fail(3)
    assert collect(make_connector().fetch({})).ids("post")

    mastodon.fail(10, status=502)
    with pytest.raises(RetriableError, match="HTTP 502"):
        list(make_connector().fetch({}))


def test_a_truncated_page_is_fetched_again(mastodon: FakeMastodon, make_connector) -> None:
    mastodon.truncate(1, path=STATUSES_PATH)

    run = collect(make_connector().fetch({}))

    assert Counter(run.ids("post")) == Counter([*TOOT_IDS, EDITED_ID])
    first_page = [r for r in mastodon.server.requests_to(STATUSES_PATH) if not r.raw_query[8:]]
    assert len(first_page) == 2


def test_an_account_id_setting_skips_verify_credentials(
    mastodon: FakeMastodon, make_connector
) -> None:
    run = collect(make_connector(account_id=ORG_ID, capture_dms=False).fetch({}))

    assert run.ids("post")
    assert run.ids("dm") == []
    assert not mastodon.server.requests_to("/api/v1/accounts/verify_credentials")
    assert not mastodon.server.requests_to("/api/v1/conversations")
