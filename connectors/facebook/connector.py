"""The Facebook Pages connector: a Page's feed, comments and replies, Page conversations,
edits and deletions, over the Graph API with a Page access token.

Streams (cursor keys, see connectors/meta_graph/timeline.py for the walk):
  - "feed": GET /{page}/feed, newest first; a first run backfills every post, later runs
    ask for posts created since the last complete walk. Each post's comments and replies
    come from GET /{post}/comments?filter=stream (one flat, chronological list in which
    replies carry `parent`).
  - "conversations": GET /{page}/conversations?platform=messenger, most recently
    updated first, and the newest messages of each changed conversation (kind "dm").
Edits and deletions are found by `reconcile` within the reconciliation window: each
post is read again by id (a changed message or attachment is a new version; hidden
comments carry hidden=True) and its comments listed again; Graph's error 100/33
("does not exist") or a 404 is the deletion evidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from pydantic import Field

from archiver.item import CapturedItem
from connectors.base import ArchivedItem
from connectors.http import HttpResult
from connectors.meta_graph.connector import GraphConnector
from connectors.meta_graph.settings import GraphSettings
from connectors.meta_graph.timeline import Output

from .normalise import (
    COMMENT_FIELDS,
    FEED_FIELDS,
    comment_attachments,
    comment_content,
    comment_kind,
    post_attachments,
    post_content,
)

FEED = "feed"


class FacebookSettings(GraphSettings):
    page_id: str = Field(
        "me",
        description="The Page's id; 'me' is the Page itself when the token is a Page token",
    )


class FacebookPagesConnector(GraphConnector):
    name = "facebook"
    version = "1.0.0"
    settings_model = FacebookSettings
    dm_platform = "messenger"
    options: FacebookSettings

    def owner_path(self) -> str:
        return quote(self.options.page_id, safe="")

    # -- fetch ------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Output:
        yield from self.timeline("feed", FEED_FIELDS, FEED, cursor, "created_time")
        if self.options.capture_dms:
            yield from self.owned_walk(self.conversations(self.owner_path(), cursor))

    def container(self, post: Mapping[str, Any], result: HttpResult) -> CapturedItem:
        return self.item(
            str(post["id"]), "post", post_content(post), post, result, post_attachments(post)
        )

    def may_have_comments(self, post: Mapping[str, Any]) -> bool:
        """Read from the feed's inline comments summary."""
        comments = post.get("comments")
        summary = comments.get("summary") if isinstance(comments, Mapping) else None
        total = summary.get("total_count") if isinstance(summary, Mapping) else None
        return not isinstance(total, int) or total > 0

    def comments(self, post_id: str, seen: set[str] | None = None) -> Iterator[CapturedItem]:
        params = {
            "filter": "stream",
            "order": "chronological",
            "fields": COMMENT_FIELDS,
            "limit": self.options.page_limit,
        }
        for page in self.api.pages(f"/{quote(post_id, safe='')}/comments", params):
            for comment in page.objects:
                if not comment.get("id"):
                    continue
                if seen is not None:
                    seen.add(str(comment["id"]))
                yield self._comment(comment, post_id, page.result)

    def _comment(
        self,
        comment: Mapping[str, Any],
        post_id: str | None,
        result: HttpResult,
        parent_id: str | None = None,
    ) -> CapturedItem:
        return self.item(
            str(comment["id"]),
            comment_kind(comment, parent_id),
            comment_content(comment, post_id, parent_id),
            comment,
            result,
            comment_attachments(comment),
        )

    # -- reconcile --------------------------------------------------------------------
    def current_container(self, archived: ArchivedItem, seen: set[str]) -> Iterator[CapturedItem]:
        result = self.api.object(archived.native_id, FEED_FIELDS)
        post = result.data
        yield self.item(
            archived.native_id,
            archived.kind,
            post_content(post),
            post,
            result,
            post_attachments(post),
        )
        if self.options.capture_comments:
            yield from self.comments(archived.native_id, seen)

    def current_comment(self, archived: ArchivedItem) -> Iterator[CapturedItem]:
        result = self.api.object(archived.native_id, COMMENT_FIELDS)
        comment = result.data
        post_id = archived.content.get("thread_id")
        # A lookup by id may omit the parent; keep what the listing said.
        parent = archived.content.get("in_reply_to") if archived.kind == "reply" else None
        yield self._comment(
            comment, str(post_id) if post_id else None, result, str(parent) if parent else None
        )
