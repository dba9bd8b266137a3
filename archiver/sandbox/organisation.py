"""Harbour Credit Union, a fictional organisation: its posts, a member's replies, a
direct-message conversation, and the changes the quickstart makes between captures.
All text and images are our own; no real person or institution is depicted."""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

ORG = {
    "id": "1",
    "username": "harbourcu",
    "acct": "harbourcu",
    "display_name": "Harbour Credit Union",
}
MEMBER = {"id": "2", "username": "jo", "acct": "jo@members.example", "display_name": "Jo Member"}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EDITED_ID, DELETED_ID = "1003", "1005"


def _time(hours: int) -> str:
    return (START + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def branch_photo() -> bytes:
    """A small picture of our own making for the post with media."""
    image = Image.new("RGB", (320, 200), (22, 78, 120))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 90, 280, 180), fill=(240, 236, 220))
    draw.polygon([(30, 95), (160, 30), (290, 95)], fill=(180, 40, 40))
    draw.text((110, 125), "Riverside", fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Organisation:
    """The sandbox's state: statuses, histories, conversations; mutable between captures."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.statuses: dict[str, dict[str, Any]] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.media = {"/media/riverside.png": branch_photo()}
        self.conversation_ids = ["1008"]
        self._post(
            "1001",
            0,
            "<p>Our branches close at 1pm on Friday for staff training. "
            '<a href="https://members.example/tags/community">#community</a></p>',
        )
        self._post(
            "1002",
            2,
            "<p>Meet the team at our new Riverside branch!</p>",
            media=[
                {
                    "id": "9001",
                    "type": "image",
                    "url": f"{base_url}/media/riverside.png",
                    "preview_url": f"{base_url}/media/riverside.png",
                    "remote_url": None,
                    "description": "The Riverside branch building",
                }
            ],
        )
        self._post(
            "1003", 4, "<p>New savings rate: 4.1% APY on 12-month certificates. Terms apply.</p>"
        )
        self._post(
            "1004",
            5,
            "<p>Does this apply to existing members too?</p>",
            account=MEMBER,
            reply_to="1003",
        )
        self._post(
            "1005",
            6,
            "<p>Join our free financial literacy workshop on 3 March! "
            "<script>alert('not executed')</script></p>",
        )
        self._post("1006", 7, "<p>@jo Yes, existing members qualify too.</p>", reply_to="1004")
        self._post(
            "1007",
            8,
            "<p>Hi, my card was declined at the store, can you help?</p>",
            account=MEMBER,
            visibility="direct",
        )
        self._post(
            "1008",
            9,
            "<p>@jo Sorry about that! Please call us on 0100 000 000, we will sort it out.</p>",
            visibility="direct",
            reply_to="1007",
        )

    def _post(
        self,
        status_id: str,
        hours: int,
        content: str,
        *,
        account: dict = ORG,
        reply_to: str | None = None,
        visibility: str = "public",
        media: list[dict] | None = None,
    ) -> None:
        parent = self.statuses.get(reply_to) if reply_to else None
        if parent is not None:
            parent["replies_count"] += 1
        self.statuses[status_id] = {
            "id": status_id,
            "created_at": _time(hours),
            "edited_at": None,
            "in_reply_to_id": reply_to,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": visibility,
            "language": "en",
            "uri": f"{self.base_url}/users/{account['username']}/statuses/{status_id}",
            "url": f"{self.base_url}/@{account['username']}/{status_id}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "content": content,
            "reblog": None,
            "account": dict(account, url=f"{self.base_url}/@{account['username']}"),
            "media_attachments": media or [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def apply_changes(self) -> None:
        """What happens between the two captures: a rate is corrected, a post withdrawn."""
        status = self.statuses[EDITED_ID]
        before = copy.deepcopy(status)
        status["content"] = status["content"].replace("4.1%", "3.9%")
        status["edited_at"] = _time(30)
        self.histories[EDITED_ID] = [
            self.version_of(before, before["created_at"]),
            self.version_of(status, status["edited_at"]),
        ]
        del self.statuses[DELETED_ID]

    @staticmethod
    def version_of(status: dict[str, Any], at: str) -> dict[str, Any]:
        return {
            "content": status["content"],
            "spoiler_text": status["spoiler_text"],
            "sensitive": status["sensitive"],
            "created_at": at,
            "account": status["account"],
            "media_attachments": status["media_attachments"],
            "emojis": [],
            "poll": None,
        }

    # -- the views the API serves --------------------------------------------------------
    def own_statuses(self) -> list[dict[str, Any]]:
        own = [
            s
            for s in self.statuses.values()
            if s["account"]["id"] == ORG["id"] and s["visibility"] != "direct"
        ]
        return sorted(own, key=lambda s: int(s["id"]), reverse=True)

    def context(self, status_id: str) -> dict[str, Any]:
        ancestors, cursor = [], self.statuses[status_id].get("in_reply_to_id")
        while cursor and cursor in self.statuses:
            ancestors.insert(0, self.statuses[cursor])
            cursor = self.statuses[cursor].get("in_reply_to_id")
        descendants, frontier = [], [status_id]
        while frontier:
            parent = frontier.pop(0)
            children = [s for s in self.statuses.values() if s.get("in_reply_to_id") == parent]
            descendants.extend(children)
            frontier.extend(s["id"] for s in children)
        return {"ancestors": ancestors, "descendants": descendants}

    def conversations(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "c1",
                "unread": False,
                "accounts": [self.statuses["1007"]["account"]],
                "last_status": self.statuses[last],
            }
            for last in self.conversation_ids
            if last in self.statuses
        ]
