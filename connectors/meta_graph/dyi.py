"""Reading Meta's "Download your information" exports (JSON format), shared by the
Facebook and Instagram importers.

Two quirks of the format:
  - Mojibake: every string is written as its UTF-8 *bytes*, each escaped as a \\u00XX
    code point ("café" arrives as "cafÃ©", an emoji as four such characters).
    `fix_mojibake` undoes it losslessly: encode as Latin-1 (one byte per code point),
    decode as UTF-8, and keep the string as it was when either step fails (text that
    was never mangled, or a future export that writes real UTF-8).
  - No ids: posts, comments and messages carry no platform ids, so an exported item
    cannot be matched to its API capture. `export_id` derives a stable id from the
    kind, the timestamp and a full SHA-256 of the text, so re-importing the same or
    an overlapping export merges into the same items.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from archiver.item import Attachment, CaptureContext, CapturedItem
from connectors.exports.base import ARCHIVE_URL_SCHEME, parse_json
from connectors.exports.safe_archive import SafeArchive, UnsafeArchiveError

from .text import hashtags, urls

_VIDEO = frozenset({".mp4", ".mov", ".m4v", ".webm", ".3gp"})
_IMAGE = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".bmp"})
_AUDIO = frozenset({".m4a", ".aac", ".mp3", ".wav", ".ogg", ".opus"})
MESSAGE_FILE = re.compile(
    r"(?:^|/)messages/(?:inbox|archived_threads|filtered_threads|message_requests|"
    r"e2ee_cutover)/[^/]+/message_\d+\.json$"
)


def fix_mojibake(value: Any) -> Any:
    """`value` with every string (dict keys too) repaired; see the module docstring."""
    if isinstance(value, str):
        return fix_text(value)
    if isinstance(value, list):
        return [fix_mojibake(v) for v in value]
    if isinstance(value, dict):
        return {fix_text(k) if isinstance(k, str) else k: fix_mojibake(v) for k, v in value.items()}
    return value


def fix_text(text: str) -> str:
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def from_unix(seconds: Any, millis: bool = False) -> str | None:
    """A DYI timestamp (seconds, or milliseconds with `millis`) as RFC 3339 UTC."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    value = seconds / 1000 if millis else seconds
    try:
        moment = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if millis and int(seconds) % 1000:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_text(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class ExportIds:
    """Stable ids for items without platform ids: ``dyi:<kind>:<time>:<sha256>``, with
    ``#<n>`` appended to the n-th identical item (same kind, time and text)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def make(self, kind: str, timestamp: Any, *text: str) -> str:
        base = f"dyi:{kind}:{timestamp}:{sha256_text(*text)}"
        count = self._seen.get(base, 0) + 1
        self._seen[base] = count
        return base if count == 1 else f"{base}#{count}"


class DyiExport:
    """The members of one export archive: finding data files, loading them repaired,
    and resolving the media URIs they contain (relative to the export's root folder,
    which a zip may nest under a folder of its own)."""

    def __init__(self, archive: SafeArchive, markers: Iterable[str]) -> None:
        self.archive = archive
        self.names = sorted(archive.names())
        roots = {""}
        for name in self.names:
            for marker in markers:
                index = name.find(marker)
                if index >= 0 and (index == 0 or name[index - 1] == "/"):
                    roots.add(name[:index])
        self.roots = sorted(roots, key=len)

    def find(self, pattern: re.Pattern[str]) -> list[str]:
        return [name for name in self.names if pattern.search(name)]

    def load(self, member: str) -> Any:
        return fix_mojibake(parse_json(self.archive.read(member), member))

    def load_list(self, member: str, *keys: str) -> list[Mapping[str, Any]]:
        """A file holding a list of objects, or an object holding one under the first of
        `keys` present (layouts renamed them over the years)."""
        data = self.load(member)
        if keys and isinstance(data, Mapping):
            data = next((data[k] for k in keys if k in data), [])
        if not isinstance(data, list):
            wanted = f"a list under {' or '.join(map(repr, keys))}" if keys else "a JSON list"
            raise UnsafeArchiveError(f"{member}: expected {wanted}, got {type(data).__name__}")
        return [entry for entry in data if isinstance(entry, Mapping)]

    def media_member(self, uri: Any) -> str | None:
        if not isinstance(uri, str) or not uri or "://" in uri:
            return None
        for root in self.roots:
            candidate = f"{root}{uri.lstrip('/')}"
            if self.archive.exists(candidate):
                return candidate
        return None

    def media(self, entries: Iterable[Any]) -> tuple[list[dict[str, Any]], list[Attachment]]:
        """Content entries and attachments for DYI media objects ({"uri", "title"...})."""
        content: list[dict[str, Any]] = []
        attachments: list[Attachment] = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            uri = entry.get("uri")
            kind = media_type(uri)
            member = self.media_member(uri)
            # Content names the media as the export does (relative to its root), so the
            # same export zipped under another top folder normalises identically.
            url = None
            if isinstance(uri, str) and uri:
                url = uri if "://" in uri else f"{ARCHIVE_URL_SCHEME}{uri.lstrip('/')}"
            description = entry.get("description") or None
            content.append({"type": kind, "url": url, "description": description})
            if member:
                attachments.append(Attachment(f"{ARCHIVE_URL_SCHEME}{member}", kind, description))
        return content, attachments


def media_type(uri: Any) -> str:
    suffix = PurePosixPath(str(uri or "")).suffix.lower()
    if suffix in _VIDEO:
        return "video"
    if suffix in _IMAGE:
        return "image"
    if suffix in _AUDIO:
        return "audio"
    return "unknown"


def message_threads(export: DyiExport) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(member, thread) for every messages/<folder>/<thread>/message_N.json."""
    for member in export.find(MESSAGE_FILE):
        thread = export.load(member)
        if not isinstance(thread, Mapping) or not isinstance(thread.get("messages"), list):
            raise UnsafeArchiveError(f"{member}: expected an object with a 'messages' list")
        yield member, thread


MESSAGE_MEDIA_KEYS = ("photos", "videos", "gifs", "audio_files", "files")


def thread_id(member: str, thread: Mapping[str, Any]) -> str:
    """The export's own thread path ("inbox/name_123"); not the API's conversation id."""
    path = thread.get("thread_path")
    if isinstance(path, str) and path:
        return path
    parts = PurePosixPath(member).parts
    return "/".join(parts[-3:-1])


def message_items(
    export: DyiExport, platform: str, account: str, source: CaptureContext
) -> Iterator[CapturedItem]:
    """Messenger / Instagram Direct threads (the same layout in both exports) as DMs."""
    ids = ExportIds()
    for member, thread in message_threads(export):
        conversation = thread_id(member, thread)
        participants = sorted(
            {
                str(p["name"])
                for p in thread.get("participants") or []
                if isinstance(p, Mapping) and p.get("name")
            }
        )
        for message in thread["messages"]:
            if not isinstance(message, Mapping):
                continue
            sender = str(message.get("sender_name") or "")
            stamp = message.get("timestamp_ms")
            text = str(message.get("content") or "")
            entries: list[Any] = []
            for key in MESSAGE_MEDIA_KEYS:
                entries.extend(message.get(key) or [])
            if isinstance(message.get("sticker"), Mapping):
                entries.append(message["sticker"])
            media, attachments = export.media(entries)
            links = urls(text)
            share = message.get("share")
            link = share.get("link") if isinstance(share, Mapping) else None
            if isinstance(link, str) and link and link not in links:
                links.append(link)
            content: dict[str, Any] = {
                "text": text,
                "author": sender or None,
                "author_name": sender or None,
                "created_at": from_unix(stamp, millis=True),
                "thread_id": conversation,
                "conversation_id": conversation,
                "participants": participants,
                "hashtags": hashtags(text),
                "urls": links,
                "media": media,
                "source": "export",
            }
            if message.get("is_unsent"):
                content["unsent"] = True
            yield CapturedItem(
                platform=platform,
                account=account,
                native_id=ids.make("dm", stamp, conversation, sender, text),
                kind="dm",
                content=content,
                raw=dict(message),
                capture=source,
                attachments=tuple(attachments),
            )
