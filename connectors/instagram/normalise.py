"""Instagram media (posts, carousels, Reels, Stories) and comments in normalised form.

What decides "edited": the caption, the media it shows (by stable id and type) and the
comment moderation state. `media_url` and `thumbnail_url` are signed CDN URLs that
expire and change between requests, so they are only where attachments are downloaded
from (and stay in `raw`); like and comment counts stay in `raw` too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from archiver.item import Attachment
from connectors.meta_graph.text import at_mentions, hashtags, urls
from connectors.meta_graph.timeline import rfc3339

_MEDIA_BASE = (
    "id,caption,media_type,media_product_type,media_url,thumbnail_url,permalink,shortcode,"
    "timestamp,username"
)
MEDIA_FIELDS = (
    f"{_MEDIA_BASE},comments_count,like_count,is_comment_enabled,"
    "children{id,media_type,media_url,thumbnail_url,permalink,timestamp}"
)
STORY_FIELDS = _MEDIA_BASE
COMMENT_FIELDS = (
    "id,text,timestamp,username,from{id,username},like_count,hidden,parent_id,media{id}"
)
LIST_COMMENT_FIELDS = f"{COMMENT_FIELDS},replies{{{COMMENT_FIELDS}}}"
KINDS = {"REELS": "reel", "STORY": "story", "AD": "ad"}
_TYPES = {"IMAGE": "image", "VIDEO": "video", "CAROUSEL_ALBUM": "carousel"}


def media_kind(media: Mapping[str, Any], default: str = "post") -> str:
    """reel, story or ad from media_product_type; feed posts (and older API versions
    without the field) are posts."""
    return KINDS.get(str(media.get("media_product_type") or "").upper(), default)


def media_content(media: Mapping[str, Any]) -> dict[str, Any]:
    caption = str(media.get("caption") or "")
    content: dict[str, Any] = {
        "text": caption,
        "author": media.get("username"),
        "created_at": rfc3339(media.get("timestamp")),
        "url": media.get("permalink"),
        "thread_id": str(media.get("id")),
        "hashtags": hashtags(caption),
        "mentions": at_mentions(caption),
        "urls": urls(caption),
        "media": [
            {"id": _str(m.get("id")), "type": _TYPES.get(str(m.get("media_type")), "unknown")}
            for m in _shown(media)
        ],
        "media_type": media.get("media_type"),
        "media_product_type": media.get("media_product_type"),
        "shortcode": media.get("shortcode"),
    }
    if "is_comment_enabled" in media:
        content["comments_enabled"] = bool(media.get("is_comment_enabled"))
    return content


def media_attachments(media: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """One attachment per image or video: a carousel's children, or the media itself.
    A video without media_url (Reels with licensed audio) falls back to its thumbnail."""
    found: list[Attachment] = []
    for shown in _shown(media):
        if shown.get("media_type") == "VIDEO":
            if shown.get("media_url"):
                found.append(Attachment(str(shown["media_url"]), "video"))
            elif shown.get("thumbnail_url"):
                found.append(Attachment(str(shown["thumbnail_url"]), "image", "video thumbnail"))
        elif shown.get("media_url"):
            found.append(Attachment(str(shown["media_url"]), "image"))
    return tuple(found)


def comment_kind(comment: Mapping[str, Any], parent_id: str | None = None) -> str:
    return "reply" if comment.get("parent_id") or parent_id else "comment"


def comment_content(
    comment: Mapping[str, Any], media_id: str | None, parent_id: str | None = None
) -> dict[str, Any]:
    """`parent_id` is the parent known from context (a reply list, the archived item)
    when the object itself does not name it."""
    text = str(comment.get("text") or "")
    sender = comment.get("from")
    username = comment.get("username") or (
        sender.get("username") if isinstance(sender, Mapping) else None
    )
    parent = comment.get("parent_id") or parent_id
    return {
        "text": text,
        "author": _str(username),
        "created_at": rfc3339(comment.get("timestamp")),
        "in_reply_to": str(parent) if parent else media_id,
        "thread_id": media_id,
        "hidden": bool(comment.get("hidden")),
        "hashtags": hashtags(text),
        "mentions": at_mentions(text),
        "urls": urls(text),
    }


def _shown(media: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    children = media.get("children")
    data = children.get("data") if isinstance(children, Mapping) else None
    if data:
        yield from (c for c in data if isinstance(c, Mapping))
    else:
        yield media


def _str(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None
