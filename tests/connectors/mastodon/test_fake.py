"""The fake instance answers like the recorded Mastodon server did."""

from __future__ import annotations

import json

import pytest

from connectors.http import CredentialsError, HttpClient, NotFound
from tests.fakes.mastodon import EDITED_ID, FIXTURES, FakeMastodon, load_fixture

from .support import ORG_DM_ID, ORG_ID, TOKEN

RECORDED_HOST = "http://localhost:3000"


def _recorded(name: str) -> tuple[list[str], str]:
    recorded = json.loads((FIXTURES / name).read_text("utf-8"))
    return [s["id"] for s in recorded["response"]["json"]], recorded["response"]["headers"]["link"]


def test_pages_and_link_headers_match_the_recording(mastodon: FakeMastodon) -> None:
    mastodon.delete_status(EDITED_ID)  # back to the state of the fetch_next_previous recording
    mastodon.delete_status(ORG_DM_ID)
    path = f"/api/v1/accounts/{ORG_ID}/statuses"
    with HttpClient(mastodon.server.url, auth_headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        pages = [
            c.get_json(path, {"limit": 5}),
            c.get_json(path, {"limit": 5, "max_id": "109440145491586627"}),
            c.get_json(path, {"limit": 5, "min_id": "109440145488560756"}),
        ]
    for page, name in zip(pages, ("12", "13", "12"), strict=True):
        ids, link = _recorded(f"fetch_next_previous/{name}-get-accounts-id-statuses.json")
        assert [s["id"] for s in page.data] == ids
        assert page.headers["link"] == link.replace(RECORDED_HOST, mastodon.server.url)


def test_a_missing_status_and_a_missing_token_are_answered_as_mastodon_does(
    mastodon: FakeMastodon,
) -> None:
    with HttpClient(mastodon.server.url, auth_headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        with pytest.raises(NotFound) as raised:
            c.get_json("/api/v1/statuses/0")
    assert raised.value.status == 404
    assert json.loads(raised.value.body) == load_fixture("status_missing/01-get-statuses-0.json")
    with HttpClient(mastodon.server.url) as anonymous:
        with pytest.raises(CredentialsError):
            anonymous.get_json("/api/v1/accounts/verify_credentials")
