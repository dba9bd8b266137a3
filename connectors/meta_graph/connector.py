"""What the Facebook Pages and Instagram connectors share: the Graph client, items and
tombstones, conversations (Messenger and Instagram Direct share one Graph edge), and a
reconcile pass over containers (posts, media) and their comments.

A subclass says which object owns the account (the Page, the Instagram user), how its
containers and comments normalise, and where its timelines are; the rest is here.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC
from typing import Any, ClassVar
from urllib.parse import quote

from archiver.errors import FatalError
from archiver.item import Attachment, CaptureContext, CapturedItem
from connectors.base import Account, ArchivedItem, Connector, ConnectorContext, CursorUpdate
from connectors.http import HttpResult

from .graph import GraphApi, ObjectGone, Page
from .messages import CONVERSATION_FIELDS, MESSAGE_FIELDS, message_attachments, message_content
from .settings import GraphSettings
from .timeline import Output, unix_seconds, walk_newest_first

CONVERSATIONS = "conversations"
CONTAINER_KINDS = frozenset({"post", "reel", "story", "ad"})


class GraphConnector(Connector):
    settings_model: ClassVar[type[GraphSettings]] = GraphSettings
    dm_platform: ClassVar[str]  # the `platform` parameter of /{page}/conversations

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        super().__init__(account, context)
        self.options: GraphSettings = self.settings  # type: ignore[assignment]
        self._api: GraphApi | None = None
        self._dm_api: GraphApi | None = None

    # -- plumbing ---------------------------------------------------------------------
    @property
    def api(self) -> GraphApi:
        """Built on first use, so a missing token surfaces as FatalError from fetch."""
        if self._api is None:
            self._api = self._graph(self.options.secret())
        return self._api

    @property
    def dm_api(self) -> GraphApi:
        """The client for conversations: its own token when dm_token_env is set."""
        if not self.options.dm_token_env:
            return self.api
        if self._dm_api is None:
            token = self.options.secret(self.options.dm_token_env)
            self.api.client.scrubber.register(token)  # items are cleaned by the main client
            self._dm_api = self._graph(token)
        return self._dm_api

    def _graph(self, token: str) -> GraphApi:
        options = self.options
        app_secret = options.secret(options.app_secret_env) if options.app_secret_env else None
        client = self.bearer_client(
            token,
            base_url=options.api_root(),
            # Usage headers are percentages: "low" is what is left above the slowdown.
            throttle_low_fraction=(100 - options.usage_slowdown_percent) / 100,
        )
        return GraphApi(
            client,
            usage_slowdown_percent=options.usage_slowdown_percent,
            usage_window_seconds=options.usage_window_seconds,
            app_secret=app_secret,
            token=token,
        )

    def close(self) -> None:
        for api in (self._api, self._dm_api):
            if api is not None:
                api.client.close()
        self._api = self._dm_api = None

    def capture(self, result: HttpResult) -> CaptureContext:
        return CaptureContext(
            connector=self.name,
            connector_version=self.version,
            request_url=result.url,
            response_headers=result.headers,
        )

    def item(
        self,
        native_id: str,
        kind: str,
        content: Mapping[str, Any],
        raw: Any,
        result: HttpResult,
        attachments: Iterable[Attachment] = (),
    ) -> CapturedItem:
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=native_id,
            kind=kind,
            content=dict(content),
            raw=self.api.clean(raw),
            capture=self.capture(result),
            attachments=tuple(attachments),
        )

    def tombstone(self, archived: ArchivedItem, gone: ObjectGone) -> CapturedItem:
        observed = self.context.now().astimezone(UTC)
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=archived.native_id,
            kind=archived.kind,
            content={**gone.evidence(), "observed_at": _rfc3339(observed)},
            raw=gone.raw(),
            capture=CaptureContext(
                connector=self.name, connector_version=self.version, request_url=gone.url
            ),
            deleted=True,
        )

    # -- timelines (feed, media) ------------------------------------------------------
    def timeline(
        self, edge: str, fields: str, stream: str, cursor: Mapping[str, str], created_field: str
    ) -> Output:
        """The owner's `edge` walked newest first (timeline.py) as cursor `stream`, each
        container followed by its comments; a wrong owner id is fatal (owned_walk)."""
        return self.owned_walk(
            walk_newest_first(
                self.api,
                f"/{self.owner_path()}/{edge}",
                {"fields": fields, "limit": self.options.page_limit},
                stream,
                cursor,
                lambda obj: unix_seconds(obj.get(created_field)),
                self._timeline_page,
            )
        )

    def _timeline_page(self, page: Page) -> Iterator[CapturedItem]:
        for obj in reversed(page.objects):  # Graph lists newest first; archive oldest first
            if not obj.get("id"):
                continue
            yield self.container(obj, page.result)
            if self.options.capture_comments and self.may_have_comments(obj):
                try:
                    yield from self.comments(str(obj["id"]))
                except ObjectGone:
                    continue  # deleted since it was listed: reconcile records the tombstone

    @abstractmethod
    def container(self, obj: Mapping[str, Any], result: HttpResult) -> CapturedItem:
        """A post / media object as listed on a timeline."""

    @abstractmethod
    def may_have_comments(self, obj: Mapping[str, Any]) -> bool:
        """False only when the container's inline count says it has no comments, which
        saves one request per container."""

    @abstractmethod
    def comments(self, container_id: str, seen: set[str] | None = None) -> Iterator[CapturedItem]:
        """A container's comments and replies (adding their ids to `seen`); ObjectGone
        when the container is gone."""

    # -- conversations (DMs) ----------------------------------------------------------
    def conversations(self, owner_id: str, cursor: Mapping[str, str]) -> Output:
        """Conversations changed since the stored time (listed most recently updated
        first, so the walk stops at the first older one), each with its messages from
        then on. The stream's cursor is ``{"since": <unix seconds>}``: the newest update or
        message time seen, moved after a complete walk. A message at exactly `since` is
        read again (and ingested as unchanged) rather than risk missing one."""
        since = _since(cursor.get(CONVERSATIONS))
        newest = since
        params = {
            "platform": self.dm_platform,
            "fields": CONVERSATION_FIELDS,
            "limit": self.options.page_limit,
        }
        for page in self.dm_api.pages(f"/{owner_id}/conversations", params):
            reached_old = False
            for conversation in page.objects:
                updated = unix_seconds(conversation.get("updated_time"))
                if since is not None and updated is not None and updated < since:
                    reached_old = True
                    break
                if not conversation.get("id"):
                    continue
                try:
                    for message in self._messages(conversation, since):
                        newest = _later(newest, unix_seconds(message.content.get("created_at")))
                        yield message
                except ObjectGone:
                    continue  # deleted since it was listed
                newest = _later(newest, updated)
            if reached_old:
                break
        if newest is not None:
            yield CursorUpdate(CONVERSATIONS, json.dumps({"since": newest}, separators=(",", ":")))

    def _messages(
        self, conversation: Mapping[str, Any], since: int | None
    ) -> Iterator[CapturedItem]:
        conversation_id = str(conversation.get("id"))
        participants = _participants(conversation)
        budget = self.options.max_messages_per_conversation
        params = {"fields": MESSAGE_FIELDS, "limit": min(self.options.page_limit, budget)}
        collected: list[tuple[dict[str, Any], HttpResult]] = []
        path = f"/{quote(conversation_id, safe='')}/messages"
        for page in self.dm_api.pages(path, params):
            done = False
            for message in page.objects:
                created = unix_seconds(message.get("created_time"))
                if since is not None and created is not None and created < since:
                    done = True
                    break
                collected.append((message, page.result))
                if len(collected) >= budget:
                    done = True
                    break
            if done:
                break
        for message, result in reversed(collected):  # archive oldest first
            if not message.get("id"):
                continue
            yield self.item(
                str(message["id"]),
                "dm",
                message_content(message, conversation_id, participants),
                message,
                result,
                message_attachments(message),
            )

    def owned_walk(self, walk: Output) -> Output:
        """`walk` over one of the account's own edges (feed, media, conversations): Graph
        saying the owner does not exist means a wrong id or a token without access to
        it, which no retry fixes."""
        try:
            yield from walk
        except ObjectGone as gone:
            raise FatalError(
                f"{gone.url}: Graph cannot read the account's own object "
                f"({gone.info.message}); check the configured id and that the token "
                "still has access to it"
            ) from None

    # -- reconcile --------------------------------------------------------------------
    @abstractmethod
    def owner_path(self) -> str:
        """The object the account is (the Page, the Instagram user), quoted for a path: its
        edges are the timelines, and reconcile reads it before it tombstones anything (if
        the token cannot see it, no item can be judged deleted)."""

    @abstractmethod
    def current_container(self, archived: ArchivedItem, seen: set[str]) -> Iterator[CapturedItem]:
        """The current state of a post / media and of its comments (adding their ids to
        `seen`); raises ObjectGone when Graph says the container is gone."""

    @abstractmethod
    def current_comment(self, archived: ArchivedItem) -> Iterator[CapturedItem]:
        """The current state of one comment looked up by id; ObjectGone when gone."""

    def needs_check(self, archived: ArchivedItem) -> bool:
        """Whether reconcile should look this item up (stories override: expiry is not
        deletion). DMs are never looked up: Graph answers 'deleted' for every message
        beyond a conversation's 20 most recent, so a lookup proves nothing."""
        return archived.kind != "dm"

    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        """Containers first (their comment listings cover most comments in one request),
        then comments not seen in a listing, one lookup each."""
        wanted = [item for item in archived if self.needs_check(item)]
        if not wanted:
            return
        self._check_owner()
        seen: set[str] = set()
        for item in wanted:
            if item.kind not in CONTAINER_KINDS:
                continue
            try:
                yield from self.current_container(item, seen)
            except ObjectGone as gone:
                yield self.tombstone(item, gone)
        for item in wanted:
            if item.kind in CONTAINER_KINDS or item.native_id in seen:
                continue
            try:
                yield from self.current_comment(item)
            except ObjectGone as gone:
                yield self.tombstone(item, gone)

    def _check_owner(self) -> None:
        path = self.owner_path()
        try:
            self.api.get(f"/{path}", {"fields": "id"})
        except ObjectGone as gone:
            raise FatalError(
                f"{gone.url}: Graph cannot read the account's own object ({gone.info.message}); "
                "the token has probably lost access, so nothing is marked deleted until a "
                "person checks the token and its permissions"
            ) from None


def _participants(conversation: Mapping[str, Any]) -> list[str]:
    holder = conversation.get("participants")
    entries = holder.get("data") if isinstance(holder, Mapping) else None
    found = set()
    for entry in entries or []:
        if isinstance(entry, Mapping):
            handle = entry.get("username") or entry.get("id")
            if handle:
                found.add(str(handle))
    return sorted(found)


def _since(value: str | None) -> int | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if isinstance(data, int) and not isinstance(data, bool):
        return data
    since = data.get("since") if isinstance(data, Mapping) else None
    return since if isinstance(since, int) and not isinstance(since, bool) else None


def _later(current: int | None, candidate: int | None) -> int | None:
    if candidate is None:
        return current
    return candidate if current is None else max(current, candidate)


def _rfc3339(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")
