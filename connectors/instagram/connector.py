"""The Instagram connector (Instagram Graph API, professional accounts): media - feed
posts, carousels, Reels - with comments and replies, live Stories, Direct messages
through the Messenger API for Instagram, caption edits and deletions.

Streams:
  - "media": GET /{ig-user}/media, newest first, walked as in meta_graph/timeline.py;
    each media's comments from GET /{media}/comments with their replies inline
    (GET /{comment}/replies when a reply list has more pages).
  - Stories: GET /{ig-user}/stories lists only what is live now (24 hours), so every
    run reads all of it (no cursor) and the connector is `ephemeral`: schedule it often.
  - "conversations": GET /{page}/conversations?platform=instagram when `page_id` (the
    Facebook Page linked to the account) is set.
`reconcile` reads media and comments again by id: a changed caption is a new version
(the API has no edit history), Graph's error 100/33 is deletion evidence. A Story older
than 24 hours is not looked up: its absence is expiry, not deletion.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from pydantic import Field

from archiver.item import CapturedItem
from connectors.base import ArchivedItem
from connectors.http import HttpResult
from connectors.meta_graph.connector import GraphConnector
from connectors.meta_graph.settings import GraphSettings
from connectors.meta_graph.timeline import Output, graph_time

from .normalise import (
    COMMENT_FIELDS,
    LIST_COMMENT_FIELDS,
    MEDIA_FIELDS,
    STORY_FIELDS,
    comment_content,
    comment_kind,
    media_attachments,
    media_content,
    media_kind,
)

MEDIA = "media"
STORY_LIFETIME = timedelta(hours=24)


class InstagramSettings(GraphSettings):
    ig_user_id: str = Field(
        description="The Instagram professional account's id (GET /{page}?fields="
        "instagram_business_account)"
    )
    page_id: str | None = Field(
        None,
        description="The linked Facebook Page's id: needed for Direct messages "
        "(Messenger API for Instagram); without it DMs are not captured",
    )
    capture_stories: bool = Field(True, description="Archive live Stories")


class InstagramConnector(GraphConnector):
    name = "instagram"
    version = "1.0.0"
    settings_model = InstagramSettings
    dm_platform = "instagram"
    ephemeral = True  # Stories vanish after 24 hours: capture every 1-4 hours
    options: InstagramSettings

    def owner_path(self) -> str:
        return quote(self.options.ig_user_id, safe="")

    # -- fetch ------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Output:
        yield from self.timeline("media", MEDIA_FIELDS, MEDIA, cursor, "timestamp")
        if self.options.capture_stories:
            yield from self.owned_walk(self._stories())
        if self.options.capture_dms and self.options.page_id:
            page_path = quote(self.options.page_id, safe="")
            yield from self.owned_walk(self.conversations(page_path, cursor))

    def _stories(self) -> Iterator[CapturedItem]:
        """Every live Story (no cursor: the edge only ever holds the last 24 hours)."""
        params = {"fields": STORY_FIELDS, "limit": self.options.page_limit}
        for page in self.api.pages(f"/{self.owner_path()}/stories", params):
            for story in reversed(page.objects):
                if story.get("id"):
                    yield self._media(story, page.result, media_kind(story, "story"))

    def container(self, media: Mapping[str, Any], result: HttpResult) -> CapturedItem:
        return self._media(media, result, media_kind(media))

    def _media(self, media: Mapping[str, Any], result: HttpResult, kind: str) -> CapturedItem:
        return self.item(
            str(media["id"]), kind, media_content(media), media, result, media_attachments(media)
        )

    def may_have_comments(self, media: Mapping[str, Any]) -> bool:
        """Read from the media's comments_count."""
        count = media.get("comments_count")
        return not isinstance(count, int) or count > 0

    def comments(self, media_id: str, seen: set[str] | None = None) -> Iterator[CapturedItem]:
        params = {"fields": LIST_COMMENT_FIELDS, "limit": self.options.page_limit}
        for page in self.api.pages(f"/{quote(media_id, safe='')}/comments", params):
            for comment in page.objects:
                if not comment.get("id"):
                    continue
                comment_id = str(comment["id"])
                if seen is not None:
                    seen.add(comment_id)
                yield self._comment(comment, media_id, page.result)
                yield from self._replies(comment, media_id, page.result, seen)

    def _replies(
        self,
        comment: Mapping[str, Any],
        media_id: str,
        result: HttpResult,
        seen: set[str] | None,
    ) -> Iterator[CapturedItem]:
        """The inline first page of replies, or every page from /{comment}/replies."""
        replies = comment.get("replies")
        if not isinstance(replies, Mapping):
            return
        paging = replies.get("paging")
        pages: list[tuple[list[Any], HttpResult]]
        if isinstance(paging, Mapping) and paging.get("next"):
            params = {"fields": COMMENT_FIELDS, "limit": self.options.page_limit}
            path = f"/{quote(str(comment['id']), safe='')}/replies"
            pages = [(p.objects, p.result) for p in self.api.pages(path, params)]
        else:
            pages = [(list(replies.get("data") or []), result)]
        for objects, source in pages:
            for reply in objects:
                if not isinstance(reply, Mapping) or not reply.get("id"):
                    continue
                if seen is not None:
                    seen.add(str(reply["id"]))
                # A reply list answers for its parent even where parent_id is missing.
                yield self._comment(reply, media_id, source, str(comment["id"]))

    def _comment(
        self,
        comment: Mapping[str, Any],
        media_id: str | None,
        result: HttpResult,
        parent_id: str | None = None,
    ) -> CapturedItem:
        return self.item(
            str(comment["id"]),
            comment_kind(comment, parent_id),
            comment_content(comment, media_id, parent_id),
            comment,
            result,
        )

    # -- reconcile --------------------------------------------------------------------
    def needs_check(self, archived: ArchivedItem) -> bool:
        if archived.kind == "story":
            created = graph_time(archived.content.get("created_at"))
            if created is None or self.context.now() - created >= STORY_LIFETIME:
                return False  # expired by design: a lookup failing now proves no deletion
        return super().needs_check(archived)

    def current_container(self, archived: ArchivedItem, seen: set[str]) -> Iterator[CapturedItem]:
        story = archived.kind == "story"
        result = self.api.object(archived.native_id, STORY_FIELDS if story else MEDIA_FIELDS)
        media = result.data
        yield self._media(media, result, archived.kind)
        if self.options.capture_comments and not story and self.may_have_comments(media):
            yield from self.comments(archived.native_id, seen)

    def current_comment(self, archived: ArchivedItem) -> Iterator[CapturedItem]:
        result = self.api.object(archived.native_id, COMMENT_FIELDS)
        comment = result.data
        media = comment.get("media")
        media_id = archived.content.get("thread_id") or (
            media.get("id") if isinstance(media, Mapping) else None
        )
        parent = archived.content.get("in_reply_to") if archived.kind == "reply" else None
        yield self._comment(
            comment, str(media_id) if media_id else None, result, str(parent) if parent else None
        )
