"""Instagram "Download your information" (JSON format) importer: posts, Reels, Stories,
comments and Direct messages.

Layout read (under your_instagram_activity/ in current exports; media URIs such as
"media/posts/202306/x.jpg" are relative to the export's root folder):
  content/posts_N.json:   [{"media": [{"uri", "creation_timestamp", "title"}],
                            "title", "creation_timestamp"}]  (a single-media post keeps
                            caption and time on its one media object)
  content/archived_posts.json: {"ig_archived_post_media": [same as a post]}
  content/reels.json:     {"ig_reels_media": [{"media": [...]}]}
  content/stories.json:   {"ig_stories": [{"uri", "creation_timestamp", "title"}]}
  comments/post_comments_N.json: [{"string_map_data": {"Comment": {"value"},
                            "Media Owner": {"value"}, "Time": {"timestamp"}}}]
  comments/reels_comments.json: {"comments_reels_comments": [same]}
  messages/inbox/<thread>/message_N.json (the Messenger layout)
No media, comment or message ids are exported, so these items cannot merge with API
captures: ids are derived (connectors/meta_graph/dyi.py), content says source="export".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from archiver.item import CaptureContext, CapturedItem
from connectors.base import Account
from connectors.exports.base import ExportImporter
from connectors.exports.safe_archive import ExportArchive
from connectors.meta_graph.dyi import DyiExport, ExportIds, from_unix, message_items
from connectors.meta_graph.text import at_mentions, hashtags, urls

POSTS = re.compile(r"(?:^|/)(?:content|media)/posts_\d+\.json$")
ARCHIVED = re.compile(r"(?:^|/)content/archived_posts\.json$")
REELS = re.compile(r"(?:^|/)content/reels\.json$")
STORIES = re.compile(r"(?:^|/)content/stories\.json$")
POST_COMMENTS = re.compile(r"(?:^|/)comments/post_comments_\d+\.json$")
REEL_COMMENTS = re.compile(r"(?:^|/)comments/reels_comments\.json$")
MARKERS = ("your_instagram_activity/", "media/", "content/")


class InstagramExportImporter(ExportImporter):
    name = "instagram"
    platform = "instagram"
    version = "1.0.0"

    def items(
        self, archive: ExportArchive, account: Account, source: CaptureContext
    ) -> Iterator[CapturedItem]:
        export = DyiExport(archive, MARKERS)
        ids = ExportIds()
        sources: list[tuple[re.Pattern[str], tuple[str, ...], str]] = [
            (POSTS, (), "post"),
            (ARCHIVED, ("ig_archived_post_media",), "post"),
            (REELS, ("ig_reels_media",), "reel"),
        ]
        for pattern, keys, kind in sources:
            for member in export.find(pattern):
                for entry in export.load_list(member, *keys):
                    yield self._media(export, ids, entry, kind, account, source)
        for member in export.find(STORIES):
            for story in export.load_list(member, "ig_stories"):
                yield self._media(export, ids, {"media": [story]}, "story", account, source)
        comment_sources = ((POST_COMMENTS, ()), (REEL_COMMENTS, ("comments_reels_comments",)))
        for pattern, keys in comment_sources:
            for member in export.find(pattern):
                for entry in export.load_list(member, *keys):
                    yield self._comment(ids, entry, account, source)
        yield from message_items(export, self.platform, account.handle, source)

    def _media(
        self,
        export: DyiExport,
        ids: ExportIds,
        entry: Mapping[str, Any],
        kind: str,
        account: Account,
        source: CaptureContext,
    ) -> CapturedItem:
        shown = [m for m in entry.get("media") or [] if isinstance(m, Mapping)]
        first: Mapping[str, Any] = shown[0] if shown else {}
        stamp = entry.get("creation_timestamp", first.get("creation_timestamp"))
        caption = str(entry.get("title") or first.get("title") or "")
        media, attachments = export.media(shown)
        content = {
            "text": caption,
            "author": None,
            "created_at": from_unix(stamp),
            "hashtags": hashtags(caption),
            "mentions": at_mentions(caption),
            "urls": urls(caption),
            "media": media,
            "source": "export",
        }
        return CapturedItem(
            platform=self.platform,
            account=account.handle,
            native_id=ids.make(kind, stamp, caption),
            kind=kind,
            content=content,
            raw=dict(entry),
            capture=source,
            attachments=tuple(attachments),
        )

    def _comment(
        self, ids: ExportIds, entry: Mapping[str, Any], account: Account, source: CaptureContext
    ) -> CapturedItem:
        fields = entry.get("string_map_data")
        fields = fields if isinstance(fields, Mapping) else {}
        text = str(_value(fields, "Comment", "value") or "")
        owner = _value(fields, "Media Owner", "value")
        stamp = _value(fields, "Time", "timestamp")
        content = {
            "text": text,
            "author": None,
            "created_at": from_unix(stamp),
            "media_owner": str(owner) if owner else None,
            "hashtags": hashtags(text),
            "mentions": at_mentions(text),
            "urls": urls(text),
            "source": "export",
        }
        return CapturedItem(
            platform=self.platform,
            account=account.handle,
            native_id=ids.make("comment", stamp, str(owner or ""), text),
            kind="comment",
            content=content,
            raw=dict(entry),
            capture=source,
        )


def _value(fields: Mapping[str, Any], name: str, key: str) -> Any:
    holder = fields.get(name)
    return holder.get(key) if isinstance(holder, Mapping) else None
