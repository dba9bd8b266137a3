"""Facebook Page posts and comments in the archive's normalised form.

What decides "edited" is what a Page edit changes: the message, the attachments and
the moderation state (is_hidden). `updated_time` is not in it: Graph moves it for
every new comment too, so it would version a post each time someone comments.
Counters (reactions, shares, comment counts) and the signed, expiring CDN URLs of
images (full_picture, media.image.src) stay in `raw`; attachments are named by their
target id and their stable facebook.com (or unshimmed) link instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from archiver.item import Attachment
from connectors.meta_graph.text import hashtags, person, urls
from connectors.meta_graph.timeline import rfc3339

FEED_FIELDS = (
    "id,created_time,updated_time,from{id,name},message,story,permalink_url,status_type,"
    "is_hidden,message_tags,full_picture,shares,"
    "attachments{media_type,type,url,unshimmed_url,title,description,target,media,"
    "subattachments},"
    "comments.filter(stream).summary(true).limit(0),reactions.summary(true).limit(0)"
)
COMMENT_FIELDS = (
    "id,created_time,from{id,name},message,message_tags,permalink_url,parent{id},"
    "is_hidden,attachment,like_count,comment_count"
)


def post_content(post: Mapping[str, Any]) -> dict[str, Any]:
    text = str(post.get("message") or "")
    author, author_name = person(post.get("from"))
    content: dict[str, Any] = {
        "text": text,
        "story": post.get("story") or None,
        "author": author,
        "author_name": author_name,
        "created_at": rfc3339(post.get("created_time")),
        "url": post.get("permalink_url"),
        "thread_id": str(post.get("id")),
        "hashtags": hashtags(text),
        "mentions": _tag_names(post.get("message_tags")),
        "urls": urls(text),
        "media": [_media_entry(a) for a in _attachments(post.get("attachments"))],
        "status_type": post.get("status_type"),
    }
    if "is_hidden" in post:
        content["hidden"] = bool(post.get("is_hidden"))
    return content


def post_attachments(post: Mapping[str, Any]) -> tuple[Attachment, ...]:
    return tuple(_downloads(_attachments(post.get("attachments"))))


def comment_kind(comment: Mapping[str, Any], parent_id: str | None = None) -> str:
    """filter=stream lists replies beside comments; only replies have a parent."""
    return "reply" if _parent_id(comment) or parent_id else "comment"


def comment_content(
    comment: Mapping[str, Any], post_id: str | None, parent_id: str | None = None
) -> dict[str, Any]:
    """`parent_id`: the parent known from context when the object does not name it."""
    text = str(comment.get("message") or "")
    author, author_name = person(comment.get("from"))
    attachment = comment.get("attachment")
    return {
        "text": text,
        "author": author,
        "author_name": author_name,
        "created_at": rfc3339(comment.get("created_time")),
        "url": comment.get("permalink_url"),
        "in_reply_to": _parent_id(comment) or parent_id or post_id,
        "thread_id": post_id,
        "hidden": bool(comment.get("is_hidden")),
        "hashtags": hashtags(text),
        "mentions": _tag_names(comment.get("message_tags")),
        "urls": urls(text),
        "media": [_media_entry(attachment)] if isinstance(attachment, Mapping) else [],
    }


def comment_attachments(comment: Mapping[str, Any]) -> tuple[Attachment, ...]:
    attachment = comment.get("attachment")
    return tuple(_downloads([attachment])) if isinstance(attachment, Mapping) else ()


def _parent_id(comment: Mapping[str, Any]) -> str | None:
    parent = comment.get("parent")
    if isinstance(parent, Mapping) and parent.get("id"):
        return str(parent["id"])
    return None


def _attachments(edge: Any) -> Iterator[Mapping[str, Any]]:
    """Each attachment, an album's photos (subattachments) in its place."""
    data = edge.get("data") if isinstance(edge, Mapping) else None
    for attachment in data or []:
        if not isinstance(attachment, Mapping):
            continue
        subs = attachment.get("subattachments")
        children = subs.get("data") if isinstance(subs, Mapping) else None
        if children:
            yield from (c for c in children if isinstance(c, Mapping))
        else:
            yield attachment


def _media_entry(attachment: Mapping[str, Any]) -> dict[str, Any]:
    found = attachment.get("target")
    target: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return {
        "id": _str(target.get("id")),
        "type": _str(attachment.get("media_type") or attachment.get("type")),
        "url": _str(attachment.get("unshimmed_url") or target.get("url") or attachment.get("url")),
        "title": _str(attachment.get("title")),
        "description": _str(attachment.get("description")),
    }


def _downloads(attachments: Any) -> Iterator[Attachment]:
    for attachment in attachments:
        media = attachment.get("media")
        if not isinstance(media, Mapping):
            continue
        description = _str(attachment.get("title") or attachment.get("description"))
        if media.get("source"):  # a video's file (asked for with attachments{media})
            yield Attachment(str(media["source"]), "video", description)
        image = media.get("image")
        if isinstance(image, Mapping) and image.get("src"):
            yield Attachment(str(image["src"]), "image", description)


def _tag_names(tags: Any) -> list[str]:
    """message_tags (Pages, people, events) as their names, in order of appearance."""
    entries = tags.get("data") if isinstance(tags, Mapping) else tags
    found: dict[str, None] = {}
    for tag in entries or []:
        if isinstance(tag, Mapping) and tag.get("name"):
            found.setdefault(str(tag["name"]), None)
    return list(found)


def _str(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None
