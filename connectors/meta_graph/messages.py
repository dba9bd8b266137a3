"""Page conversations (Messenger) and Instagram Direct messages in normalised form.

Attachment URLs on Meta's CDNs are signed and expire (`oh=`, `oe=` parameters change
from one request to the next), so normalised content names attachments by their stable
id, name and type; the signed URL only says where to download the bytes, and the media
record keeps it as source_url.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archiver.item import Attachment

from .text import hashtags, person, urls
from .timeline import rfc3339

CONVERSATION_FIELDS = "id,updated_time,link,message_count,participants"
MESSAGE_FIELDS = (
    "id,created_time,from,to,message,sticker,shares{link,name},"
    "attachments{id,mime_type,name,size,file_url,image_data,video_data}"
)


def message_content(
    message: Mapping[str, Any], conversation_id: str, participants: list[str]
) -> dict[str, Any]:
    author, author_name = person(message.get("from"))
    text = str(message.get("message") or "")
    links = urls(text)
    for share in _data(message.get("shares")):
        link = share.get("link")
        if isinstance(link, str) and link and link not in links:
            links.append(link)
    media = [_attachment_entry(a) for a in _data(message.get("attachments"))]
    if message.get("sticker"):
        media.append({"id": None, "type": "sticker", "name": None, "mime_type": None})
    return {
        "text": text,
        "author": author,
        "author_name": author_name,
        "created_at": rfc3339(message.get("created_time")),
        "thread_id": conversation_id,
        "conversation_id": conversation_id,
        "participants": participants,
        "hashtags": hashtags(text),
        "urls": links,
        "media": media,
    }


def message_attachments(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for attachment in _data(message.get("attachments")):
        name = attachment.get("name")
        description = str(name) if name else None
        image = attachment.get("image_data")
        video = attachment.get("video_data")
        if isinstance(video, Mapping) and video.get("url"):
            found.append(Attachment(str(video["url"]), "video", description))
        elif isinstance(image, Mapping) and image.get("url"):
            found.append(Attachment(str(image["url"]), "image", description))
        elif attachment.get("file_url"):
            found.append(Attachment(str(attachment["file_url"]), "unknown", description))
    sticker = message.get("sticker")
    if isinstance(sticker, str) and sticker:
        found.append(Attachment(sticker, "image", "sticker"))
    return tuple(found)


def _attachment_entry(attachment: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(attachment.get("video_data"), Mapping):
        kind = "video"
    elif isinstance(attachment.get("image_data"), Mapping):
        kind = "image"
    else:
        kind = "file"
    return {
        "id": _str(attachment.get("id")),
        "type": kind,
        "name": _str(attachment.get("name")),
        "mime_type": _str(attachment.get("mime_type")),
    }


def _data(edge: Any) -> list[Mapping[str, Any]]:
    """The objects of an inline edge ({"data": [...]}), or of a plain list."""
    if isinstance(edge, Mapping):
        edge = edge.get("data")
    return [e for e in edge or [] if isinstance(e, Mapping)] if isinstance(edge, list) else []


def _str(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None
