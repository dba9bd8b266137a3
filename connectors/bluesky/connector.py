"""The Bluesky connector: an account's posts, replies, reposts and DMs, and their deletions.

Views and streams (each stream has its own cursor, saved by the framework):
  - "feed": app.bsky.feed.getAuthorFeed (filter posts_with_replies) from the AppView:
    posts, replies and reposts as the network shows them, with media URLs;
  - "records": com.atproto.repo.listRecords (app.bsky.feed.post) from the PDS: the
    account's own post records, including any the AppView does not show (not yet
    indexed, taken down, or hidden). Merged by uri: a post yielded from the feed in
    this run is not yielded again from its record;
  - "dm:<convoId>": chat.bsky.convo.getMessages per conversation from listConvos,
    through the PDS's chat proxy (see xrpc.CHAT_PROXY).

All three lists run newest first and their platform cursors only go backwards, so
incremental capture walks back from the top until it meets the newest item of the
last complete walk (`since`, a sortable time or record key) and stops there; an item
exactly at `since` is yielded again, which is harmless (the framework finds it
unchanged) and never loses one indexed in the same millisecond. A walk can span many
pages, and only a finished walk may move `since`, or a failure half-way would skip the
unread pages; so the stored value is JSON {"since", "newest", "page"}: after each page
it records the walk in progress (its next page cursor and the newest key seen), and the
next run first finishes that walk, then starts a fresh one from the top.

Edits of old posts (a new cid for the same uri) and deletions are found by `reconcile`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any, ClassVar

from pydantic import Field

from archiver.errors import FatalError
from archiver.item import CaptureContext, CapturedItem
from connectors.base import (
    Account,
    ArchivedItem,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    CursorUpdate,
)
from connectors.http import CredentialsError, HttpResult, HttpStatusError

from . import normalise as bsky
from .xrpc import CHAT_HEADERS, XrpcSession, xrpc_error

FEED = "feed"
RECORDS = "records"
DM_PREFIX = "dm:"
GET_POSTS_MAX = 25  # app.bsky.feed.getPosts: uris maxLength
NOT_FOUND_ERRORS = frozenset({"NotFound", "RecordNotFound"})


class BlueskySettings(ConnectorSettings):
    """Bluesky account settings: base_url is the account's PDS (or https://bsky.social),
    token_env names the variable holding an app password (never the main password)."""

    chat_enabled: bool = Field(
        True,
        description="Capture DMs (the app password must allow direct messages)",
    )
    page_limit: int = Field(50, ge=1, le=100, description="Items per request (API maximum 100)")


@dataclass(frozen=True)
class WalkState:
    """A stream's stored cursor: see the module docstring."""

    since: str | None = None
    newest: str | None = None
    page: str | None = None

    @classmethod
    def decode(cls, value: str | None) -> WalkState:
        if not value:
            return cls()
        try:
            data = json.loads(value)
        except ValueError:
            return cls(since=value)  # a bare resume point, e.g. set by an operator
        if not isinstance(data, Mapping):
            return cls(since=value)
        return cls(
            *(
                data.get(k) if isinstance(data.get(k), str) else None
                for k in ("since", "newest", "page")
            )
        )

    def encode(self) -> str:
        data = {"since": self.since, "newest": self.newest, "page": self.page}
        return json.dumps({k: v for k, v in data.items() if v is not None}, sort_keys=True)


@dataclass
class Page:
    """One response of a backward list: (sort key, items) per entry, and the next cursor."""

    entries: list[tuple[str | None, list[CapturedItem]]] = field(default_factory=list)
    next_cursor: str | None = None


def _later(a: str | None, b: str | None) -> str | None:
    return max(k for k in (a, b) if k is not None) if (a or b) else None


class BlueskyConnector(Connector):
    name: ClassVar[str] = "bluesky"
    version: ClassVar[str] = "1.0.0"
    settings_model: ClassVar[type[ConnectorSettings]] = BlueskySettings

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        super().__init__(account, context)
        self.handle = account.handle.lstrip("@")
        self._xrpc: XrpcSession | None = None
        self._seen: set[str] = set()

    @property
    def options(self) -> BlueskySettings:
        return self.settings  # type: ignore[return-value]  # coerced by Connector

    # -- plumbing -----------------------------------------------------------------------
    @property
    def xrpc(self) -> XrpcSession:
        if self._xrpc is None:
            password = self.settings.secret()
            self._client = self.context.make_client()
            self._xrpc = XrpcSession(
                self._client, self.handle, password, password_env=self.settings.token_env or ""
            )
            self._xrpc.login()
        return self._xrpc

    def close(self) -> None:
        super().close()
        self._xrpc = None

    def _capture(self, result: HttpResult | None = None, url: str | None = None) -> CaptureContext:
        return CaptureContext(
            connector=self.name,
            connector_version=self.version,
            request_url=result.url if result is not None else url,
            response_headers=dict(result.headers) if result is not None else {},
        )

    def _item(
        self,
        native_id: str,
        kind: str,
        content: Mapping[str, Any],
        raw: Any,
        capture: CaptureContext,
        *,
        deleted: bool = False,
    ) -> CapturedItem:
        media = [] if deleted else content.get("media") or []
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=native_id,
            kind=kind,
            content=content,
            raw=raw,
            capture=capture,
            deleted=deleted,
            attachments=bsky.attachments(media),
        )

    def _observed_at(self) -> str:
        return self.context.now().astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _evidence(
        self, status: int, body: str, request_url: str | None, reason: str, **extra: Any
    ) -> dict[str, Any]:
        """What a tombstone's content holds: how we know the item is gone."""
        return {
            "status": status,
            "body": body,
            "observed_at": self._observed_at(),
            "request_url": request_url,
            "reason": reason,
            **extra,
        }

    # -- fetch --------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Iterator[CapturedItem | CursorUpdate]:
        self._seen = set()
        yield from self._walk(FEED, cursor.get(FEED), self._feed_page)
        yield from self._walk(RECORDS, cursor.get(RECORDS), self._records_page)
        if self.options.chat_enabled:
            for convo in self._convos():
                stream = f"{DM_PREFIX}{convo.get('id')}"
                load = self._messages_loader(convo)
                yield from self._walk(stream, cursor.get(stream), load)

    def _walk(
        self, stream: str, stored: str | None, load: Callable[[str | None], Page]
    ) -> Iterator[CapturedItem | CursorUpdate]:
        """Walk a newest-first list back to `since`; resumable after any page."""
        state = WalkState.decode(stored)
        while True:
            resuming = state.page is not None
            page_cursor, newest = state.page, state.newest
            while True:
                page = load(page_cursor)
                reached = False
                for key, items in page.entries:
                    if key is not None and state.since is not None and key < state.since:
                        reached = True
                        break
                    newest = _later(newest, key)
                    yield from items
                if reached or not page.next_cursor or not page.entries:
                    break
                page_cursor = page.next_cursor
                yield CursorUpdate(stream, WalkState(state.since, newest, page_cursor).encode())
            state = WalkState(since=_later(state.since, newest))
            yield CursorUpdate(stream, state.encode())
            if not resuming:
                return

    def _feed_page(self, page_cursor: str | None) -> Page:
        params: dict[str, Any] = {
            "actor": self.xrpc.did,
            "filter": "posts_with_replies",
            "limit": self.options.page_limit,
        }
        if page_cursor:
            params["cursor"] = page_cursor
        result = self.xrpc.query("app.bsky.feed.getAuthorFeed", params)
        data = result.data if isinstance(result.data, Mapping) else {}
        page = Page(next_cursor=data.get("cursor") or None)
        for entry in data.get("feed") or []:
            if not isinstance(entry, Mapping):
                continue
            item = self._feed_item(entry, result)
            page.entries.append((bsky.feed_sort_key(entry), [item] if item else []))
        return page

    def _feed_item(self, entry: Mapping[str, Any], result: HttpResult) -> CapturedItem | None:
        post = entry.get("post") or {}
        reason = entry.get("reason") or {}
        capture = self._capture(result)
        if bsky.type_of(reason) == bsky.REASON_REPOST:
            native_id = bsky.repost_native_id(entry)
            if native_id in self._seen:
                return None
            self._seen.add(native_id)
            return self._item(native_id, "post", bsky.repost_content(entry), entry, capture)
        uri = post.get("uri")
        if not isinstance(uri, str) or not uri or uri in self._seen:
            return None
        if (post.get("author") or {}).get("did") != self.xrpc.did:
            return None  # not the account's own post and not its repost
        self._seen.add(uri)
        kind = bsky.post_kind(post.get("record") or {})
        return self._item(uri, kind, bsky.post_view_content(post), entry, capture)

    def _records_page(self, page_cursor: str | None) -> Page:
        params: dict[str, Any] = {
            "repo": self.xrpc.did,
            "collection": bsky.POST_COLLECTION,
            "limit": self.options.page_limit,
        }
        if page_cursor:
            params["cursor"] = page_cursor
        result = self.xrpc.query("com.atproto.repo.listRecords", params)
        data = result.data if isinstance(result.data, Mapping) else {}
        page = Page(next_cursor=data.get("cursor") or None)
        for entry in data.get("records") or []:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("uri"), str):
                continue
            uri = str(entry["uri"])
            parts = bsky.split_at_uri(uri)
            key = parts[2] if parts else None  # rkeys are TIDs: string order is time order
            if uri in self._seen:
                page.entries.append((key, []))
                continue
            self._seen.add(uri)
            content = bsky.record_content(
                entry, handle=self.handle, did=self.xrpc.did, service=self.settings.base_url
            )
            kind = bsky.post_kind(entry.get("value") or {})
            page.entries.append(
                (key, [self._item(uri, kind, content, entry, self._capture(result))])
            )
        return page

    # -- chat ---------------------------------------------------------------------------
    def _chat(self, nsid: str, params: Mapping[str, Any]) -> HttpResult:
        try:
            return self.xrpc.query(nsid, params, headers=CHAT_HEADERS)
        except CredentialsError as exc:
            raise FatalError(
                f"Bluesky refused DM access for {self.handle}: the app password must allow "
                "direct messages (create one with 'Allow access to your direct messages'), "
                f"or set chat_enabled: false for this account; server said: {exc}"
            ) from None

    def _convos(self) -> Iterator[Mapping[str, Any]]:
        page_cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.options.page_limit}
            if page_cursor:
                params["cursor"] = page_cursor
            data = self._chat("chat.bsky.convo.listConvos", params).data or {}
            convos = [c for c in data.get("convos") or [] if isinstance(c, Mapping) and c.get("id")]
            yield from convos
            page_cursor = data.get("cursor") or None
            if not page_cursor or not convos:
                return

    def _messages_loader(self, convo: Mapping[str, Any]) -> Callable[[str | None], Page]:
        def load(page_cursor: str | None) -> Page:
            result = self._messages(str(convo["id"]), page_cursor)
            data = result.data if isinstance(result.data, Mapping) else {}
            page = Page(next_cursor=data.get("cursor") or None)
            for message in data.get("messages") or []:
                if not isinstance(message, Mapping):
                    continue
                item = self._message_item(message, convo, result)
                page.entries.append((bsky.time_key(message.get("sentAt")), [item] if item else []))
            return page

        return load

    def _messages(self, convo_id: str, page_cursor: str | None) -> HttpResult:
        params: dict[str, Any] = {"convoId": convo_id, "limit": self.options.page_limit}
        if page_cursor:
            params["cursor"] = page_cursor
        return self._chat("chat.bsky.convo.getMessages", params)

    def _message_item(
        self, message: Mapping[str, Any], convo: Mapping[str, Any], result: HttpResult
    ) -> CapturedItem | None:
        kind = bsky.type_of(message)
        if not message.get("id") or kind not in (bsky.MESSAGE_VIEW, bsky.DELETED_MESSAGE_VIEW):
            return None  # system messages (member joined, convo locked...) carry no content
        native_id = bsky.dm_native_id(str(convo["id"]), str(message["id"]))
        if kind == bsky.MESSAGE_VIEW:
            content = bsky.message_content(message, convo)
            return self._item(native_id, "dm", content, message, self._capture(result))
        return self._item(
            native_id,
            "dm",
            self._evidence(
                result.status,
                bsky.evidence_body(message),
                result.url,
                "deletedMessageView",
                conversation_id=convo.get("id"),
                author_did=(message.get("sender") or {}).get("did"),
                created_at=message.get("sentAt"),
            ),
            message,
            self._capture(result),
            deleted=True,
        )

    # -- reconcile ----------------------------------------------------------------------
    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        """Posts: getPosts in batches, and getPostThread for any it leaves out (the
        confirmation, and the evidence). Reposts: getRecord on the repost record.
        DMs: getMessages back to the oldest archived message of each conversation."""
        posts: list[ArchivedItem] = []
        reposts: list[ArchivedItem] = []
        dms: dict[str, list[ArchivedItem]] = {}
        for item in archived:
            parts = bsky.split_at_uri(item.native_id)
            dm = bsky.parse_dm_native_id(item.native_id)
            if parts and parts[1] == bsky.POST_COLLECTION:
                posts.append(item)
            elif parts and parts[1] == bsky.REPOST_COLLECTION:
                reposts.append(item)
            elif dm and self.options.chat_enabled:
                dms.setdefault(dm[0], []).append(item)
        for start in range(0, len(posts), GET_POSTS_MAX):
            yield from self._reconcile_posts(posts[start : start + GET_POSTS_MAX])
        for repost in reposts:
            yield from self._reconcile_repost(repost)
        if dms:
            convos = {str(c["id"]): c for c in self._convos()}
            for convo_id, items in dms.items():
                yield from self._reconcile_convo(convo_id, items, convos)

    def _reconcile_posts(self, batch: list[ArchivedItem]) -> Iterator[CapturedItem]:
        result = self.xrpc.query("app.bsky.feed.getPosts", {"uris": [a.native_id for a in batch]})
        data = result.data if isinstance(result.data, Mapping) else {}
        found = {p.get("uri"): p for p in data.get("posts") or [] if isinstance(p, Mapping)}
        for archived in batch:
            post = found.get(archived.native_id)
            if post is not None:
                yield self._post_state(post, result)
            else:
                yield from self._confirm_post_gone(archived)

    def _post_state(self, post: Mapping[str, Any], result: HttpResult) -> CapturedItem:
        kind = bsky.post_kind(post.get("record") or {})
        content = bsky.post_view_content(post)
        return self._item(str(post["uri"]), kind, content, post, self._capture(result))

    def _confirm_post_gone(self, archived: ArchivedItem) -> Iterator[CapturedItem]:
        """getPosts left the post out: getPostThread gives the AppView's verdict and the
        evidence, and the PDS's repo (getRecord) the last word on the account's own posts,
        since the AppView also loses sight of posts that still exist (takedowns, lag)."""
        uri = archived.native_id
        try:
            result = self.xrpc.query(
                "app.bsky.feed.getPostThread", {"uri": uri, "depth": 0, "parentHeight": 0}
            )
        except HttpStatusError as exc:
            error, _ = xrpc_error(exc)
            if error not in NOT_FOUND_ERRORS:
                raise
            tombstone = self._tombstone(archived, exc, error)
        else:
            data = result.data if isinstance(result.data, Mapping) else {}
            thread = data.get("thread") or {}
            kind = bsky.type_of(thread)
            if kind == bsky.THREAD_VIEW_POST and isinstance(thread.get("post"), Mapping):
                yield self._post_state(thread["post"], result)  # left out, yet it is there
                return
            if kind != bsky.NOT_FOUND_POST and thread.get("notFound") is not True:
                return  # blockedPost or unknown: no verdict either way
            evidence = self._evidence(
                result.status, bsky.evidence_body(data), result.url, "notFoundPost"
            )
            tombstone = self._item(
                uri, archived.kind, evidence, data, self._capture(result), deleted=True
            )
        yield from self._unless_in_repo(archived, tombstone)

    def _unless_in_repo(
        self, archived: ArchivedItem, tombstone: CapturedItem
    ) -> Iterator[CapturedItem]:
        parts = bsky.split_at_uri(archived.native_id)
        if parts is None or parts[0] != self.xrpc.did:
            yield tombstone  # not the account's repo: the AppView's word is all we have
            return
        repo, collection, rkey = parts
        try:
            result = self.xrpc.query(
                "com.atproto.repo.getRecord", {"repo": repo, "collection": collection, "rkey": rkey}
            )
        except HttpStatusError as exc:
            error, _ = xrpc_error(exc)
            if error not in NOT_FOUND_ERRORS:
                raise
            confirmed = {
                "status": exc.status,
                "body": exc.body.decode("utf-8", errors="replace"),
                "request_url": exc.url,
                "reason": error,
            }
            yield replace(tombstone, content={**tombstone.content, "confirmed_by": confirmed})
            return
        entry = result.data if isinstance(result.data, Mapping) else {}
        if entry.get("cid") == archived.content.get("cid"):
            return  # the same signed record (same cid): unchanged, only out of the AppView
        content = bsky.record_content(
            entry, handle=self.handle, did=repo, service=self.settings.base_url
        )
        kind = bsky.post_kind(entry.get("value") or {})
        yield self._item(archived.native_id, kind, content, entry, self._capture(result))

    def _tombstone(self, archived: ArchivedItem, exc: HttpStatusError, error: str) -> CapturedItem:
        body = exc.body.decode("utf-8", errors="replace")
        try:
            raw: Any = json.loads(body)
        except ValueError:
            raw = body
        evidence = self._evidence(exc.status, body, exc.url, error)
        return self._item(
            archived.native_id,
            archived.kind,
            evidence,
            raw,
            self._capture(url=exc.url),
            deleted=True,
        )

    def _reconcile_repost(self, archived: ArchivedItem) -> Iterator[CapturedItem]:
        """A repost cannot be edited, only undone: getRecord says which."""
        parts = bsky.split_at_uri(archived.native_id)
        if parts is None:
            return
        repo, collection, rkey = parts
        try:
            self.xrpc.query(
                "com.atproto.repo.getRecord",
                {"repo": repo, "collection": collection, "rkey": rkey},
            )
        except HttpStatusError as exc:
            error, _ = xrpc_error(exc)
            if error not in NOT_FOUND_ERRORS:
                raise
            yield self._tombstone(archived, exc, error)

    def _reconcile_convo(
        self, convo_id: str, items: list[ArchivedItem], convos: Mapping[str, Mapping[str, Any]]
    ) -> Iterator[CapturedItem]:
        """Page back through a conversation until every archived message is accounted for:
        a messageView is its current state, a deletedMessageView or its absence (once we
        have read past the oldest archived message) a tombstone."""
        wanted: dict[str, ArchivedItem] = {}
        for archived in items:
            ids = bsky.parse_dm_native_id(archived.native_id)
            if ids is not None:
                wanted[ids[1]] = archived
        oldest = min(
            (k for k in (bsky.time_key(a.content.get("created_at")) for a in items) if k),
            default=None,
        )
        convo = convos.get(convo_id)  # None: not listed, so no members to name authors by
        page_cursor: str | None = None
        pages = 0
        last: HttpResult | None = None
        while wanted:
            try:
                result = self._messages(convo_id, page_cursor)
            except HttpStatusError as exc:
                error, _ = xrpc_error(exc)
                if error != "InvalidConvo":
                    raise
                for archived in wanted.values():  # the conversation is gone for this account
                    yield self._tombstone(archived, exc, error)
                return
            pages, last = pages + 1, result
            data = result.data if isinstance(result.data, Mapping) else {}
            keys = []
            for message in data.get("messages") or []:
                if not isinstance(message, Mapping):
                    continue
                keys.append(bsky.time_key(message.get("sentAt")))
                if str(message.get("id")) not in wanted:
                    continue
                deleted = bsky.type_of(message) == bsky.DELETED_MESSAGE_VIEW
                if convo is None and not deleted:
                    continue  # alive, but its content cannot be rebuilt the same way
                item = self._message_item(message, convo or {"id": convo_id}, result)
                if item is not None:
                    del wanted[str(message["id"])]
                    yield item
            page_cursor = data.get("cursor") or None
            read_past = oldest is not None and any(k is not None and k < oldest for k in keys)
            if not page_cursor or not keys or read_past:
                break
        if last is None or (convo is None and wanted):
            return
        for message_id, archived in wanted.items():
            body = bsky.evidence_body(
                {"convoId": convo_id, "messageId": message_id, "pagesRead": pages}
            )
            evidence = self._evidence(
                last.status,
                body,
                last.url,
                "absent from chat.bsky.convo.getMessages",
                conversation_id=convo_id,
            )
            yield self._item(
                archived.native_id,
                archived.kind,
                evidence,
                None,
                self._capture(last),
                deleted=True,
            )
