"""LinkedIn posts (Posts API) and comments (Comments API) in the archive's normalised form.

Everything the author can change is in content: the commentary, the media, article and
poll in `content`, the visibility and lifecycle state, and `last_modified_at` (LinkedIn
bumps lastModifiedAt on every edit, so a change of it is a new version). Counters
(likesSummary, commentsSummary) and distribution settings stay in `raw`.
Media appear as URNs (urn:li:image:...): the download URLs the Images/Videos/Documents
APIs hand out are signed and expire, so they go to attachments only, never to content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

MEDIA_TYPES = {"image": "image", "video": "video", "document": "document"}
FEED = "https://www.linkedin.com/feed/update/"

# "little text" (the commentary format): @[Name](urn:li:...) mentions, {hashtag|\#|tag}
# hashtags, and backslash escapes of its reserved characters.
_MENTION = re.compile(r"@\[(?P<name>(?:\\.|[^\]\\])*)\]\((?P<urn>urn:li:[^)]+)\)")
_HASHTAG = re.compile(r"\{hashtag\|\\?#\|(?P<tag>(?:\\.|[^}\\])*)\}")
_ESCAPE = re.compile(r"\\(.)")
_URL = re.compile(r"https?://[^\s<>()\[\]{}]+")


def rfc3339_ms(epoch_ms: Any) -> str | None:
    """LinkedIn's epoch milliseconds as RFC 3339 with milliseconds, or None."""
    if isinstance(epoch_ms, bool) or not isinstance(epoch_ms, int):
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_little_text(value: str) -> tuple[str, list[str], list[str]]:
    """Plain text, hashtags and mentioned URNs of a commentary in little text format."""
    mentions = [m["urn"] for m in _MENTION.finditer(value)]
    hashtags = [_ESCAPE.sub(r"\1", m["tag"]) for m in _HASHTAG.finditer(value)]
    text = _MENTION.sub(lambda m: m["name"], value)
    text = _HASHTAG.sub(lambda m: "#" + m["tag"], text)
    return _ESCAPE.sub(r"\1", text), _unique(hashtags), _unique(mentions)


def media_type(urn: str) -> str:
    """image / video / document from the URN's entity type (urn:li:image:...)."""
    parts = urn.split(":")
    return MEDIA_TYPES.get(parts[2] if len(parts) > 2 else "", "unknown")


def post_media(post: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The post's media as {id, type, description}: single media, or a multi-image."""
    content = post.get("content") or {}
    entries: list[Mapping[str, Any]] = []
    if isinstance(content.get("media"), Mapping):
        entries.append(content["media"])
    multi = content.get("multiImage")
    if isinstance(multi, Mapping):
        entries.extend(i for i in multi.get("images") or [] if isinstance(i, Mapping))
    found = []
    for entry in entries:
        urn = entry.get("id")
        if isinstance(urn, str):
            found.append(
                {"id": urn, "type": media_type(urn),
                 "description": entry.get("altText") or entry.get("title")}
            )
    return found


def normalise_post(post: Mapping[str, Any]) -> dict[str, Any]:
    urn = str(post["id"])
    text, hashtags, mentions = parse_little_text(str(post.get("commentary") or ""))
    content = post.get("content") or {}
    article = content.get("article") if isinstance(content.get("article"), Mapping) else None
    poll = content.get("poll") if isinstance(content.get("poll"), Mapping) else None
    edited = (post.get("lifecycleStateInfo") or {}).get("isEditedByAuthor")
    return {
        "text": text,
        "author": post.get("author"),
        "created_at": rfc3339_ms(post.get("createdAt")),
        "published_at": rfc3339_ms(post.get("publishedAt")),
        "url": f"{FEED}{urn}/",
        "in_reply_to": None,
        "thread_id": urn,
        "visibility": post.get("visibility"),
        "lifecycle_state": post.get("lifecycleState"),
        "hashtags": hashtags,
        "mentions": mentions,
        "urls": _unique(_URL.findall(text)),
        "media": post_media(post),
        "article": _article(article) if article else None,
        "poll": _poll(poll) if poll else None,
        "boost_of": (post.get("reshareContext") or {}).get("parent"),
        "edited_at": rfc3339_ms(post.get("lastModifiedAt")) if edited else None,
        "last_modified_at": rfc3339_ms(post.get("lastModifiedAt")),
    }


def comment_urn(comment: Mapping[str, Any]) -> str:
    """A comment's URN: commentUrn (or $URN), else built from its object and id."""
    found = comment.get("commentUrn") or comment.get("$URN")
    if found:
        return str(found)
    return f"urn:li:comment:({comment.get('object')},{comment.get('id')})"


def comment_id(urn: str) -> str:
    """The id inside urn:li:comment:(<object>,<id>)."""
    return urn.rstrip(")").rsplit(",", 1)[-1]


def comment_media(comment: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for entry in comment.get("content") or []:
        if not isinstance(entry, Mapping):
            continue
        entity = entry.get("entity") or {}
        urn = entity.get("image") or entity.get("digitalmediaAsset")
        kind = str(entry.get("type") or "").lower()
        found.append({"id": urn, "type": kind if kind in MEDIA_TYPES else "unknown",
                      "description": None, "url": entry.get("url")})
    return found


def normalise_comment(comment: Mapping[str, Any], post_urn: str) -> dict[str, Any]:
    urn = comment_urn(comment)
    message = comment.get("message") or {}
    text, hashtags, mentions = parse_little_text(str(message.get("text") or ""))
    created = (comment.get("created") or {}).get("time")
    modified = (comment.get("lastModified") or {}).get("time")
    return {
        "text": text,
        "author": comment.get("actor"),
        "created_at": rfc3339_ms(created),
        "url": f"{FEED}{post_urn}/?commentUrn={quote(urn, safe='')}",
        "in_reply_to": comment.get("parentComment") or post_urn,
        "thread_id": post_urn,
        "hashtags": hashtags,
        "mentions": mentions,
        "media": [{k: v for k, v in m.items() if k != "url"} for m in comment_media(comment)],
        "edited_at": rfc3339_ms(modified) if modified is not None and modified != created
        else None,
        "last_modified_at": rfc3339_ms(modified),
    }


def _article(article: Mapping[str, Any]) -> dict[str, Any]:
    return {k: article.get(k) for k in ("source", "title", "description", "thumbnail")}


def _poll(poll: Mapping[str, Any]) -> dict[str, Any]:
    options = [o.get("text") for o in poll.get("options") or [] if isinstance(o, Mapping)]
    return {"question": poll.get("question"), "options": options}


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
