"""The app password and the session JWTs never reach anything the connector yields."""

from __future__ import annotations

import json
import logging

import pytest

from archiver.item import CapturedItem
from connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.conftest import archived, run_fetch
from tests.fakes.bluesky import APP_PASSWORD, JWT_MARK, FakeBluesky
from tests.fakes.server import FakeServer


def _everything(item: CapturedItem) -> str:
    return json.dumps(
        {
            "raw": item.raw,
            "content": item.content,
            "capture": item.capture.as_json("2025-01-01T00:00:00Z"),
            "attachments": [vars(a) for a in item.attachments],
            "native_id": item.native_id,
        },
        default=str,
    )


def test_no_password_or_jwt_in_any_yielded_item(
    sky: FakeBluesky,
    connector: BlueskyConnector,
    fake_server: FakeServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    post = sky.add_post("with a picture", images=[(b"img", "alt")])
    sky.add_reply(post, "reply")
    hidden = sky.add_post("records only")
    sky.hide_from_appview(hidden)
    sky.repost(sky.add_post("shared", author="friend.test"))
    convo = sky.add_convo("friend.test")
    sky.add_message(convo, "hello")
    sky.delete_message(convo, sky.add_message(convo, "bye", from_account=False))

    first = run_fetch(connector)
    sky.expire_access_token()  # a refresh mid-way issues new JWTs
    sky.delete_post(post, report="RecordNotFound")
    reconciled = list(connector.reconcile(archived(first.items)))

    assert first.error is None
    items = first.items + reconciled
    assert any(i.deleted for i in items) and any(i.attachments for i in items)
    assert sky.refreshes == 1
    issued = [
        h["authorization"] for r in fake_server.requests if (h := r.headers).get("authorization")
    ]
    assert issued and all(JWT_MARK in value for value in issued)  # the marks are real
    for item in items:
        dumped = _everything(item)
        assert APP_PASSWORD not in dumped
        assert JWT_MARK not in dumped
        assert "Bearer" not in dumped
    for update in first.updates:
        assert JWT_MARK not in update.value and APP_PASSWORD not in update.value
    assert APP_PASSWORD not in caplog.text and JWT_MARK not in caplog.text
