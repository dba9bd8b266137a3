"""Everything the record page and the API show about one record: the post, its
versions with what changed, deletion evidence, its thread, media, hashes, the
retention that governs it, and its inclusion proof against the latest signed
checkpoint, checked here before it is shown."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from archiver.archive import Archive
from archiver.canonical import sha256_hex
from archiver.checkpoints import Checkpoint, leaf_hashes
from archiver.clock import format_time
from archiver.errors import ArchiverError, IntegrityError, UsageError
from archiver.merkle import inclusion_proof, leaf_hash, verify_inclusion
from archiver.records import Record, media_key, record_key
from archiver.retention_service import RetentionService
from archiver.web.searching import quote
from search.index import SearchRequest
from storage.catalogue.models import checkpoints, log_leaves, records
from storage.objects.base import ObjectNotFoundError

HEX64 = re.compile(r"^[0-9a-f]{64}$")
THREAD_LIMIT = 200
WORDS = re.compile(r"\s+|[^\s]+")
# Media a browser may show inline; anything else is offered as a download only.
INLINE_TYPES = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
}


class NotFoundError(LookupError):
    """No such record (or media on it) to show: a 404."""


@dataclass
class Version:
    record_id: str
    version: int
    observation: str
    captured_at: str
    text: str
    content: dict[str, Any]
    disposed: bool = False
    diff: list[tuple[str, str]] = field(default_factory=list)  # (op, words) vs the previous
    changed_fields: list[str] = field(default_factory=list)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """What changed between two texts, word by word: (equal|delete|insert, text)."""
    old, new = WORDS.findall(before), WORDS.findall(after)
    segments: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            segments.append(("equal", "".join(old[i1:i2])))
            continue
        if op in ("delete", "replace"):
            segments.append(("delete", "".join(old[i1:i2])))
        if op in ("insert", "replace"):
            segments.append(("insert", "".join(new[j1:j2])))
    return segments


def load_record(archive: Archive, record_id: str) -> Record:
    """A stored record, its hash checked against its id (IntegrityError if not)."""
    record = Record.from_bytes(archive.store.get(record_key(record_id)))
    if record.record_id != record_id:
        raise IntegrityError(record_key(record_id), "sha256", record_id, record.record_id)
    return record


def media_of(fields: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The blobs a record shows (and their thumbnails), by SHA-256."""
    found: dict[str, dict[str, Any]] = {}
    for media in fields.get("media") or []:
        if not isinstance(media, dict) or not HEX64.match(str(media.get("sha256", ""))):
            continue
        found[media["sha256"]] = media
        thumbnail = (media.get("metadata") or {}).get("thumbnail_sha256")
        if isinstance(thumbnail, str) and HEX64.match(thumbnail) and thumbnail not in found:
            found[thumbnail] = {"sha256": thumbnail, "content_type": "image/png",
                                "thumbnail_of": media["sha256"]}
    return found


def media_download(archive: Archive, record_id: str, sha256: str) -> tuple[bytes, dict[str, Any]]:
    """A media blob the record shows, checked against its hash. The store key is built
    from the two validated ids only: nothing from the client is used as a path."""
    if not (HEX64.match(record_id) and HEX64.match(sha256)):
        raise UsageError("not a record or media id")
    fields = _record_fields(archive, record_id)
    media = media_of(fields).get(sha256)
    if media is None:
        raise NotFoundError(f"record {record_id} shows no media {sha256}")
    data = archive.store.get(media_key(sha256))
    found = sha256_hex(data)
    if found != sha256:
        raise IntegrityError(media_key(sha256), "sha256", sha256, found)
    return data, media


def _record_fields(archive: Archive, record_id: str) -> dict[str, Any]:
    with archive.engine.connect() as conn:
        row = conn.execute(
            select(records.c.disposed_at).where(records.c.record_id == record_id)
        ).first()
    if row is None or row.disposed_at is not None:
        raise NotFoundError(f"no record {record_id}")
    return load_record(archive, record_id).fields


def disposition_for(content_type: str, sha256: str, download: bool) -> tuple[str, str]:
    """(Content-Type, Content-Disposition) for a blob: known media inline unless asked
    to download; anything else (HTML, SVG, unknown) only as an opaque attachment."""
    extension = INLINE_TYPES.get(content_type)
    if extension is None:
        return "application/octet-stream", f'attachment; filename="{sha256}.bin"'
    kind = "attachment" if download else "inline"
    return content_type, f'{kind}; filename="{sha256}.{extension}"'


class RecordView:
    """The record page's data, built for one acting user (audited as a view)."""

    def __init__(self, archive: Archive, leaves: Any) -> None:
        self.archive = archive
        self._leaves = leaves  # (tree_size, loader) -> list of leaf hashes, cached by the app

    def build(self, record_id: str) -> dict[str, Any]:
        if not HEX64.match(record_id):
            raise NotFoundError("not a record id")
        with self.archive.engine.connect() as conn:
            row = conn.execute(select(records).where(records.c.record_id == record_id)).first()
            if row is None:
                raise NotFoundError(f"no record {record_id}")
            chain = list(conn.execute(
                select(records.c.record_id, records.c.version, records.c.observation,
                       records.c.captured_at, records.c.disposed_at)
                .where(records.c.platform == row.platform, records.c.account == row.account,
                       records.c.native_id == row.native_id)
                .order_by(records.c.version)
            ))
        retention = RetentionService(self.archive).explain(record_id)  # audits the view
        view: dict[str, Any] = {
            "record_id": record_id,
            "row": row,
            "retention": retention,
            "disposed": row.disposed_at is not None,
            "problems": [],
        }
        fields: dict[str, Any] = {}
        if row.disposed_at is None:
            try:
                record = load_record(self.archive, record_id)
                fields = record.fields
                view["size"] = len(record.data)
            except (ObjectNotFoundError, IntegrityError, ValueError) as exc:
                view["problems"].append(f"the stored record could not be read: {exc}")
        view["fields"] = fields
        view["content"] = fields.get("content") if isinstance(fields.get("content"), dict) else {}
        view["capture"] = fields.get("capture") or {}
        view["versions"] = self._versions(chain)
        current = next((v for v in view["versions"] if v.record_id == record_id), None)
        view["deleted"] = row.observation == "deleted"
        shown = current
        if view["deleted"]:
            # A tombstone's content is the evidence; the post is the version it deleted.
            shown = next((v for v in reversed(view["versions"])
                          if v.version < row.version and v.observation != "deleted"
                          and not v.disposed), None)
            view["evidence"] = view["content"]
        view["post"] = shown.content if shown else {}
        view["post_record_id"] = shown.record_id if shown else None
        view["media"] = [m for m in media_of(fields).values() if "thumbnail_of" not in m]
        if view["deleted"] and shown is not None:
            try:
                view["media"] = [m for m in media_of(load_record(
                    self.archive, shown.record_id).fields).values() if "thumbnail_of" not in m]
                view["media_record_id"] = shown.record_id
            except (ObjectNotFoundError, IntegrityError, ValueError):
                view["media"] = []
        view.setdefault("media_record_id", record_id)
        view["thread"] = self._thread(row, view["post"])
        view["proof"] = self.proof(record_id)
        view["hashes"] = {
            "record_sha256": record_id,
            "content_sha256": fields.get("content_sha256") or row.content_sha256,
            "prev_record_id": row.prev_record_id,
            "leaf_hash": leaf_hash(bytes.fromhex(record_id)).hex(),
        }
        return view

    def _versions(self, chain: list[Any]) -> list[Version]:
        versions: list[Version] = []
        previous: Version | None = None
        for link in chain:
            content: dict[str, Any] = {}
            disposed = link.disposed_at is not None
            if not disposed:
                try:
                    loaded = load_record(self.archive, link.record_id).fields.get("content")
                    content = loaded if isinstance(loaded, dict) else {}
                except (ObjectNotFoundError, IntegrityError, ValueError):
                    content = {}
            text = str(content.get("text") or "") if link.observation != "deleted" else ""
            version = Version(link.record_id, link.version, link.observation,
                              format_time(link.captured_at), text, content, disposed)
            if previous is not None and link.observation != "deleted" and not disposed:
                version.diff = word_diff(previous.text, text)
                version.changed_fields = sorted(
                    key for key in set(previous.content) | set(content)
                    if previous.content.get(key) != content.get(key) and key != "text"
                )
            if link.observation != "deleted" and not disposed:
                previous = version
            versions.append(version)
        return versions

    def _thread(self, row: Any, post: dict[str, Any]) -> list[Any]:
        """The other items of the thread or DM conversation, oldest first, from the
        index (a lookup for this page, not a search of the user's: not audited)."""
        thread = post.get("thread_id") or post.get("conversation_id")
        parent = post.get("in_reply_to")
        clauses = []
        if isinstance(thread, str) and thread:
            clauses.append(f"thread:{quote(thread)}")
        if isinstance(parent, str) and parent:
            clauses.append(f"id:{quote(parent)}")
        if not clauses:
            return []
        query = f"platform:{quote(row.platform)} AND ({' OR '.join(clauses)})"
        try:
            page = self.archive.search.index.search(SearchRequest(
                query, sort="date-asc", page_size=THREAD_LIMIT, snippets=False))
        except (ArchiverError, ValueError):
            return []
        return list(page.hits)

    def proof(self, record_id: str) -> dict[str, Any]:
        """The inclusion proof of a record in the latest checkpoint, verified here
        against the checkpoint's signed root (and its signature against our key)."""
        with self.archive.engine.connect() as conn:
            leaf_index = conn.execute(
                select(log_leaves.c.leaf_index).where(log_leaves.c.record_id == record_id)
            ).scalar()
            latest = conn.execute(
                select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1)
            ).first()
        result: dict[str, Any] = {"leaf_index": leaf_index}
        if leaf_index is None:
            return {**result, "status": "not-in-log", "message": "the record is not in the log"}
        if latest is None or leaf_index >= latest.tree_size:
            return {**result, "status": "pending",
                    "message": "not yet covered by a signed checkpoint (run `archiver "
                               "checkpoint`)"}

        def load(tree_size: int) -> list[bytes]:
            with self.archive.engine.connect() as conn:
                return leaf_hashes(conn, tree_size)

        hashes = self._leaves(latest.tree_size, load)
        path = inclusion_proof(hashes, leaf_index)
        leaf = leaf_hash(bytes.fromhex(record_id))
        result.update({
            "tree_size": latest.tree_size,
            "root_hash": latest.root_hash,
            "signed_at": format_time(latest.signed_at),
            "key_id": latest.key_id,
            "signature": latest.signature,
            "checkpoint_key": latest.object_key,
            "leaf_hash": leaf.hex(),
            "path": [h.hex() for h in path],
        })
        try:
            verify_inclusion(leaf, leaf_index, latest.tree_size, path,
                             bytes.fromhex(latest.root_hash))
            checkpoint = Checkpoint.from_bytes(self.archive.store.get(latest.object_key))
            if checkpoint.root_hash != latest.root_hash:
                raise IntegrityError(latest.object_key, "root", latest.root_hash,
                                     checkpoint.root_hash)
            checkpoint.verify(self.archive.signer.public_raw)
        except (ArchiverError, ValueError, KeyError) as exc:
            return {**result, "status": "failed", "message": str(exc)}
        return {**result, "status": "verified",
                "message": "the path leads to the signed root; the signature checks"}


def record_json(view: dict[str, Any]) -> dict[str, Any]:
    """The record view for the API."""
    row = view["row"]
    return {
        "record_id": view["record_id"],
        "platform": row.platform,
        "account": row.account,
        "native_id": row.native_id,
        "kind": row.kind,
        "version": row.version,
        "observation": row.observation,
        "captured_at": format_time(row.captured_at),
        "created_at": format_time(row.created_at) if row.created_at else None,
        "disposed": view["disposed"],
        "content": view["content"],
        "capture": view["capture"],
        "post": view["post"],
        "versions": [
            {"record_id": v.record_id, "version": v.version, "observation": v.observation,
             "captured_at": v.captured_at, "disposed": v.disposed,
             "diff": [list(s) for s in v.diff], "changed_fields": v.changed_fields}
            for v in view["versions"]
        ],
        "media": [{k: m.get(k) for k in ("sha256", "content_type", "size", "width", "height",
                                         "source_url")} for m in view["media"]],
        "thread": [h.as_json() for h in view["thread"]],
        "hashes": view["hashes"],
        "proof": view["proof"],
        "retention": view["retention"],
        "problems": view["problems"],
    }


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
