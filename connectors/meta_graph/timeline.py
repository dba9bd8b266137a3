"""Incremental walks over Graph edges listed newest first (a Page feed, an Instagram
user's media), resumable after a failure.

Each stream's cursor is JSON ``{"since": <unix seconds>, "newest": <unix seconds>,
"page": {<paging params>}}``:
  - `since`: everything created up to then is archived; the walk asks Graph for
    ``since=<since>`` (Graph filters by creation time), so it stops there by itself;
  - `newest` and `page`: a walk in progress - the newest creation time it has seen and
    where its next page starts. A CursorUpdate after every page stores them, so a run
    that fails half way resumes with the next page; only a completed walk moves `since`.
Graph's `since` is inclusive, so the newest item of the last walk is listed again and
archived as unchanged: no gap, no duplicate. A bare number is accepted as `since`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archiver.item import CapturedItem
from connectors.base import CursorUpdate

from .graph import GraphApi, Page

Output = Iterator[CapturedItem | CursorUpdate]


@dataclass(frozen=True)
class WalkState:
    since: int | None = None
    newest: int | None = None
    page: dict[str, str] | None = None

    @classmethod
    def parse(cls, value: str | None) -> WalkState:
        if not value:
            return cls()
        text = value.strip()
        if text.isdigit():
            return cls(since=int(text))
        try:
            data = json.loads(text)
        except ValueError:
            return cls()  # an unreadable cursor: walk everything again (ingest dedupes)
        if not isinstance(data, Mapping):
            return cls()
        page = data.get("page")
        return cls(
            since=_int(data.get("since")),
            newest=_int(data.get("newest")),
            page={str(k): str(v) for k, v in page.items()} if isinstance(page, Mapping) else None,
        )

    def dump(self) -> str:
        return json.dumps(
            {"since": self.since, "newest": self.newest, "page": self.page},
            sort_keys=True,
            separators=(",", ":"),
        )


def walk_newest_first(
    api: GraphApi,
    path: str,
    params: Mapping[str, Any],
    stream: str,
    cursor: Mapping[str, str],
    created: Callable[[Mapping[str, Any]], int | None],
    handle: Callable[[Page], Output],
) -> Output:
    """Walk `path` from the newest object back to the stored `since` (or to the very
    first object on a first run), yielding what `handle` makes of each page."""
    state = WalkState.parse(cursor.get(stream))
    base = dict(params)
    if state.since is not None:
        base["since"] = state.since
    query = {**base, **(state.page or {})}
    newest = state.newest
    while True:
        page = api.page(path, query)
        for obj in page.objects:
            moment = created(obj)
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        yield from handle(page)
        if page.next_params is None:
            break
        query = {**base, **page.next_params}
        yield CursorUpdate(stream, WalkState(state.since, newest, page.next_params).dump())
    done = newest if newest is not None else state.since
    yield CursorUpdate(stream, WalkState(since=done).dump())


def graph_time(value: Any) -> datetime | None:
    """Graph's "2021-07-09T19:09:52+0000" (or any ISO 8601 form) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00 (fromisoformat in 3.11 wants it)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_seconds(value: Any) -> int | None:
    moment = graph_time(value)
    return int(moment.timestamp()) if moment else None


def rfc3339(value: Any) -> str | None:
    """Graph time in the archive's form (UTC, Z); None stays None, junk is kept as given."""
    moment = graph_time(value)
    if moment is None:
        return value if isinstance(value, str) and value else None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
