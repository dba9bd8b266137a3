"""Running any connector's fetch in tests and looking at what it yielded, the way the
capture framework would: one copy for every platform's tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from archiver.item import CapturedItem
from connectors.base import ArchivedItem, CursorUpdate


@dataclass
class Run:
    """Everything one fetch yielded, in order, and the cursor the framework would keep."""

    output: list[CapturedItem | CursorUpdate]
    cursor: dict[str, str] = field(default_factory=dict)
    error: Exception | None = None  # what ended the fetch, when collected with keep_error

    @property
    def items(self) -> list[CapturedItem]:
        return [o for o in self.output if isinstance(o, CapturedItem)]

    @property
    def updates(self) -> list[CursorUpdate]:
        return [o for o in self.output if isinstance(o, CursorUpdate)]

    def by_id(self) -> dict[str, CapturedItem]:
        return {i.native_id: i for i in self.items}

    def ids(self, kind: str | None = None) -> list[str]:
        return [i.native_id for i in self.items if kind is None or i.kind == kind]

    def of(self, native_id: str) -> list[CapturedItem]:
        """Every version yielded of one item, historical ones included, in order."""
        return [i for i in self.items if i.native_id == native_id]

    def latest(self, native_id: str) -> CapturedItem:
        """The item's current version: what a test about its content means."""
        current = [i for i in self.of(native_id) if not i.historical]
        assert current, f"{native_id} was not yielded"
        return current[-1]


def collect(
    output: Iterable[CapturedItem | CursorUpdate],
    cursor: Mapping[str, str] | None = None,
    *,
    keep_error: bool = False,
) -> Run:
    """Drain a fetch, keeping cursor updates as the framework does (last one wins);
    with keep_error, an error ends the run and is kept for the test to assert on."""
    run = Run([], dict(cursor or {}))
    try:
        for produced in output:
            run.output.append(produced)
            if isinstance(produced, CursorUpdate):
                run.cursor[produced.stream] = produced.value
    except Exception as exc:
        if not keep_error:
            raise
        run.error = exc
    return run


def as_stored(item: CapturedItem) -> str:
    """Everything of an item that could end up in a record, as one string, so a test
    can assert a secret appears nowhere in it."""
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


def archived_from(items: Iterable[CapturedItem], captured_at: datetime) -> list[ArchivedItem]:
    """What the archive would hand reconcile after these items: the last current
    version of each item (its first historical one if no current one came), and
    nothing of items yielded as deleted."""
    latest: dict[str, CapturedItem] = {}
    for item in items:
        if not item.historical or item.native_id not in latest:
            latest[item.native_id] = item
    return [
        ArchivedItem(i.native_id, i.kind, dict(i.content), captured_at)
        for i in latest.values()
        if not i.deleted
    ]
