"""The Mastodon connector: an account's statuses, replies to them, DMs, edits and deletions.

Streams (cursor keys; values are Mastodon ids, compared only by the server):
  - "statuses": the newest status captured. Without it the first run backfills from
    the newest status down (max_id from the Link header's rel="next"), checkpointing
    progress in "statuses_backfill" ("<newest>:<oldest so far>") so a failed backfill
    resumes where it stopped; only once it reaches the end is "statuses" set.
    After that, capture walks forward with min_id (rel="prev"), oldest page first, and
    every page's CursorUpdate is safe to store: nothing older is left behind.
  - "conversations" / "conversations_backfill": the same for GET /api/v1/conversations,
    which Mastodon pages by each conversation's last_status id.
Replies by others to the account's statuses come from GET /statuses/:id/context;
edits from edited_at plus GET /statuses/:id/history; deletions from a 404 in reconcile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import Field

from archiver.errors import RetriableError
from archiver.item import CaptureContext, CapturedItem
from connectors.base import (
    Account,
    ArchivedItem,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    CursorUpdate,
)
from connectors.http import HttpResult, NotFound, decode_json

from .normalise import attachments, normalise, status_kind

STATUSES = "statuses"
CONVERSATIONS = "conversations"
BACKFILL_SUFFIX = "_backfill"
CONTEXT_KEYS = ("thread_id", "conversation_id", "participants")
"""Content keys only a listing or a context request knows; reconcile carries them over."""

Page = list[dict[str, Any]]
Output = Iterator[CapturedItem | CursorUpdate]


class MastodonSettings(ConnectorSettings):
    account_id: str | None = Field(
        None, description="The account's id; learnt from verify_credentials when unset"
    )
    page_limit: int = Field(40, ge=1, le=40, description="Items per request (Mastodon caps at 40)")
    capture_replies: bool = Field(True, description="Archive others' replies to our statuses")
    capture_dms: bool = Field(True, description="Archive direct messages (conversations)")


class _AllVersions:
    """`since` for a status seen for the first time: every history entry is new."""


ALL_VERSIONS = _AllVersions()


class MastodonConnector(Connector):
    name = "mastodon"
    version = "1.0.0"
    settings_model = MastodonSettings

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        super().__init__(account, context)
        self.options: MastodonSettings = self.settings  # type: ignore[assignment]
        self._own_id: str | None = self.options.account_id

    # -- plumbing ---------------------------------------------------------------------
    def own_account_id(self) -> str:
        if self._own_id is None:
            result = self.client.get_json("/api/v1/accounts/verify_credentials")
            self._own_id = str(result.data["id"])
        return self._own_id

    def _get(self, path: str, **params: Any) -> HttpResult:
        return self.client.get_json(path, params={k: v for k, v in params.items() if v})

    # -- fetch ------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Output:
        own_id = self.own_account_id()
        yield from self._walk(
            f"/api/v1/accounts/{quote(own_id, safe='')}/statuses",
            STATUSES,
            cursor,
            _status_key,
            self._status_page,
        )
        if self.options.capture_dms:
            yield from self._walk(
                "/api/v1/conversations",
                CONVERSATIONS,
                cursor,
                _conversation_key,
                self._conversation_page,
            )

    def _walk(
        self,
        path: str,
        stream: str,
        cursor: Mapping[str, str],
        key: Callable[[Mapping[str, Any]], str | None],
        handle_page: Callable[[Page, HttpResult], Output],
    ) -> Output:
        """Backfill (newest to oldest) until done, then walk forward from the newest."""
        limit = self.options.page_limit
        newest = cursor.get(stream)
        if not newest:
            progress = cursor.get(stream + BACKFILL_SUFFIX) or ""
            top, _, max_id = progress.partition(":")
            top_id: str | None = top or None
            while True:
                result = self._get(path, limit=limit, max_id=max_id or None)
                page = _page(result)
                if not page:
                    break
                top_id = top_id or key(page[0])
                yield from handle_page(page, result)
                next_max_id = _link_param(result, "next", "max_id")
                oldest = next_max_id or key(page[-1])
                if top_id and oldest:
                    yield CursorUpdate(stream + BACKFILL_SUFFIX, f"{top_id}:{oldest}")
                if not next_max_id:
                    break  # Mastodon sends rel="next" only while pages come back full
                max_id = next_max_id
            if not top_id:
                return  # nothing there yet: the next run backfills again (one request)
            yield CursorUpdate(stream, top_id)
            newest = top_id
        while True:
            result = self._get(path, limit=limit, min_id=newest)
            page = _page(result)
            if not page:
                break
            yield from handle_page(page, result)
            newest = _link_param(result, "prev", "min_id") or key(page[0]) or newest
            yield CursorUpdate(stream, newest)
            if "prev" not in result.links:
                break

    def _status_page(self, page: Page, result: HttpResult) -> Iterator[CapturedItem]:
        for status in reversed(page):  # Mastodon lists newest first; archive oldest first
            if status.get("visibility") == "direct":
                continue  # captured through conversations, with their participants
            yield from self._own_status(status, result)

    def _own_status(self, status: Mapping[str, Any], result: HttpResult) -> Iterator[CapturedItem]:
        """One of the account's statuses (first sighting), then others' replies to it.
        The context also names a reply's thread root, so it is fetched for those too."""
        wants_replies = self.options.capture_replies and (status.get("replies_count") or 0) > 0
        context = None
        if status.get("in_reply_to_id") or wants_replies:
            context = self._context(str(status["id"]))
        extra = {"thread_id": _thread_root(status, context)}
        yield from self._versions(status, status_kind(status), extra, result, since=ALL_VERSIONS)
        if wants_replies and context is not None:
            yield from self._replies(status, context)

    def _replies(self, status: Mapping[str, Any], context: HttpResult) -> Iterator[CapturedItem]:
        """Descendants by others that answer one of our statuses in this thread."""
        own_id = self.own_account_id()
        descendants = [d for d in context.data.get("descendants") or [] if isinstance(d, dict)]
        ours = {str(status["id"])} | {str(d["id"]) for d in descendants if _author_id(d) == own_id}
        root = _thread_root(status, context)
        for reply in descendants:
            if _author_id(reply) == own_id:
                continue  # our own statuses come from the statuses stream
            if str(reply.get("in_reply_to_id")) not in ours:
                continue  # a reply to someone else in the thread, not to us
            if reply.get("visibility") == "direct":
                continue  # a private reply is a DM: the conversations stream has it
            yield from self._versions(
                reply, "reply", {"thread_id": root}, context, since=ALL_VERSIONS
            )

    def _conversation_page(self, page: Page, result: HttpResult) -> Iterator[CapturedItem]:
        for conversation in reversed(page):
            last = conversation.get("last_status")
            if not isinstance(last, Mapping) or last.get("visibility") != "direct":
                continue
            conversation_id = str(conversation.get("id"))
            extra = {
                "thread_id": conversation_id,
                "conversation_id": conversation_id,
                "participants": sorted(
                    str(a.get("acct")) for a in conversation.get("accounts") or []
                ),
            }
            # Earlier messages of the thread: the listing only shows the last one.
            context = self._context(str(last["id"]))
            if context is not None:
                for earlier in context.data.get("ancestors") or []:
                    if earlier.get("visibility") == "direct":
                        yield from self._versions(earlier, "dm", extra, context, since=ALL_VERSIONS)
            yield from self._versions(last, "dm", extra, result, since=ALL_VERSIONS)

    def _context(self, status_id: str) -> HttpResult | None:
        try:
            return self.client.get_json(f"/api/v1/statuses/{quote(status_id, safe='')}/context")
        except NotFound:
            return None  # deleted since it was listed: reconcile will record that

    # -- versions ---------------------------------------------------------------------
    def _versions(
        self,
        status: Mapping[str, Any],
        kind: str,
        extra: Mapping[str, Any],
        result: HttpResult,
        *,
        since: object,
    ) -> Iterator[CapturedItem]:
        """History entries newer than `since` (oldest first), then the current status.

        `since` is the archived edited_at (None: the original is archived) or
        ALL_VERSIONS for a status seen for the first time.
        """
        edited_at = status.get("edited_at")
        history = self._history(str(status["id"])) if edited_at and edited_at != since else None
        if history is not None and isinstance(history.data, list):
            for index, entry in enumerate(history.data):
                version_edited_at = entry.get("created_at") if index else None
                if since is not ALL_VERSIONS and not _is_newer(version_edited_at, since):
                    continue
                yield dataclasses.replace(
                    self._item(status, kind, extra, history, entry, version_edited_at),
                    historical=True,
                )
        yield self._item(status, kind, extra, result, None, edited_at)

    def _history(self, status_id: str) -> HttpResult | None:
        try:
            return self.client.get_json(f"/api/v1/statuses/{quote(status_id, safe='')}/history")
        except NotFound:
            return None

    def _item(
        self,
        status: Mapping[str, Any],
        kind: str,
        extra: Mapping[str, Any],
        result: HttpResult,
        version: Mapping[str, Any] | None,
        edited_at: str | None,
    ) -> CapturedItem:
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=str(status["id"]),
            kind=kind,
            content=normalise(status, version, edited_at=edited_at, extra=extra),
            raw=version if version is not None else status,
            capture=self._capture(result),
            attachments=attachments(status, version),
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
        """Per archived item: a tombstone on 404/410, else the versions since the archived
        one and the current state; for our own statuses, also replies that arrived since."""
        own_id = self.own_account_id()
        for item in archived:
            path = f"/api/v1/statuses/{quote(item.native_id, safe='')}"
            try:
                result = self.client.get_json(path)
            except NotFound as gone:
                yield self._tombstone(item, gone)
                continue
            status = result.data
            extra = {k: item.content[k] for k in CONTEXT_KEYS if k in item.content}
            since = item.content.get("edited_at")
            yield from self._versions(status, item.kind, extra, result, since=since)
            late_replies = (
                self.options.capture_replies
                and _author_id(status) == own_id
                and status.get("visibility") != "direct"
                and (status.get("replies_count") or 0) > 0
            )
            context = self._context(item.native_id) if late_replies else None
            if context is not None:
                yield from self._replies(status, context)

    def _tombstone(self, item: ArchivedItem, gone: NotFound) -> CapturedItem:
        body = gone.body.decode("utf-8", errors="surrogateescape")
        try:
            raw: Any = decode_json(gone.body)
        except ValueError:
            raw = body
        observed = self.context.now().astimezone(UTC)
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=item.native_id,
            kind=item.kind,
            content={
                "status": gone.status,
                "body": body,
                "observed_at": _rfc3339(observed),
                "request_url": gone.url,
            },
            raw=raw,
            capture=CaptureContext(
                connector=self.name, connector_version=self.version, request_url=gone.url
            ),
            deleted=True,
        )


# -- helpers --------------------------------------------------------------------------
def _page(result: HttpResult) -> Page:
    data = result.data
    if data is None:
        return []
    if not isinstance(data, list):
        raise RetriableError(f"GET {result.url}: expected a JSON array, got {type(data).__name__}")
    return [entry for entry in data if isinstance(entry, dict)]


def _status_key(status: Mapping[str, Any]) -> str | None:
    value = status.get("id")
    return str(value) if value is not None else None


def _conversation_key(conversation: Mapping[str, Any]) -> str | None:
    """Mastodon pages conversations by their last status's id, not their own."""
    last = conversation.get("last_status")
    return _status_key(last) if isinstance(last, Mapping) else None


def _author_id(status: Mapping[str, Any]) -> str:
    return str((status.get("account") or {}).get("id"))


def _link_param(result: HttpResult, rel: str, name: str) -> str | None:
    """A paging parameter from the Link header. The URL itself is not followed: the
    request is rebuilt on base_url, so a misconfigured host in a link cannot receive
    the token."""
    link = result.links.get(rel)
    if not link or not link.get("url"):
        return None
    values = parse_qs(urlsplit(link["url"]).query).get(name)
    return values[0] if values else None


def _thread_root(status: Mapping[str, Any], context: HttpResult | None) -> str | None:
    if not status.get("in_reply_to_id"):
        return str(status["id"])
    ancestors = (context.data.get("ancestors") if context is not None else None) or []
    return str(ancestors[0]["id"]) if ancestors else None


def _is_newer(edited_at: str | None, since: object) -> bool:
    """Whether a history entry postdates the archived version (edited_at `since`)."""
    if edited_at is None:
        return False  # the original: archived already
    if since is None:
        return True
    return _parse_time(edited_at) > _parse_time(str(since))


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
