"""Writing an evidence pack: select, sign, stream, describe, seal, audit.

1. Select the matter's records (its legal hold) or the query's (every version
   and tombstone it matches), then complete each item's version chain so every
   edit and deletion can be shown; disposed records are listed, not included.
2. Sign a checkpoint now (or take the latest, if the log has not grown since) so
   one signed tree head covers every record, and check it against the log.
3. Stream each record from the store into data/records (re-hashed on the way:
   its SHA-256 must be its id), with its text, and its inclusion proof as a
   line of data/proofs/proofs-NNNNN.jsonl; then media.
   Reads run a batch ahead on threads, and files are written on threads (one per
   directory), both system-call bound, while this thread parses and derives.
4. Derive the PDF volumes (worker processes for large packs, started first),
   the load file, custody, HTML report and certification template.
5. Write the tag files (manifests sorted), optionally zip, and audit the export.

Anything going wrong removes what was written: a pack is complete or absent.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from archiver import __version__
from archiver.canonical import canonical_bytes, sha256_hex
from archiver.checkpoints import Checkpoint
from archiver.clock import format_time
from archiver.errors import IntegrityError, StorageError, UsageError
from archiver.export import content as c
from archiver.export import custody, paths
from archiver.export.bag import (
    BagSummary,
    BagWriter,
    FileDigest,
    UnsafeOutputError,
    staging_directory,
    zip_bag,
)
from archiver.export.loadfile import LoadFileWriter
from archiver.export.model import THREAD_CONTEXT, ThreadReader
from archiver.export.packindex import PackIndex, item_key
from archiver.export.proofs import MerkleLevels, ProofFiles
from archiver.export.report_html import PAGE_RECORDS, HtmlReport, ReportMeta
from archiver.export.report_pdf import VOLUME_RECORDS, PdfVolume, volume_path, write_volume
from archiver.ingest import batched
from archiver.merkle import leaf_hash
from archiver.processes import worker_context
from archiver.records import media_key, record_key
from archiver.signing import key_id as key_id_of
from archiver.threads import named_thread, section_of
from archiver.verify import Progress
from storage.catalogue.models import checkpoints, log_leaves, records
from storage.catalogue.retention import hold_records, holds

if TYPE_CHECKING:
    from archiver.archive import Archive

TOOL = f"social-archiver {__version__}"
CHUNK = 500
BATCH = 2000
MEDIA_BATCH = 64
READ_THREADS = 8
PDF_WORKER_FROM = 3000  # records: below this, a worker process costs more than it saves
_DOC_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,16}")
_Row = Any


@dataclass(frozen=True)
class ExportRequest:
    out: Path
    matter: str | None = None
    query: str | None = None
    as_zip: bool = False
    reason: str | None = None
    recipient: str | None = None
    timezone: str = "UTC"
    doc_id_prefix: str = "SA"
    with_threads: bool = True  # each selected record's thread comes along as context


@dataclass
class ExportResult:
    path: Path
    as_zip: bool
    records: int
    matched: int
    version_history: int
    thread_context: int
    excluded: int
    media: int
    files: int
    payload_bytes: int
    tree_size: int
    root_hash: str
    key_id: str
    manifest_sha256: str
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass
class _Scope:
    matter: str | None
    query: str
    label: str  # External-Identifier
    hold: dict[str, Any] | None


class ExportService:
    """Writes evidence packs of one archive (docs/evidence-packs.md)."""

    def __init__(
        self,
        archive: Archive,
        *,
        pdf_worker_from: int = PDF_WORKER_FROM,
        html_page_records: int = PAGE_RECORDS,
        pdf_volume_records: int = VOLUME_RECORDS,
        proofs_per_file: int = paths.PROOFS_PER_FILE,
    ) -> None:
        self.archive = archive
        self.pdf_worker_from = pdf_worker_from
        self.html_page_records = html_page_records
        self.pdf_volume_records = pdf_volume_records
        self.proofs_per_file = proofs_per_file

    # -- the whole export -------------------------------------------------------------------
    def export(self, request: ExportRequest, progress: Progress | None = None) -> ExportResult:
        started = time.perf_counter()
        zone = self._check_request(request)
        with tempfile.TemporaryDirectory(prefix="archiver-export-") as work:
            index = PackIndex(Path(work) / "pack.sqlite3")
            try:
                scope = self._select(request, index)
                selected = index.count("selected")
                if not selected:
                    raise UsageError(f"{scope.label!r} covers no records that can be exported")
                head = self._tree_head(index)
                summary = self._write_pack(index, Path(work), request, scope, zone, head, progress)
                result = ExportResult(
                    path=request.out,
                    as_zip=request.as_zip,
                    records=index.count("records"),
                    matched=index.count("records", "WHERE reason = 'matched'"),
                    version_history=index.count("records", "WHERE reason = 'version-history'"),
                    thread_context=index.count("records", "WHERE reason = 'thread-context'"),
                    excluded=index.count("excluded"),
                    media=index.count("media"),
                    files=summary.payload_files,
                    payload_bytes=summary.payload_bytes,
                    tree_size=head[1].tree_size,
                    root_hash=head[1].root_hash,
                    key_id=str(head[1].tree_head["key_id"]),
                    manifest_sha256=summary.manifest_sha256,
                    seconds=time.perf_counter() - started,
                )
                if result.excluded:
                    result.warnings.append(
                        f"{result.excluded} disposed record(s) could not be included; "
                        "they are listed in data/custody/export.json"
                    )
            finally:
                index.close()
        self.archive.audit.record(
            self.archive.actor,
            "export",
            {
                "matter": scope.matter,
                "query": scope.query,
                "out": str(request.out),
                "zip": request.as_zip,
                "reason": request.reason,
                "recipient": request.recipient,
                "with_threads": request.with_threads,
                "records": result.records,
                "matched": result.matched,
                "version_history": result.version_history,
                "thread_context": result.thread_context,
                "excluded": result.excluded,
                "media": result.media,
                "payload_oxum": f"{result.payload_bytes}.{result.files}",
                "manifest_sha256": result.manifest_sha256,
                "tree_size": result.tree_size,
                "root_hash": result.root_hash,
                "key_id": result.key_id,
            },
        )
        result.seconds = time.perf_counter() - started
        return result

    def _write_pack(
        self,
        index: PackIndex,
        work: Path,
        request: ExportRequest,
        scope: _Scope,
        zone: ZoneInfo,
        head: tuple[bytes, Checkpoint, MerkleLevels],
        progress: Progress | None,
    ) -> BagSummary:
        """The bag in `out`, or built beside it and zipped into `out`; on any failure
        nothing is left behind."""
        staging = staging_directory(request.out) if request.as_zip else None
        top = _safe_top(request.out.name.removesuffix(".zip") if staging else request.out.name)
        bag_dir = staging / top if staging else request.out
        try:
            writer = BagWriter(bag_dir, work)
            try:
                summary = self._write(writer, index, request, scope, zone, *head, progress)
            except BaseException:
                writer.abort()
                raise
            if staging is not None:
                if progress:
                    progress("zip", 0, 1)
                zip_bag(bag_dir, request.out, top, self.archive.clock.now())
                if progress:
                    progress("zip", 1, 1)
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        return summary

    def _check_request(self, request: ExportRequest) -> ZoneInfo:
        if (request.matter is None) == (request.query is None):
            raise UsageError("give exactly one of --matter or --query")
        if request.query is not None and not request.query.strip():
            raise UsageError("the query is empty")
        if not _DOC_PREFIX.fullmatch(request.doc_id_prefix):
            raise UsageError("the DocID prefix must be 1-16 letters, digits, '_' or '-'")
        try:
            zone = ZoneInfo(request.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(
                f"unknown time zone {request.timezone!r} (e.g. UTC, Europe/London)"
            ) from None
        out = request.out
        if request.as_zip:
            if os.path.lexists(out):
                raise UnsafeOutputError(f"{out} exists: a zipped pack is written to a new file")
        elif os.path.lexists(out):
            if out.is_symlink():
                raise UnsafeOutputError(
                    f"{out} is a symlink: refusing to follow it; give the real directory"
                )
            if not out.is_dir():
                raise UnsafeOutputError(f"{out} exists and is not a directory")
            if any(out.iterdir()):
                raise UnsafeOutputError(
                    f"{out} is not empty: an evidence pack goes into a new or empty directory"
                )
        return zone

    # -- 1. selection -------------------------------------------------------------------------
    def _select(self, request: ExportRequest, index: PackIndex) -> _Scope:
        archive = self.archive
        if request.matter is not None:
            scope = self._select_matter(request.matter, index)
        else:
            from archiver.holds import matching_ids  # the hold service's query semantics

            query = request.query or ""
            archive.search.index_pending()  # the query must see every record
            ids = sorted(matching_ids(archive, query))
            with archive.engine.connect() as conn:
                for chunk in batched(ids, CHUNK):
                    self._add_rows(
                        index,
                        conn.execute(_row_query().where(records.c.record_id.in_(chunk))),
                        "matched",
                    )
            scope = _Scope(None, query, query, None)
        self._add_version_chains(index)
        if request.with_threads:
            self._add_thread_context(index)
        index.commit()
        return scope

    def _select_matter(self, matter: str, index: PackIndex) -> _Scope:
        with self.archive.engine.connect() as conn:
            hold = conn.execute(select(holds).where(holds.c.matter == matter)).first()
            if hold is None:
                raise UsageError(f"no matter named {matter!r} (see `archiver hold list`)")
            query = (
                _row_query()
                .join(hold_records, hold_records.c.record_id == records.c.record_id)
                .where(hold_records.c.hold_id == hold.id)
                .execution_options(yield_per=5000)
            )
            self._add_rows(index, conn.execute(query), "matched")
        described = {
            "matter": hold.matter,
            "query": hold.query,
            "accounts": hold.accounts,
            "from": format_time(hold.date_from) if hold.date_from else None,
            "to": format_time(hold.date_to) if hold.date_to else None,
            "reason": hold.reason,
            "status": hold.status,
            "created_at": format_time(hold.created_at),
            "created_by": hold.created_by,
            "released_at": format_time(hold.released_at) if hold.released_at else None,
            "released_by": hold.released_by,
        }
        return _Scope(matter, hold.query, matter, described)

    @staticmethod
    def _add_rows(index: PackIndex, rows: Any, reason: str) -> None:
        chosen, excluded = [], []
        for row in rows:
            if row.disposed_at is not None:
                excluded.append((row.record_id, "disposed", format_time(row.disposed_at)))
            else:
                chosen.append(
                    (
                        row.record_id,
                        row.leaf_index,
                        reason,
                        row.platform,
                        row.account,
                        row.native_id,
                        row.thread_key,
                    )
                )
            if len(chosen) >= BATCH:
                index.select(chosen)
                chosen = []
        index.select(chosen)
        index.exclude(excluded)

    def _add_version_chains(self, index: PackIndex) -> None:
        """Every version and tombstone of each selected item, so the pack can show what
        changed and when it was deleted even if the query matched one version only."""
        self._add_related(index, index.selected_items(), records.c.native_id, "version-history")

    def _add_thread_context(self, index: PackIndex) -> None:
        """Every record of each selected record's thread (a post's parents and replies,
        a DM's whole conversation) in the same archived account, so a reply is never
        read without what it answers. Records selected before keep their reason."""
        self._add_related(index, index.selected_threads(), records.c.thread_key, THREAD_CONTEXT)

    def _add_related(
        self, index: PackIndex, keys: Iterable[tuple[str, str, str]], column: Any, reason: str
    ) -> None:
        """The records whose `column` is one of `keys` (platform, account, value; sorted
        by platform and account), a chunk of values per query on its index."""
        groups: dict[tuple[str, str], list[str]] = {}
        with self.archive.engine.connect() as conn:

            def add(platform: str, account: str, values: list[str]) -> None:
                rows = conn.execute(
                    _row_query().where(
                        records.c.platform == platform,
                        records.c.account == account,
                        column.in_(values),
                    )
                )
                self._add_rows(index, rows, reason)

            for platform, account, value in keys:
                group = groups.setdefault((platform, account), [])
                group.append(value)
                if len(group) >= CHUNK:
                    add(platform, account, groups.pop((platform, account)))
            for (platform, account), values in groups.items():
                add(platform, account, values)

    # -- 2. the signed tree head -------------------------------------------------------------
    def _tree_head(self, index: PackIndex) -> tuple[bytes, Checkpoint, MerkleLevels]:
        archive = self.archive
        checkpoint = archive.checkpoint()
        if checkpoint is not None:
            data = checkpoint.to_bytes()
        else:  # the log has not grown since the latest checkpoint, which covers everything
            with archive.engine.connect() as conn:
                row = conn.execute(
                    select(checkpoints.c.object_key)
                    .order_by(checkpoints.c.tree_size.desc())
                    .limit(1)
                ).first()
            if row is None:
                raise StorageError("the archive has no checkpoint to prove records against")
            data = archive.store.get(row.object_key)
            checkpoint = Checkpoint.from_bytes(data)
        public_raw = base64.b64decode(checkpoint.public_key)
        if key_id_of(public_raw) != checkpoint.tree_head.get("key_id"):
            raise IntegrityError(
                "tree head",
                "key id",
                str(checkpoint.tree_head.get("key_id")),
                key_id_of(public_raw),
            )
        checkpoint.verify(public_raw)
        size = checkpoint.tree_size
        with archive.engine.connect() as conn:
            rows = conn.execute(
                select(log_leaves.c.leaf_hash)
                .where(log_leaves.c.leaf_index < size)
                .order_by(log_leaves.c.leaf_index)
                .execution_options(yield_per=20000)
            )
            levels = MerkleLevels(bytes.fromhex(value) for (value,) in rows)
        if levels.size != size:
            raise IntegrityError("log", "leaf count", str(size), str(levels.size))
        if levels.root().hex() != checkpoint.root_hash:
            raise IntegrityError("log", "merkle root", checkpoint.root_hash, levels.root().hex())
        highest = index.max_leaf()
        if highest is not None and highest >= size:
            raise StorageError(
                f"record at leaf {highest} is not covered by the tree head of size {size}"
            )
        return data, checkpoint, levels

    # -- 3-5. writing ---------------------------------------------------------------------------
    def _write(
        self,
        writer: BagWriter,
        index: PackIndex,
        request: ExportRequest,
        scope: _Scope,
        zone: ZoneInfo,
        checkpoint_bytes: bytes,
        checkpoint: Checkpoint,
        levels: MerkleLevels,
        progress: Progress | None,
    ) -> BagSummary:
        archive = self.archive
        now = archive.clock.now()
        self._write_records(writer, index, request.doc_id_prefix, levels, progress)
        self._write_media(writer, index, progress)
        self._write_tree_head(writer, checkpoint_bytes, checkpoint)
        index.build_threads()
        total = index.count("records")
        counts = {
            "records": total,
            "matched": index.count("records", "WHERE reason = 'matched'"),
            "added_as_version_history": index.count("records", "WHERE reason = 'version-history'"),
            "added_as_thread_context": index.count("records", "WHERE reason = 'thread-context'"),
            "media_files": index.count("media"),
            "not_included_disposed": index.count("excluded"),
        }
        bag_name = writer.root.name
        meta = ReportMeta(
            title=f"Evidence pack {bag_name}",
            organisation=archive.settings.archive.organisation,
            scope=_scope_text(scope),
            exported_at=format_time(now),
            exported_by=archive.actor,
            tree_size=checkpoint.tree_size,
            root_hash=checkpoint.root_hash,
            key_id=str(checkpoint.tree_head["key_id"]),
            signed_at=str(checkpoint.tree_head["signed_at"]),
            zone=zone,
            counts=counts,
        )
        # The PDF (the slowest part) starts first, in worker processes for large
        # packs, and draws while the load file, custody and HTML are written here.
        writer.directory(paths.REPORT_DIR)
        pdf = _PdfVolumes(self, writer, index, meta, total >= self.pdf_worker_from)
        try:
            self._write_loadfile_and_custody(writer, index, progress)
            pdf_volumes = self._write_reports(writer, index, meta, total, pdf, progress)
        finally:
            pdf.close()
        with archive.engine.connect() as conn:
            history = custody.audit_history(conn, scope.matter)
        summary_doc = {
            "export": {
                "by": archive.actor,
                "at": format_time(now),
                "tool": TOOL,
                "organisation": meta.organisation,
                "matter": scope.matter,
                "query": scope.query,
                "reason": request.reason,
                "with_threads": request.with_threads,
                "counts": counts,
                "not_included": index.excluded_rows(),
            },
            "legal_hold": scope.hold,
            "tree_head": checkpoint.tree_head,
            "transfers": [
                {
                    "released_by": archive.actor,
                    "released_at": format_time(now),
                    "received_by": request.recipient,
                    "received_at": None,
                    "purpose": request.reason,
                    "note": "received_by and received_at are completed by the recipient",
                }
            ],
            **history,
        }
        writer.write(f"{paths.CUSTODY_DIR}/export.json", custody.export_document(summary_doc))
        writer.write(
            paths.CERTIFICATION,
            custody.certification_text(
                organisation=meta.organisation,
                bag_name=bag_name,
                scope=meta.scope,
                records=total,
                media=counts["media_files"],
                exported_at=now,
                exported_by=archive.actor,
                tree_size=checkpoint.tree_size,
                root_hash=checkpoint.root_hash,
                key_id=meta.key_id,
                tool=TOOL,
            ).encode("utf-8"),
        )
        writer.write(
            paths.README,
            custody.readme_text(
                bag_name=bag_name,
                organisation=meta.organisation,
                scope=meta.scope,
                key_id=meta.key_id,
            ).encode("utf-8"),
        )
        bag_info = [
            ("Source-Organization", meta.organisation),
            ("External-Identifier", scope.label),
            ("Bagging-Date", now.date().isoformat()),
            ("Bag-Software-Agent", TOOL),
            ("Internal-Sender-Identifier", bag_name),
            (
                "Internal-Sender-Description",
                f"Evidence pack: {total} records ({counts['matched']} matched, "
                f"{counts['added_as_version_history']} added as version history, "
                f"{counts['added_as_thread_context']} added as thread context), "
                f"{counts['media_files']} media files, {len(pdf_volumes)} PDF volume(s)",
            ),
        ]
        if scope.matter is not None:
            bag_info.append(("Export-Matter", scope.matter))
        bag_info += [
            ("Export-Query", scope.query),
            ("Exported-By", archive.actor),
            ("Tree-Size", str(checkpoint.tree_size)),
            ("Tree-Root-Hash", checkpoint.root_hash),
            ("Signing-Key-Id", meta.key_id),
        ]
        if progress:
            progress("manifests", 0, 1)
        summary = writer.finish(bag_info)
        if progress:
            progress("manifests", 1, 1)
        return summary

    def _write_records(
        self,
        writer: BagWriter,
        index: PackIndex,
        prefix: str,
        levels: MerkleLevels,
        progress: Progress | None,
    ) -> None:
        total = index.count("selected")
        done = 0
        batches = index.selected(BATCH)
        with ProofFiles(writer, levels, self.proofs_per_file) as proofs:
            for batch, contents in self._prefetched(batches, lambda row: record_key(row[0])):
                rows: list[tuple[Any, ...]] = []
                media_rows: list[tuple[Any, ...]] = []
                blobs: list[tuple[str, str, str, str]] = []
                natives: list[tuple[str, bytes]] = []
                texts: list[tuple[str, bytes]] = []
                for (record_id, leaf_index, reason), data in zip(batch, contents, strict=True):
                    _check_record(record_id, leaf_index, data, levels)
                    fields = json.loads(data)
                    natives.append((paths.record_path(record_id), data))
                    text = c.record_text(fields).encode("utf-8")
                    texts.append((paths.text_path(record_id), text))
                    proof = proofs.add(record_id, leaf_index)
                    done += 1
                    doc_id = f"{prefix}{done:07d}"
                    rows.append(
                        _index_row(fields, record_id, leaf_index, reason, doc_id, len(data), proof)
                    )
                    _media_of(record_id, fields, media_rows, blobs)
                writer.write_batch([natives, texts])
                index.add_records(rows)
                index.add_record_media(media_rows)
                index.add_media(blobs)
                if progress:
                    progress("records", done, total)
        writer.finish_batches()
        index.commit()

    def _write_media(self, writer: BagWriter, index: PackIndex, progress: Progress | None) -> None:
        total = index.count("media")
        if progress:
            progress("media", 0, total)
        done = 0
        batches = _batches(_media_rows(index), MEDIA_BATCH)
        for batch, contents in self._prefetched(batches, lambda row: media_key(row[0])):
            for (sha, path), data in zip(batch, contents, strict=True):
                found = sha256_hex(data)
                if found != sha:
                    raise IntegrityError(media_key(sha), "sha256", sha, found)
                writer.write(path, data)
            done += len(batch)
            if progress:
                progress("media", done, total)

    def _prefetched(
        self, batches: Iterable[list[_Row]], key: Callable[[_Row], str]
    ) -> Iterator[tuple[list[_Row], Iterator[bytes]]]:
        """Each batch with its objects' bytes, read by a few threads one batch ahead:
        reading is I/O (a disk, or S3 round trips) and overlaps the hashing and
        writing of the batch before. Each thread reads a slice of the batch (one
        task per slice, not per object). Memory: two batches of objects at most."""
        store = self.archive.store

        def read(keys: list[str]) -> list[bytes]:
            return [store.get(k) for k in keys]

        def submit(batch: list[_Row]) -> list[Future[list[bytes]]]:
            keys = [key(row) for row in batch]
            step = -(-len(keys) // READ_THREADS)
            return [pool.submit(read, keys[i : i + step]) for i in range(0, len(keys), step)]

        def results(futures: list[Future[list[bytes]]]) -> Iterator[bytes]:
            for future in futures:
                yield from future.result()

        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            ahead: tuple[list[_Row], list[Future[list[bytes]]]] | None = None
            for batch in batches:
                submitted = (batch, submit(batch))
                if ahead is not None:
                    yield ahead[0], results(ahead[1])
                ahead = submitted
            if ahead is not None:
                yield ahead[0], results(ahead[1])

    @staticmethod
    def _write_tree_head(writer: BagWriter, data: bytes, checkpoint: Checkpoint) -> None:
        public_raw = base64.b64decode(checkpoint.public_key)
        pem = Ed25519PublicKey.from_public_bytes(public_raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        writer.write(paths.CHECKPOINT_FILE, data)
        writer.write(paths.SIGNED_BYTES_FILE, canonical_bytes(checkpoint.tree_head))
        writer.write(paths.SIGNATURE_FILE, base64.b64decode(checkpoint.signature))
        writer.write(paths.PUBLIC_KEY_FILE, pem)

    @staticmethod
    def _write_loadfile_and_custody(
        writer: BagWriter, index: PackIndex, progress: Progress | None
    ) -> None:
        total = index.count("records")
        with (
            writer.open(paths.LOADFILE_DAT) as dat,
            writer.open(paths.LOADFILE_CSV) as csv_file,
            writer.open(f"{paths.CUSTODY_DIR}/records.jsonl") as custody_file,
        ):
            loadfile = LoadFileWriter(dat, csv_file)
            for done, row in enumerate(index.records_in_leaf_order(), 1):
                loadfile.add(_loadfile_row(index, row))
                media = index.media_of(row["record_id"]) if row["media_count"] else []
                custody_file.write(custody.record_entry(row, media))
                if progress and (done % 2000 == 0 or done == total):
                    progress("load file", done, total)

    def _write_reports(
        self,
        writer: BagWriter,
        index: PackIndex,
        meta: ReportMeta,
        total: int,
        pdf: _PdfVolumes,
        progress: Progress | None,
    ) -> list[str]:
        """HTML pages, thread by thread; then the PDF volumes are collected (or,
        for small packs, drawn now)."""
        html = HtmlReport(writer, meta, self.html_page_records)
        try:
            done = 0
            for thread in ThreadReader(index, writer.root, meta.zone).threads():
                html.add(thread)
                done += thread.record_count
                if progress:
                    progress("report", done, total)
            volumes = pdf.collect(progress)
        except BaseException:
            html.abort()
            raise
        files = [
            (f"PDF report, volume {n}", p.rsplit("/", 1)[-1]) for n, p in enumerate(volumes, 1)
        ]
        files += [
            ("Load file (Concordance DAT)", "../loadfile.dat"),
            ("Load file (CSV)", "../loadfile.csv"),
            ("Chain of custody (export)", "../custody/export.json"),
            ("Chain of custody (records)", "../custody/records.jsonl"),
            ("Certification template (FRE 902(14))", "../certification-fre-902-14.txt"),
            ("Signed tree head", "../tree-head/checkpoint.json"),
        ]
        html.finish(files)
        return volumes


class _PdfVolumes:
    """The PDF volumes, planned up front (whole threads each), drawn by worker
    processes (one per core) when `in_workers`, else here when collected."""

    def __init__(
        self,
        service: ExportService,
        writer: BagWriter,
        index: PackIndex,
        meta: ReportMeta,
        in_workers: bool,
    ) -> None:
        self.writer, self.index, self.meta = writer, index, meta
        self.plan = index.volume_plan(service.pdf_volume_records)
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[Future[FileDigest]] = []
        of = len(self.plan)
        if in_workers and of:
            workers = max(1, min(os.cpu_count() or 1, of))
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=worker_context())
            self.futures = [
                self.pool.submit(write_volume, str(writer.root), str(index.path), meta, n, of, a, b)
                for n, (a, b, _) in enumerate(self.plan, 1)
            ]

    def collect(self, progress: Progress | None) -> list[str]:
        of = len(self.plan)
        if progress:
            progress("pdf", 0, of)
        for number, (first, last, _) in enumerate(self.plan, 1):
            if self.pool is not None:
                digest = self.futures[number - 1].result()
            else:
                handle = self.writer.create(volume_path(number))
                volume = PdfVolume(self.meta, number, of, handle)
                reader = ThreadReader(self.index, self.writer.root, self.meta.zone, for_print=True)
                for thread in reader.threads(first, last):
                    volume.add(thread)
                digest = volume.finish()
            self.writer.register(digest)
            if progress:
                progress("pdf", number, of)
        return [volume_path(n) for n in range(1, of + 1)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _row_query() -> Any:
    return select(
        records.c.record_id,
        records.c.leaf_index,
        records.c.platform,
        records.c.account,
        records.c.native_id,
        records.c.disposed_at,
        records.c.thread_key,
    )


def _batches(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_record(record_id: str, leaf_index: int, data: bytes, levels: MerkleLevels) -> None:
    """The stored bytes must still be the record (their SHA-256 is its id) and the
    log's leaf at its index must be its leaf hash: a pack never proves other bytes."""
    found = sha256_hex(data)
    if found != record_id:
        raise IntegrityError(record_key(record_id), "sha256", record_id, found)
    expected = leaf_hash(bytes.fromhex(record_id))
    if levels.leaf(leaf_index) != expected:
        raise IntegrityError(
            f"log leaf {leaf_index}", "leaf hash", expected.hex(), levels.leaf(leaf_index).hex()
        )


def _media_rows(index: PackIndex) -> Iterator[tuple[str, str]]:
    for row in index.media():
        yield str(row["sha256"]), str(row["path"])


def _media_of(
    record_id: str, fields: dict[str, Any], media_rows: list[tuple[Any, ...]], blobs: list[Any]
) -> None:
    """A record's media for the pack index: its rows, and each blob and thumbnail to copy."""
    for position, entry in enumerate(c.media_list(fields)):
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not paths.HEX64.fullmatch(sha):
            raise IntegrityError(record_key(record_id), "media sha256", "64 hex digits", repr(sha))
        metadata = entry.get("metadata")
        thumb = metadata.get("thumbnail_sha256") if isinstance(metadata, dict) else None
        thumb = thumb if isinstance(thumb, str) and paths.HEX64.fullmatch(thumb) else None
        content_type = c.text_or_none(entry.get("content_type"))
        size = entry.get("size")
        media_rows.append((
            record_id, position, sha, thumb, content_type, size if isinstance(size, int) else None,
            c.text_or_none(entry.get("source_url")),
        ))  # fmt: skip
        blobs.append((sha, paths.media_path(sha, content_type), content_type or "", "media"))
        if thumb:
            blobs.append((thumb, paths.media_path(thumb, "image/png"), "image/png", "thumbnail"))


def _safe_top(name: str) -> str:
    """The zip's top folder: the output's name, if it is a safe file name."""
    try:
        return paths.check_tag_path(name)
    except paths.UnsafePathError:
        raise UsageError(
            f"{name!r} cannot name a pack: use letters, digits, '.', '_' and '-'"
        ) from None


def _scope_text(scope: _Scope) -> str:
    if scope.matter is not None:
        return f"matter {scope.matter} (legal hold query: {scope.query})"
    return f"query {scope.query}"


def _index_row(
    fields: dict[str, Any],
    record_id: str,
    leaf_index: int,
    reason: str,
    doc_id: str,
    size: int,
    proof: tuple[str, int],
) -> tuple[Any, ...]:
    body = c.content(fields)
    cap = c.capture(fields)
    tombstone = c.is_tombstone(fields)
    platform, account, native_id = (
        str(fields.get(k, "")) for k in ("platform", "account", "native_id")
    )
    kind = str(fields.get("kind", ""))
    section = section_of(kind)
    thread = named_thread(fields)  # the pack's threads group items as the catalogue does
    version = fields.get("version")

    def text(name: str) -> str | None:
        return None if tombstone else c.text_or_none(body.get(name))

    people = c.participants(body) if not tombstone else []
    return (
        record_id,
        leaf_index,
        reason,
        doc_id,
        item_key(platform, account, native_id),
        platform,
        account,
        native_id,
        kind,
        version if isinstance(version, int) else None,
        c.text_or_none(fields.get("prev_record_id")),
        c.text_or_none(fields.get("observation")),
        section,
        thread,
        text("in_reply_to"),
        None if tombstone else c.iso_utc(body.get("created_at")),
        c.text_or_none(cap.get("captured_at")),
        text("author"),
        text("author_name"),
        "; ".join(people) if people else None,
        text("url"),
        c.text_or_none(cap.get("connector")),
        c.text_or_none(cap.get("connector_version")),
        c.text_or_none(cap.get("request_url")),
        c.text_or_none(cap.get("source")),
        c.text_or_none(cap.get("source_sha256")),
        c.text_or_none(fields.get("content_sha256")),
        size,
        1 if (not tombstone and body.get("hidden")) else 0,
        len(c.media_list(fields)),
        *proof,
    )


def _loadfile_row(index: PackIndex, row: Any) -> dict[str, str]:
    """One load-file row. A tombstone shows the author, link and date of the post it
    deletes (its own content is the deletion evidence)."""
    key = row["item_key"]
    tombstone = row["observation"] == "deleted"

    def value(column: str) -> str:
        found = row[column]
        if found is None and tombstone:
            found = index.last_known(key, column)
        return c.clean(found) if found is not None else ""

    recipients = value("participants")
    if not recipients and row["in_reply_to"]:
        parent = index.last_known(
            item_key(row["platform"], row["account"], row["in_reply_to"]), "author"
        )
        recipients = c.clean(parent) if parent else f"in reply to {c.clean(row['in_reply_to'])}"
    return {
        "DocID": row["doc_id"],
        "Custodian": c.clean(row["account"]),
        "DateSent": value("created"),
        "From": value("author"),
        "To": recipients,
        "Platform": c.clean(row["platform"]),
        "NativePath": paths.record_path(row["record_id"]).removeprefix("data/"),
        "TextPath": paths.text_path(row["record_id"]).removeprefix("data/"),
        "SHA256": row["record_id"],
        "RecordID": row["record_id"],
        "NativeID": c.clean(row["native_id"]),
        "URL": value("url"),
        "Version": str(row["version"] if row["version"] is not None else ""),
        "Observation": c.clean(row["observation"]),
        "CapturedAt": c.iso_utc(row["captured"]) or c.clean(row["captured"]),
        "IncludedBecause": row["reason"],
    }
