"""Facebook "Download your information" (JSON format) importer: posts, comments and
Messenger threads, for history the Graph API no longer serves.

Layout read (current exports nest everything under your_facebook_activity/; older ones
had the same folders at the top, and a zip may add a folder of its own around either):
  posts/your_posts_N.json (or your_posts__check_ins__photos_and_videos_N.json):
      [{"timestamp", "data": [{"post"}, {"update_timestamp"}], "attachments":
        [{"data": [{"media": {"uri", "description"...}} | {"external_context": {"url"}}]}],
        "title"}]
  comments_and_reactions/comments.json (older: comments/comments.json):
      {"comments_v2": [{"timestamp", "data": [{"comment": {"comment", "author",
        "timestamp"}}], "attachments", "title"}]}
  messages/{inbox,archived_threads,filtered_threads,message_requests}/<thread>/message_N.json
The export carries no post, comment or message ids, so these items cannot merge with
API captures: ids are derived (connectors/meta_graph/dyi.py) and content says
source="export".
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
from connectors.meta_graph.text import hashtags, urls

POSTS = re.compile(r"(?:^|/)posts/your_posts(?:__check_ins__photos_and_videos)?_\d+\.json$")
COMMENTS = re.compile(r"(?:^|/)comments(?:_and_reactions)?/comments\.json$")
MARKERS = ("your_facebook_activity/", "posts/", "messages/", "comments_and_reactions/")


class FacebookExportImporter(ExportImporter):
    name = "facebook"
    platform = "facebook"
    version = "1.0.0"

    def items(
        self, archive: ExportArchive, account: Account, source: CaptureContext
    ) -> Iterator[CapturedItem]:
        export = DyiExport(archive, MARKERS)
        ids = ExportIds()
        for member in export.find(POSTS):
            for entry in export.load_list(member):
                yield self._post(export, ids, entry, account, source)
        for member in export.find(COMMENTS):
            for entry in export.load_list(member, "comments_v2", "comments"):
                yield self._comment(export, ids, entry, account, source)
        yield from message_items(export, self.platform, account.handle, source)

    def _post(
        self,
        export: DyiExport,
        ids: ExportIds,
        entry: Mapping[str, Any],
        account: Account,
        source: CaptureContext,
    ) -> CapturedItem:
        stamp = entry.get("timestamp")
        parts = _data(entry)
        text = "\n".join(str(d["post"]) for d in parts if isinstance(d.get("post"), str))
        updated = next((d["update_timestamp"] for d in parts if "update_timestamp" in d), None)
        media, attachments, links = _attached(export, entry, text)
        content: dict[str, Any] = {
            "text": text,
            "author": None,
            "created_at": from_unix(stamp),
            "edited_at": from_unix(updated) if updated and updated != stamp else None,
            "title": entry.get("title"),
            "hashtags": hashtags(text),
            "urls": links,
            "media": media,
            "source": "export",
        }
        return CapturedItem(
            platform=self.platform,
            account=account.handle,
            native_id=ids.make("post", stamp, text),
            kind="post",
            content=content,
            raw=dict(entry),
            capture=source,
            attachments=tuple(attachments),
        )

    def _comment(
        self,
        export: DyiExport,
        ids: ExportIds,
        entry: Mapping[str, Any],
        account: Account,
        source: CaptureContext,
    ) -> CapturedItem:
        comment: Mapping[str, Any] = next(
            (d["comment"] for d in _data(entry) if isinstance(d.get("comment"), Mapping)), {}
        )
        stamp = comment.get("timestamp", entry.get("timestamp"))
        text = str(comment.get("comment") or "")
        author = str(comment.get("author") or "") or None
        title = str(entry.get("title") or "")
        media, attachments, links = _attached(export, entry, text)
        content = {
            "text": text,
            "author": author,
            "author_name": author,
            "created_at": from_unix(stamp),
            "title": title or None,
            "hashtags": hashtags(text),
            "urls": links,
            "media": media,
            "source": "export",
        }
        # Only the English title tells a reply from a comment; other languages say comment.
        kind = "reply" if " replied to " in title else "comment"
        return CapturedItem(
            platform=self.platform,
            account=account.handle,
            native_id=ids.make(kind, stamp, author or "", text),
            kind=kind,
            content=content,
            raw=dict(entry),
            capture=source,
            attachments=tuple(attachments),
        )


def _data(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [d for d in entry.get("data") or [] if isinstance(d, Mapping)]


def _attached(
    export: DyiExport, entry: Mapping[str, Any], text: str
) -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """Media (content entries and attachments) and links of an entry's attachments."""
    media_entries: list[Any] = []
    links = urls(text)
    for attachment in entry.get("attachments") or []:
        if not isinstance(attachment, Mapping):
            continue
        for part in attachment.get("data") or []:
            if not isinstance(part, Mapping):
                continue
            if isinstance(part.get("media"), Mapping):
                media_entries.append(part["media"])
            external = part.get("external_context")
            link = external.get("url") if isinstance(external, Mapping) else None
            if isinstance(link, str) and link and link not in links:
                links.append(link)
    media, attachments = export.media(media_entries)
    return media, attachments, links
