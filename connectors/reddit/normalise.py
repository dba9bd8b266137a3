"""Reddit things (t3 submissions, t1 comments, t4 private messages) in the archive's
normalised form.

Only fields that both the user listings (/user/{name}/submitted, /comments) and
/api/info serve go into content, so a reconcile of an unchanged item gives the same
content as its first capture: a comment listing's link_title, link_author, num_comments
and the like stay in `raw`, as do scores and awards (counters must not make versions).
Reddit sends times as epoch floats; content holds ints and RFC 3339 strings instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from archiver.item import Attachment

KINDS = {"t3": "post", "t1": "comment", "t4": "dm"}
DELETION_MARKERS = ("[deleted]", "[removed]")
GALLERY_TYPES = {"Image": "image", "AnimatedImage": "gifv"}
WEB = "https://www.reddit.com"


def kind_prefix(thing: Mapping[str, Any]) -> str:
    """'t3', 't1' or 't4', from the fullname (name) the API always sends."""
    return str(thing.get("name") or "").partition("_")[0]


def text_field(thing: Mapping[str, Any]) -> str:
    return "selftext" if kind_prefix(thing) == "t3" else "body"


def deletion_marker(thing: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, marker) when Reddit serves the thing as deleted or removed, else None.

    The text field says "[deleted]" (by its author) or "[removed]" (by moderators or
    Reddit); a link post has no text, so its removed_by_category says it instead.
    """
    field = text_field(thing)
    value = thing.get(field)
    if value in DELETION_MARKERS:
        return field, str(value)
    category = thing.get("removed_by_category")
    if kind_prefix(thing) == "t3" and category:
        return "removed_by_category", str(category)
    return None


def id36(fullname: str) -> int:
    """The base-36 id of a fullname ('t3_52o2fl'); Reddit allots them in increasing order."""
    return int(fullname.partition("_")[2], 36)


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _epoch(value: Any) -> int | None:
    """Reddit's epoch float (or int) as whole seconds; None for false/absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _edited(value: Any) -> int | bool | None:
    """`edited` is false, an epoch float, or (very old things) plain true."""
    if value is True:
        return True
    return _epoch(value)


def normalise(thing: Mapping[str, Any]) -> dict[str, Any]:
    prefix = kind_prefix(thing)
    if prefix == "t4":
        return message_content(thing)
    created = _epoch(thing.get("created_utc"))
    edited = _edited(thing.get("edited"))
    content: dict[str, Any] = {
        "text": str(thing.get(text_field(thing)) or ""),
        "author": thing.get("author"),
        "created_at": rfc3339(created) if created is not None else None,
        "url": _permalink(thing),
        "subreddit": thing.get("subreddit"),
        "edited": edited,
        "edited_at": (
            rfc3339(edited) if isinstance(edited, int) and not isinstance(edited, bool) else None
        ),
        "media": [_media_entry(m) for m in _media(thing)],
    }
    if prefix == "t3":
        content.update(
            title=thing.get("title"),
            link_url=None if thing.get("is_self") else thing.get("url"),
            in_reply_to=None,
            thread_id=thing.get("name"),
            sensitive=bool(thing.get("over_18")),
            spoiler=bool(thing.get("spoiler")),
        )
    else:
        content.update(in_reply_to=thing.get("parent_id"), thread_id=thing.get("link_id"))
    return content


def message_content(message: Mapping[str, Any]) -> dict[str, Any]:
    """A private message. A thread is one conversation, named by its first message:
    Reddit gives every reply its first_message_name (null on the first itself)."""
    conversation = str(message.get("first_message_name") or message.get("name") or "")
    created = _epoch(message.get("created_utc"))
    people = {str(p) for p in (message.get("author"), message.get("dest")) if p}
    return {
        "text": str(message.get("body") or ""),
        "subject": message.get("subject"),
        "author": message.get("author"),
        "recipient": message.get("dest"),  # "#name" when sent to a subreddit's moderators
        "created_at": rfc3339(created) if created is not None else None,
        "conversation_id": conversation or None,
        "thread_id": conversation or None,
        "in_reply_to": message.get("parent_id"),
        "participants": sorted(people),
        "subreddit": message.get("subreddit"),
        "url": f"{WEB}/message/messages/{conversation.partition('_')[2]}" if conversation else None,
    }


def attachments(thing: Mapping[str, Any]) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(url=m["url"], media_type=m["type"], description=m.get("description"))
        for m in _media(thing)
    )


def _permalink(thing: Mapping[str, Any]) -> str | None:
    """The public URL on www.reddit.com (the same whatever API host served it)."""
    permalink = thing.get("permalink")
    if permalink:
        return WEB + str(permalink)
    if kind_prefix(thing) == "t1" and thing.get("link_id") and thing.get("id"):
        link = str(thing["link_id"]).partition("_")[2]
        return f"{WEB}/comments/{link}/_/{thing['id']}/"
    return None


def _media(thing: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Images, gallery items and Reddit-hosted video, as {id, type, url, description}
    with the URL as served (galleries' are signed preview URLs)."""
    found: list[dict[str, Any]] = []
    metadata = thing.get("media_metadata")
    gallery = (thing.get("gallery_data") or {}).get("items") or []
    if thing.get("is_gallery") and isinstance(metadata, Mapping):
        for entry in gallery:
            meta = metadata.get(entry.get("media_id")) or {}
            if meta.get("status") != "valid":
                continue
            source = meta.get("s") or {}
            url = source.get("u") or source.get("gif") or source.get("mp4")
            if url:
                kind = GALLERY_TYPES.get(str(meta.get("e")), "unknown")
                found.append(
                    {
                        "id": entry.get("media_id"),
                        "type": kind,
                        "url": str(url),
                        "description": entry.get("caption"),
                    }
                )
        return found
    video = ((thing.get("secure_media") or thing.get("media") or {}).get("reddit_video")) or {}
    if thing.get("is_video") and video.get("fallback_url"):
        return [
            {"id": None, "type": "video", "url": str(video["fallback_url"]), "description": None}
        ]
    if thing.get("post_hint") == "image" and thing.get("url"):
        return [{"id": None, "type": "image", "url": str(thing["url"]), "description": None}]
    return found


def _media_entry(media: Mapping[str, Any]) -> dict[str, Any]:
    """What decides versions: the URL without its query, whose signature can change."""
    parts = urlsplit(media["url"])
    return {
        "id": media.get("id"),
        "type": media["type"],
        "url": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        "description": media.get("description"),
    }
