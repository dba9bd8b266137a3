"""What the reports show, thread by thread: each item with its versions, the
word-level changes between them, deletion evidence, media and its place in the
conversation. Built from the pack's own files (the exact bytes in data/), one
thread at a time, so the reports never hold the whole pack in memory.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from archiver.export import content as c
from archiver.export.packindex import PackIndex, ThreadKey
from archiver.export.paths import HEX64, record_path

MAX_EMBEDDED_THUMBNAIL = 512 * 1024
MAX_PRINT_ORIGINAL = 256 * 1024
MAX_DIFF_TOKENS = 6000
MAX_DEPTH = 8
_TOKENS = re.compile(r"\s+|\S+")
# Image formats a browser shows in <img> without running anything (no SVG).
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image(data: bytes) -> str | None:
    for signature, mime in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass
class MediaView:
    sha256: str
    path: str | None  # relative to data/, e.g. "media/<sha256>.png"
    content_type: str
    size: int | None
    description: str
    source_url: str | None
    thumbnail: bytes | None = None
    thumbnail_type: str | None = None
    print_file: str | None = None  # for the PDF: the picture file in the pack to embed


THREAD_CONTEXT = "thread-context"  # the selection reason of a record added with its thread
REASON_NOTES = {"version-history": "version history", THREAD_CONTEXT: "thread context"}


@dataclass
class VersionView:
    record_id: str
    doc_id: str
    version: int
    observation: str
    captured: str | None
    leaf_index: int
    proof_file: str  # pack path of the proofs file with its inclusion proof
    proof_line: int
    reason: str
    text: str
    changes: list[tuple[str, str]] | None = None  # word diff against the previous text
    changed_fields: list[str] = field(default_factory=list)
    deletion: str | None = None
    deletion_body: str | None = None


@dataclass
class ItemView:
    platform: str
    account: str
    native_id: str
    kind: str
    section: str
    author: str
    author_name: str
    created: str | None
    url: str | None
    text: str
    content_warning: str
    visibility: str
    hidden: bool
    in_reply_to: str | None
    participants: list[str]
    media: list[MediaView]
    versions: list[VersionView]
    deleted: VersionView | None
    own: bool
    depth: int = 0
    parent_missing: bool = False

    @property
    def latest(self) -> VersionView:
        return self.versions[-1]

    @property
    def edited(self) -> bool:
        return any(v.observation == "edited" for v in self.versions)

    @property
    def context_note(self) -> str | None:
        """Why an item nobody selected is in the pack (every version came as context),
        so an investigator never mistakes it for a match."""
        if any(v.reason != THREAD_CONTEXT for v in self.versions):
            return None
        if self.section == "dm":
            return "Context: in the conversation of a selected message, not itself selected"
        return "Context: in the thread of a selected post, not itself selected"


@dataclass
class ThreadView:
    key: str
    section: str
    title: str
    start: str | None
    items: list[ItemView]

    @property
    def record_count(self) -> int:
        return sum(len(item.versions) for item in self.items)


def word_diff(old: str, new: str) -> list[tuple[str, str]] | None:
    """('equal' | 'delete' | 'insert', text) runs, word by word; None when the texts
    are too long to diff quickly (the versions are still shown in full)."""
    before, after = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(before) + len(after) > MAX_DIFF_TOKENS:
        return None
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("equal", "".join(before[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("delete", "".join(before[i1:i2])))
        if j2 > j1:
            runs.append(("insert", "".join(after[j1:j2])))
    return runs


def _handle(value: str) -> str:
    return value.lstrip("@").split("@", 1)[0].lower()


class ThreadReader:
    """Walks the pack's threads: public threads first (by their first post's time),
    then direct-message conversations."""

    def __init__(
        self, index: PackIndex, bag_root: Path, zone: ZoneInfo = c.UTC, for_print: bool = False
    ) -> None:
        self.index = index
        self.for_print = for_print
        self.bag_root = bag_root
        self._root = str(bag_root)
        self.zone = zone

    def threads(self, first: int | None = None, last: int | None = None) -> Iterator[ThreadView]:
        for key, rows in self.index.threads(first, last):
            yield self.thread(key, rows)

    def thread(self, key: ThreadKey, rows: list[sqlite3.Row]) -> ThreadView:
        by_item: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for row in rows:
            by_item[row["item_key"]].append(row)
        items = [self._item(versions) for versions in by_item.values()]
        ordered = self._chronological(items) if key.section == "dm" else self._as_tree(items)
        return ThreadView(
            key.key, key.section, self._title(key.section, ordered), key.start, ordered
        )

    def _load(self, record_id: str) -> dict[str, Any]:
        with open(f"{self._root}/{record_path(record_id)}", "rb") as file:
            value = json.loads(file.read())
        return value if isinstance(value, dict) else {}

    def _item(self, rows: list[sqlite3.Row]) -> ItemView:
        loaded = [(row, self._load(row["record_id"])) for row in rows]
        versions: list[VersionView] = []
        previous: dict[str, Any] | None = None
        shown: dict[str, Any] | None = None
        for row, fields in loaded:
            body = c.content(fields)
            view = VersionView(
                record_id=row["record_id"],
                doc_id=row["doc_id"],
                version=int(row["version"] or 0),
                observation=str(row["observation"]),
                captured=row["captured"],
                leaf_index=int(row["leaf_index"]),
                proof_file=row["proof_file"],
                proof_line=int(row["proof_line"]),
                reason=row["reason"],
                text=c.clean(c.text_or_none(body.get("text")) or ""),
            )
            if c.is_tombstone(fields):
                view.text = ""
                view.deletion = c.deletion_summary(body, row["captured"], self.zone)
                response = c.text_or_none(body.get("body"))
                view.deletion_body = c.clean(response)[:2000] if response else None
            else:
                if previous is not None:
                    before = c.clean(c.text_or_none(previous.get("text")) or "")
                    if before != view.text:
                        view.changes = word_diff(before, view.text)
                    view.changed_fields = sorted(
                        k
                        for k in set(previous) | set(body)
                        if k != "text" and previous.get(k) != body.get(k)
                    )
                previous = body
                shown = fields
            versions.append(view)
        first = loaded[0][0]
        latest_fields = shown or {}
        body = c.content(latest_fields)
        account = str(first["account"])
        author = c.clean(c.text_or_none(body.get("author")) or "")
        return ItemView(
            platform=str(first["platform"]),
            account=account,
            native_id=str(first["native_id"]),
            kind=str(first["kind"]),
            section=str(first["section"]),
            author=author,
            author_name=c.clean(c.text_or_none(body.get("author_name")) or ""),
            created=c.text_or_none(body.get("created_at")),
            url=c.text_or_none(body.get("url")),
            text=c.clean(c.text_or_none(body.get("text")) or ""),
            content_warning=c.clean(c.text_or_none(body.get("content_warning")) or ""),
            visibility=c.clean(c.text_or_none(body.get("visibility")) or ""),
            hidden=bool(body.get("hidden")),
            in_reply_to=c.text_or_none(body.get("in_reply_to")),
            participants=[c.clean(p) for p in c.participants(body)],
            media=self._media(latest_fields),
            versions=versions,
            deleted=versions[-1] if versions[-1].deletion else None,
            own=bool(author) and _handle(author) == _handle(account),
        )

    def _media(self, fields: dict[str, Any]) -> list[MediaView]:
        views = []
        for entry in c.media_list(fields):
            sha = entry.get("sha256")
            if not isinstance(sha, str) or not HEX64.fullmatch(sha):
                continue
            metadata = entry.get("metadata")
            metadata = metadata if isinstance(metadata, dict) else {}
            size = entry.get("size")
            view = MediaView(
                sha256=sha,
                path=self._relative(self.index.media_path(sha)),
                content_type=c.clean(c.text_or_none(entry.get("content_type")) or "unknown"),
                size=size if isinstance(size, int) else None,
                description=c.clean(c.text_or_none(metadata.get("description")) or ""),
                source_url=c.text_or_none(entry.get("source_url")),
            )
            thumb = metadata.get("thumbnail_sha256")
            candidates = [x for x in (thumb, sha) if isinstance(x, str) and HEX64.fullmatch(x)]
            for candidate in candidates:
                data = self._small_file(self.index.media_path(candidate))
                mime = sniff_image(data) if data else None
                if data and mime:
                    view.thumbnail, view.thumbnail_type = data, mime
                    break
            if self.for_print:
                view.print_file = self._print_file(candidates)
            views.append(view)
        return views

    def _print_file(self, candidates: list[str]) -> str | None:
        """The picture the PDF embeds, as a file in the pack: reportlab copies a JPEG
        file in as it is (DCT data passes through; from bytes it would decode the
        picture to fingerprint it), while PNG or GIF must be decoded and
        re-compressed, about 3 ms a picture. So the thumbnail if it is a JPEG, else
        the original if it is a small JPEG, else the thumbnail as it is."""
        found = []
        for position, candidate in enumerate(candidates):
            path = self.index.media_path(candidate)
            limit = MAX_EMBEDDED_THUMBNAIL if position == 0 else MAX_PRINT_ORIGINAL
            head = self._small_file(path, limit, head=16)
            kind = sniff_image(head) if head else None
            if path and kind:
                found.append((kind, f"{self._root}/{path}"))
        for kind, file in found:
            if kind == "image/jpeg":
                return file
        return found[0][1] if found else None

    @staticmethod
    def _relative(path: str | None) -> str | None:
        return path.removeprefix("data/") if path else None

    def _small_file(
        self, path: str | None, limit: int = MAX_EMBEDDED_THUMBNAIL, head: int = -1
    ) -> bytes | None:
        """A pack file's bytes (the first `head` only, if given), or None if it is
        missing or larger than `limit`."""
        if not path:
            return None
        file = self.bag_root / path
        try:
            if file.stat().st_size > limit:
                return None
            with open(file, "rb") as handle:
                return handle.read(head)
        except OSError:
            return None

    @staticmethod
    def _sort_key(item: ItemView) -> tuple[str, str]:
        return (c.iso_utc(item.created) or item.versions[0].captured or "", item.native_id)

    def _chronological(self, items: list[ItemView]) -> list[ItemView]:
        return sorted(items, key=self._sort_key)

    def _as_tree(self, items: list[ItemView]) -> list[ItemView]:
        """Parents before replies, replies indented; a reply whose parent is not in the
        pack starts a branch of its own and says so. Cycles in platform data cannot
        loop: every item is placed once."""
        items = sorted(items, key=self._sort_key)
        by_id = {item.native_id: item for item in items}
        children: dict[str, list[ItemView]] = defaultdict(list)
        roots = []
        for item in items:
            parent = item.in_reply_to
            if parent and parent in by_id and parent != item.native_id:
                children[parent].append(item)
            else:
                item.parent_missing = bool(parent)
                roots.append(item)
        ordered: list[ItemView] = []
        placed: set[str] = set()

        def place(start: ItemView) -> None:
            stack = [(start, 0)]
            while stack:
                item, depth = stack.pop()
                if item.native_id in placed:
                    continue
                placed.add(item.native_id)
                item.depth = min(depth, MAX_DEPTH)
                ordered.append(item)
                for child in reversed(children.get(item.native_id, [])):
                    stack.append((child, depth + 1))

        for root in roots:
            place(root)
        for item in items:  # only items caught in a reply cycle are left
            if item.native_id not in placed:
                item.parent_missing = True
                place(item)
        return ordered

    @staticmethod
    def _title(section: str, items: list[ItemView]) -> str:
        if not items:
            return "(empty)"
        first = items[0]
        if section == "dm":
            people = sorted(
                {p for item in items for p in item.participants}
                | {item.author for item in items if item.author}
            )
            return "Direct messages: " + (", ".join(people) if people else first.native_id)
        text = first.text or (first.deleted.deletion if first.deleted else "") or first.native_id
        words = " ".join(text.split())
        return words[:90] + ("…" if len(words) > 90 else "")
