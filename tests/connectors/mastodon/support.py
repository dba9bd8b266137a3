"""Running the Mastodon connector in tests and looking at what it yielded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.item import CapturedItem
from connectors.base import ArchivedItem, CursorUpdate

TOKEN = "mstdn-SECRET-7f3a9c1e-token-do-not-store"
TOKEN_ENV = "ARCHIVER_TEST_MASTODON_TOKEN"
HANDLE = "mastodonpy_test@localhost:3000"
ORG_ID = "109440137734600341"
TOOT_IDS = [  # the recorded "Toot number 0!" .. "9!", oldest first
    "109440145478329198", "109440145480919580", "109440145483494523", "109440145486112118",
    "109440145488560756", "109440145491586627", "109440145497720063", "109440145505153295",
    "109440145508061923", "109440145510747169",
]
EDITED_ID = "109440147874866834"
ORG_DM_ID = "109440153075398503"  # conversation 6: the organisation writes to admin
ADMIN_DM_ID = "109440151313806016"  # conversation 3: admin writes to the organisation


@dataclass
class Run:
    """Everything one fetch yielded, in order, and the cursor the framework would keep."""

    output: list[CapturedItem | CursorUpdate]
    cursor: dict[str, str] = field(default_factory=dict)

    @property
    def items(self) -> list[CapturedItem]:
        return [o for o in self.output if isinstance(o, CapturedItem)]

    @property
    def updates(self) -> list[CursorUpdate]:
        return [o for o in self.output if isinstance(o, CursorUpdate)]

    def ids(self, kind: str | None = None) -> list[str]:
        return [i.native_id for i in self.items if kind is None or i.kind == kind]

    def of(self, native_id: str) -> list[CapturedItem]:
        return [i for i in self.items if i.native_id == native_id]


def collect(output: Iterable[CapturedItem | CursorUpdate], cursor: Mapping[str, str] | None = None
            ) -> Run:
    """Drain a fetch, keeping cursor updates as the framework does (last one wins)."""
    run = Run([], dict(cursor or {}))
    for produced in output:
        run.output.append(produced)
        if isinstance(produced, CursorUpdate):
            run.cursor[produced.stream] = produced.value
    return run


def as_stored(item: CapturedItem) -> str:
    """Everything of an item that could end up in a record, as one string."""
    return json.dumps(
        {
            "account": item.account,
            "content": item.content,
            "raw": item.raw,
            "capture": item.capture.as_json("2024-01-01T00:00:00Z"),
            "attachments": [a.__dict__ for a in item.attachments],
        },
        ensure_ascii=False,
        default=str,
    )


def text_of(item: CapturedItem) -> Any:
    return item.content.get("text")


def archived_from(run: Run, captured_at: datetime) -> list[ArchivedItem]:
    """What the archive would hold after `run`: the last version of each item."""
    latest: dict[str, CapturedItem] = {}
    for item in run.items:
        latest[item.native_id] = item
    return [
        ArchivedItem(i.native_id, i.kind, dict(i.content), captured_at) for i in latest.values()
    ]
