"""The Reddit connector: the account's submissions, comments and private messages,
edits and deletions.

Streams (cursor keys; values are fullnames such as "t3_52o2fl"):
  - "submitted" and "comments": the newest thing captured from /user/{name}/submitted
    and /user/{name}/comments; "inbox" and "sent": the newest private message (t4)
    from /message/inbox and /message/sent. Without one, capture walks the listing
    down from the newest (after=), checkpointing in "<stream>_walk"
    ("<top>|<after>|<stop>") so a failed walk resumes; once it reaches the end
    (Reddit lists at most ~1000 things) the stream is set to the top. After that,
    capture walks up with before=, oldest page first, and every page's CursorUpdate
    is safe to store.
  - A before= anchor that the user deleted makes Reddit answer an empty page forever;
    when the walk up finds nothing, one limit=1 request checks whether newer things
    exist, and if so a walk down from the top catches up, stopping at the anchor.
  - The inbox also lists comment replies and mentions (t1): they page the walk but
    are not archived (others' comments are out of scope), and never become anchors
    of the "inbox" cursor, so anchors are always compared with things of their kind.
Reddit keeps no edit history: `edited` (false or an epoch) marks edits, and the
current text is the new version. Reconcile re-reads archived submissions and comments
through /api/info in batches of 100; "[deleted]"/"[removed]" text or absence is a
tombstone. /api/info does not serve messages, so they are not reconciled.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import quote

from pydantic import Field

from archiver.errors import FatalError, RetriableError
from archiver.item import CaptureContext, CapturedItem
from connectors.base import (
    Account,
    ArchivedItem,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    CursorUpdate,
)
from connectors.http import CredentialsError, HttpResult

from .normalise import KINDS, attachments, deletion_marker, id36, kind_prefix, normalise

SUBMITTED = "submitted"
COMMENTS = "comments"
INBOX = "inbox"
SENT = "sent"
WALK_SUFFIX = "_walk"
INFO_BATCH = 100  # /api/info takes at most 100 fullnames
INFO_KINDS = ("t3", "t1")  # what /api/info serves of ours: links and comments, no messages

Output = Iterator[CapturedItem | CursorUpdate]
Things = list[dict[str, Any]]


@dataclass(frozen=True)
class Listing:
    """One listing walked into one cursor stream: `kinds` are the things it archives;
    other things it lists only move the paging along."""

    stream: str
    path: str
    kinds: frozenset[str]
    params: Mapping[str, str] = field(default_factory=dict)

    def archived(self, things: Things) -> Things:
        return [t for t in things if kind_prefix(t) in self.kinds]


# mark=false: reading the inbox must not mark the account's unread messages as read.
MESSAGE_LISTINGS = (
    Listing(INBOX, "/message/inbox", frozenset({"t4"}), {"mark": "false"}),
    Listing(SENT, "/message/sent", frozenset({"t4"}), {"mark": "false"}),
)


class RedditSettings(ConnectorSettings):
    base_url: str = Field(
        "https://oauth.reddit.com", description="OAuth API root (any test server too)"
    )
    username: str | None = Field(
        None, description="Reddit username (no u/); the account handle when unset"
    )
    app_id: str = Field(
        "social-archiver",
        description="Your app's name or client id, for the User-Agent Reddit's API rules ask for",
    )
    page_limit: int = Field(
        100, ge=1, le=100, description="Things per request (Reddit caps at 100)"
    )
    capture_submissions: bool = Field(True, description="Archive the account's submissions")
    capture_comments: bool = Field(True, description="Archive the account's comments")
    capture_messages: bool = Field(
        True,
        description="Archive received and sent private messages (scope privatemessages)",
    )


class RedditConnector(Connector):
    name = "reddit"
    version = "1.0.0"
    settings_model = RedditSettings

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        super().__init__(account, context)
        self.options: RedditSettings = self.settings  # type: ignore[assignment]
        self.username = self.options.username or _handle_username(account.handle)

    # -- plumbing ---------------------------------------------------------------------
    @property
    def user_agent(self) -> str:
        """Reddit's API rules: <platform>:<app ID>:<version string> (by /u/<username>)."""
        return f"python:{self.options.app_id}:{self.version} (by /u/{self.username})"

    def client_options(self) -> dict[str, Any]:
        """Reddit's API rules ask every client to name itself in its User-Agent."""
        return {"user_agent_suffix": self.user_agent}

    def _listing(self, path: str, **params: Any) -> tuple[Things, dict[str, Any], HttpResult]:
        """One page of a Listing: its things (as data dicts), the listing data, the result."""
        query = {"raw_json": 1, **{k: v for k, v in params.items() if v is not None}}
        result = self.client.get_json(path, params=query)
        data = result.data.get("data") if isinstance(result.data, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("children"), list):
            raise RetriableError(f"GET {result.url}: expected a Listing, got {result.data!r:.200}")
        things = [
            child["data"]
            for child in data["children"]
            if isinstance(child, dict)
            and isinstance(child.get("data"), dict)
            and child.get("kind") in KINDS
        ]
        return things, data, result

    # -- fetch ------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Output:
        user = f"/user/{quote(self.username, safe='')}"
        new_first = {"sort": "new"}
        if self.options.capture_submissions:
            listing = Listing(SUBMITTED, f"{user}/submitted", frozenset({"t3"}), new_first)
            yield from self._stream(listing, cursor)
        if self.options.capture_comments:
            listing = Listing(COMMENTS, f"{user}/comments", frozenset({"t1"}), new_first)
            yield from self._stream(listing, cursor)
        if self.options.capture_messages:
            for listing in MESSAGE_LISTINGS:
                try:
                    yield from self._stream(listing, cursor)
                except CredentialsError as exc:
                    if exc.status != 403:
                        raise
                    raise FatalError(
                        f"{exc}; private messages need the OAuth scope privatemessages: "
                        "grant it, or set capture_messages = false"
                    ) from exc

    def _stream(self, listing: Listing, cursor: Mapping[str, str]) -> Output:
        walk = cursor.get(listing.stream + WALK_SUFFIX)
        newest = cursor.get(listing.stream)
        if walk:
            top, after, stop = (walk.split("|") + ["", "", ""])[:3]
            yield from self._walk_down(listing, top or None, after or None, stop or None)
            return
        if not newest:
            yield from self._walk_down(listing, None, None, None)
            return
        found = yield from self._walk_up(listing, newest)
        if not found and self._newer_exists(listing, newest):
            yield from self._walk_down(listing, None, None, newest)

    def _walk_down(
        self, listing: Listing, top: str | None, after: str | None, stop: str | None
    ) -> Output:
        """Newest to oldest (after=), stopping at `stop` (exclusive) or the listing's end."""
        key = listing.stream + WALK_SUFFIX
        resumed = after is not None
        while True:
            things, data, result = self._listing(
                listing.path, **listing.params, limit=self.options.page_limit, after=after
            )
            if not things and resumed:
                # The after= anchor is gone (deleted): start again from the top; what was
                # already archived comes back unchanged.
                resumed, after = False, None
                continue
            resumed = False
            kept = listing.archived(things)
            fresh = [t for t in kept if stop is None or id36(t["name"]) > id36(stop)]
            if top is None and fresh:
                top = str(fresh[0]["name"])
            yield from self._page(fresh, result, "listing")
            next_after = data.get("after")
            if len(fresh) < len(kept) or not things or not next_after:
                break
            after = str(next_after)
            yield CursorUpdate(key, f"{top or ''}|{after}|{stop or ''}")
        newest = top or stop
        if newest:
            yield CursorUpdate(listing.stream, newest)
        yield CursorUpdate(key, "")  # done: the next run walks up from the newest

    def _walk_up(self, listing: Listing, newest: str) -> Generator[Any, None, bool]:
        """Pages newer than `newest` (before=), oldest page first; True if any came.
        Pages go by whatever the listing holds; the cursor only by archived kinds."""
        found = False
        limit = self.options.page_limit
        before = newest
        while True:
            things, _, result = self._listing(
                listing.path, **listing.params, limit=limit, before=before
            )
            if not things:
                return found
            found = True
            kept = listing.archived(things)
            yield from self._page(kept, result, "listing")
            before = str(things[0]["name"])
            if kept:
                yield CursorUpdate(listing.stream, str(kept[0]["name"]))
            if len(things) < limit:
                return found

    def _newer_exists(self, listing: Listing, newest: str) -> bool:
        """Whether the listing's top is newer than `newest`; a top of another kind cannot
        be compared by id, so it counts as newer (the walk down then stops at `newest`)."""
        things, _, _ = self._listing(listing.path, **listing.params, limit=1)
        if not things:
            return False
        top = things[0]
        return kind_prefix(top) not in listing.kinds or id36(top["name"]) > id36(newest)

    def _page(self, things: Things, result: HttpResult, source: str) -> Iterator[CapturedItem]:
        for thing in reversed(things):  # listings are newest first; archive oldest first
            yield self._item(thing, result, source)

    # -- items ------------------------------------------------------------------------
    def _item(self, thing: Mapping[str, Any], result: HttpResult, source: str) -> CapturedItem:
        kind = KINDS[kind_prefix(thing)]
        marker = deletion_marker(thing)
        if marker is not None:
            field, value = marker
            return self._tombstone(
                str(thing["name"]),
                kind,
                {"marker": value, "field": field, "author": thing.get("author"), "source": source},
                raw=thing,
                request_url=result.url,
            )
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=str(thing["name"]),
            kind=kind,
            content=normalise(thing),
            raw=thing,
            capture=self._capture(result),
            attachments=attachments(thing),
        )

    def _tombstone(
        self,
        native_id: str,
        kind: str,
        evidence: Mapping[str, Any],
        *,
        raw: Any,
        request_url: str,
    ) -> CapturedItem:
        observed = self.context.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=native_id,
            kind=kind,
            content={**evidence, "observed_at": observed, "request_url": request_url},
            raw=raw,
            capture=CaptureContext(
                connector=self.name, connector_version=self.version, request_url=request_url
            ),
            deleted=True,
        )

    def _capture(self, result: HttpResult) -> CaptureContext:
        return CaptureContext(
            connector=self.name,
            connector_version=self.version,
            request_url=result.url,
            response_headers=result.headers,
        )

    # -- reconcile --------------------------------------------------------------------
    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        """Current state of every archived thing via /api/info (100 at a time); a thing
        the answer leaves out, or serves as [deleted]/[removed], becomes a tombstone."""
        wanted = [a for a in archived if kind_prefix({"name": a.native_id}) in INFO_KINDS]
        for start in range(0, len(wanted), INFO_BATCH):
            batch = wanted[start : start + INFO_BATCH]
            names = [a.native_id for a in batch]
            things, _, result = self._listing("/api/info", id=",".join(names))
            found = {str(t.get("name")): t for t in things}
            for item in batch:
                thing = found.get(item.native_id)
                if thing is not None:
                    yield self._item(thing, result, "info")
                    continue
                yield self._tombstone(
                    item.native_id,
                    item.kind,
                    {"marker": "missing", "field": None, "author": None, "source": "info"},
                    raw={"requested": item.native_id, "returned": sorted(found)},
                    request_url=result.url,
                )


def _handle_username(handle: str) -> str:
    """'u/name', '/u/name', '@name' or 'name' -> 'name'."""
    name = handle.strip().lstrip("@/")
    return name[2:] if name.lower().startswith("u/") else name
