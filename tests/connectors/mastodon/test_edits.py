"""Edits: every historical version, oldest first, then the current status."""

from __future__ import annotations

from tests.connectors.support import collect
from tests.fakes.mastodon import FakeMastodon, load_fixture

from .support import EDITED_ID, TOOT_IDS


def test_recorded_edit_yields_each_version_oldest_first_then_the_current_status(
    mastodon: FakeMastodon, make_connector
) -> None:
    current = mastodon.apply_recorded_edit()
    history = load_fixture("status_edit/05-get-statuses-id-history.json")

    versions = collect(make_connector().fetch({})).of(EDITED_ID)

    assert [v.raw for v in versions] == [*history, current]
    assert [v.content["text"] for v in versions] == [
        "the best editor? why, of course it is VS Code",
        "the best editor? why, of course it is the KDE Advanced Text Editor, Kate",
        "the best editor? why, of course it is the KDE Advanced Text Editor, Kate",
    ]
    assert [v.content["edited_at"] for v in versions] == [
        None,
        "2022-12-01T19:48:51.473Z",
        "2022-12-01T19:48:51.473Z",
    ]
    assert versions[1].content == versions[2].content  # the current one is the last edit
    assert str(versions[0].capture.request_url).endswith(f"/api/v1/statuses/{EDITED_ID}/history")
    assert {v.kind for v in versions} == {"post"}


def test_an_unedited_status_normalises_exactly_like_its_history_entry_zero(
    mastodon: FakeMastodon, make_connector
) -> None:
    before = collect(make_connector().fetch({})).of(EDITED_ID)
    assert len(before) == 1  # unedited: no history request, just the status

    mastodon.apply_recorded_edit()
    after = collect(make_connector().fetch({})).of(EDITED_ID)

    assert after[0].content == before[0].content


def test_edits_of_warnings_polls_and_media_keep_entry_zero_identical(
    mastodon: FakeMastodon, make_connector
) -> None:
    status = mastodon.post_status(
        '<p>vote <a href="https://example.com/a">here</a></p>',
        spoiler_text="politics",
        sensitive=True,
        poll=["yes", "no"],
    )
    mastodon.attach_image(status["id"], b"png", description="ballot")
    before = collect(make_connector().fetch({})).of(status["id"])[0]

    mastodon.edit_status(status["id"], spoiler_text="", sensitive=False)
    mastodon.edit_status(status["id"], poll=["yes", "no", "maybe"], content="<p>vote</p>")
    after = collect(make_connector().fetch({})).of(status["id"])

    assert len(after) == 4  # original, two edits, current
    assert after[0].content == before.content
    assert [v.content["content_warning"] for v in after] == ["politics", None, None, None]
    assert [v.content["poll"]["options"] for v in after][-2:] == [["yes", "no", "maybe"]] * 2
    assert [v.content["urls"] for v in after] == [["https://example.com/a"]] * 2 + [[]] * 2
    assert all(v.content["media"][0]["description"] == "ballot" for v in after)
    assert after[2].content == after[3].content
    edited = [v.content["edited_at"] for v in after]
    assert edited[0] is None and edited[1] < edited[2] == edited[3]


def test_an_unedited_status_costs_no_history_request(
    mastodon: FakeMastodon, make_connector
) -> None:
    collect(make_connector().fetch({}))
    assert not [r for r in mastodon.server.requests if r.path.endswith("/history")]
    assert TOOT_IDS  # the recorded statuses were all unedited
