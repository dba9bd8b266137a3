"""The search service: the one place the CLI, the web app and the API search,
index and check the index, so a query string means the same everywhere.

Indexing never slows capture: ingest only writes catalogue rows with
`indexed = false` (the durable queue). `index_pending` drains that queue in
leaf order with one batched writer: read each record from the object store,
commit the batch to the index, then mark the rows indexed. A crash between the
two re-indexes the batch next time, which replacing by record_id makes harmless.
`reindex` rebuilds from the object store alone and swaps the new index in.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import false, func, select, true

from archiver.clock import parse_time
from archiver.errors import StorageError, UsageError
from archiver.holds import active_matters
from archiver.records import record_key
from archiver.verify import ERROR, NOTE, Problem, Progress, VerifyReport
from search.documents import SearchDoc, clean_list, clean_text
from search.index import (
    IndexBusyError,
    IndexUnavailableError,
    SearchIndex,
    SearchPage,
    SearchRequest,
)
from search.query import QuerySyntaxError
from search.whoosh_index import WhooshIndex
from storage.catalogue.db import write_transaction
from storage.catalogue.models import items, records
from storage.objects.base import ObjectNotFoundError

if TYPE_CHECKING:
    from archiver.archive import Archive

log = logging.getLogger(__name__)
BATCH_SIZE = 5000
MARK_CHUNK = 500


class IndexBusy(StorageError):
    """Another process is writing the index (exit code 3, like other storage refusals)."""


@dataclass
class IndexRun:
    """What one catch-up or rebuild did."""

    indexed: int = 0
    batches: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record id, why)
    seconds: float = 0.0
    held: int = 0  # new records an active matter came to cover (Archive.index_and_hold)

    def as_json(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "batches": self.batches, "seconds": round(self.seconds, 3),
                "held": self.held,
                "skipped": [{"record_id": r, "reason": why} for r, why in self.skipped]}


def document(record_id: str, fields: dict[str, Any], previous: dict[str, Any] | None = None,
             latest: bool = True) -> SearchDoc:
    """The index document of one record. A tombstone carries the content of the
    version it deletes (`previous`), so a search finds deleted items by what they said."""
    deleted = fields.get("observation") == "deleted"
    source = previous if deleted and previous is not None else fields
    # A tombstone's own content is the deletion evidence (status, body), not the post.
    content = {} if source is fields and deleted else source.get("content")
    if not isinstance(content, dict):
        content = {}
    created = None
    if isinstance(content.get("created_at"), str):
        try:
            created = parse_time(content["created_at"])
        except ValueError:
            created = None
    return SearchDoc(
        record_id=record_id,
        prev_record_id=fields.get("prev_record_id"),
        platform=fields["platform"],
        account=fields["account"],
        native_id=fields["native_id"],
        kind=fields["kind"],
        version=int(fields["version"]),
        observation=fields["observation"],
        captured=parse_time(fields["capture"]["captured_at"]),
        text=clean_text(content.get("text")),
        author=clean_text(content.get("author")),
        thread=clean_text(content.get("thread_id") or content.get("conversation_id")),
        url=clean_text(content.get("url")),
        created=created,
        edited=source.get("observation") == "edited",
        deleted=deleted,
        has_media=bool(source.get("media")) or bool(content.get("media")),
        hashtags=clean_list(content.get("hashtags")),
        mentions=clean_list(content.get("mentions")),
        urls=clean_list(content.get("urls")),
        lang=clean_text(content.get("lang")),
        latest=latest,
    )


def default_index(path: os.PathLike[str] | str) -> WhooshIndex:
    """The embedded index: parallel writers for big batches (catch-up, rebuild), each
    commit keeping the workers' segments (Whoosh's merge policy folds them later):
    merging them at every commit costs more than the parallelism gains."""
    return WhooshIndex(path, procs=min(2, os.cpu_count() or 1), limitmb=48, multisegment=True)


class SearchService:
    def __init__(self, archive: Archive, index: SearchIndex | None = None) -> None:
        self.archive = archive
        self.index = index or default_index(archive.settings.index_dir)

    # -- searching -----------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchPage:
        """Run a query; UsageError (exit 2) pointing at the column if it does not parse.
        Every search is audited with its query, switches and exact total."""
        try:
            page = self.index.search(request)
        except QuerySyntaxError as exc:
            raise UsageError(str(exc)) from None
        except IndexUnavailableError as exc:
            raise StorageError(str(exc)) from None
        self.archive.audit.record(self.archive.actor, "search", {
            "query": request.query, "latest_only": request.latest_only,
            "include_deleted": request.include_deleted, "sort": request.sort,
            "page": request.page, "page_size": request.page_size, "facets": request.facets,
            "total": page.total,
        })
        return page

    def request(self, query: str, **options: Any) -> SearchRequest:
        """A SearchRequest, with bad options as UsageError rather than ValueError."""
        try:
            return SearchRequest(query, **options)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    # -- the queue -----------------------------------------------------------------------

    def lag(self) -> int:
        """Catalogued records not yet indexed."""
        with self.archive.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(records).where(records.c.indexed == false())
            ).scalar_one()

    def writer_busy(self) -> bool:
        lock = getattr(self.index, "lock", None)
        return bool(lock is not None and lock.is_busy())

    def index_pending(self, batch_size: int = BATCH_SIZE, progress: Progress | None = None,
                      max_batches: int | None = None) -> IndexRun:
        """Drain the queue (rows with indexed = false, in leaf order); IndexBusy if another
        writer runs. Safe to interrupt at any point: what was not marked is redone."""
        run, started = IndexRun(), time.perf_counter()
        with self._writing("index"):
            total = self.lag()
            while max_batches is None or run.batches < max_batches:
                with self.archive.engine.connect() as conn:
                    rows = conn.execute(
                        select(records.c.record_id, records.c.disposed_at)
                        .where(records.c.indexed == false())
                        .order_by(records.c.leaf_index)
                        .limit(batch_size)
                    ).all()
                    wanted = [r.record_id for r in rows if r.disposed_at is None]
                    latest = self._latest_of(conn, wanted)
                if not rows:
                    break
                docs = []
                for record_id in wanted:
                    doc = self._document(record_id, record_id in latest, run)
                    if doc is not None:
                        docs.append(doc)
                docs = self._with_matters(docs)
                self.index.add(docs)
                self._mark_indexed([r.record_id for r in rows])
                run.indexed += len(docs)
                run.batches += 1
                if progress:
                    progress("index", min(run.indexed + len(run.skipped), total), total)
        run.seconds = time.perf_counter() - started
        return run

    def _latest_of(self, conn: Any, record_ids: Sequence[str]) -> set[str]:
        latest: set[str] = set()
        for start in range(0, len(record_ids), MARK_CHUNK):
            chunk = record_ids[start:start + MARK_CHUNK]
            latest.update(conn.execute(
                select(items.c.latest_record_id).where(items.c.latest_record_id.in_(chunk))
            ).scalars())
        return latest

    def _mark_indexed(self, record_ids: Sequence[str]) -> None:
        with write_transaction(self.archive.engine) as conn:
            for start in range(0, len(record_ids), MARK_CHUNK):
                chunk = record_ids[start:start + MARK_CHUNK]
                conn.execute(records.update().where(records.c.record_id.in_(chunk))
                             .values(indexed=True))

    def _load(self, record_id: str) -> dict[str, Any]:
        return json.loads(self.archive.store.get(record_key(record_id)))

    def _document(self, record_id: str, latest: bool, run: IndexRun) -> SearchDoc | None:
        try:
            fields = self._load(record_id)
            previous = None
            if fields.get("observation") == "deleted" and fields.get("prev_record_id"):
                try:
                    previous = self._load(fields["prev_record_id"])
                except ObjectNotFoundError:
                    previous = None  # indexed without the deleted content; verify reports it
            return document(record_id, fields, previous, latest)
        except ObjectNotFoundError:
            why = "object missing from the store (see archiver verify)"
        except (ValueError, KeyError, TypeError) as exc:
            why = f"not a readable record: {exc}"
        log.warning("not indexing %s: %s", record_id, why)
        run.skipped.append((record_id, why))
        return None

    # -- rebuilding ----------------------------------------------------------------------

    def reindex(self, progress: Progress | None = None, batch_size: int = BATCH_SIZE) -> IndexRun:
        """Rebuild the index from the object store (the records' content and version
        chains): a first pass finds which records were superseded, a second builds the
        new index beside the old one and swaps it in. The matters holding each record
        live in the catalogue (legal holds are not record content) and are read from it."""
        run, started = IndexRun(), time.perf_counter()
        with self._writing("reindex"):
            superseded: set[bytes] = set()
            total = 0
            for _key, fields in self._stored_records(run):
                total += 1
                if fields.get("prev_record_id"):
                    superseded.add(bytes.fromhex(fields["prev_record_id"]))
                if progress and total % 1000 == 0:
                    progress("scan", total, total)
            if progress:
                progress("scan", total, total)
            skipped_in_scan = list(run.skipped)
            run.skipped.clear()

            def batches() -> Iterator[list[SearchDoc]]:
                batch: list[SearchDoc] = []
                for record_id, fields in self._stored_records(run):
                    previous = None
                    if fields.get("observation") == "deleted" and fields.get("prev_record_id"):
                        try:
                            previous = self._load(fields["prev_record_id"])
                        except (ObjectNotFoundError, ValueError):
                            previous = None
                    try:
                        doc = document(record_id, fields, previous,
                                       bytes.fromhex(record_id) not in superseded)
                    except (ValueError, KeyError, TypeError) as exc:
                        run.skipped.append((record_id, f"not a readable record: {exc}"))
                        continue
                    batch.append(doc)
                    if len(batch) >= batch_size:
                        yield self._with_matters(batch)
                        batch = []
                yield self._with_matters(batch)

            def on_batch(done: int) -> None:
                run.batches += 1
                if progress:
                    progress("reindex", done, total - len(skipped_in_scan))

            run.indexed = self.index.rebuild(batches(), on_batch)
            run.skipped = skipped_in_scan + [s for s in run.skipped if s not in skipped_in_scan]
        run.seconds = time.perf_counter() - started
        self.archive.audit.record(self.archive.actor, "reindex",
                                  {"indexed": run.indexed, "skipped": len(run.skipped)})
        return run

    def _with_matters(self, docs: list[SearchDoc]) -> list[SearchDoc]:
        with self.archive.engine.connect() as conn:
            matters = active_matters(conn, [doc.record_id for doc in docs])
        return [replace(doc, holds=tuple(matters.get(doc.record_id, ()))) for doc in docs]

    def _stored_records(self, run: IndexRun) -> Iterator[tuple[str, dict[str, Any]]]:
        for key in self.archive.store.keys("records/"):
            record_id = key.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                fields = json.loads(self.archive.store.get(key))
                if not isinstance(fields, dict) or "platform" not in fields:
                    raise ValueError("not a record object")
                bytes.fromhex(record_id)
            except (ValueError, ObjectNotFoundError) as exc:
                run.skipped.append((record_id, f"not a readable record: {exc}"))
                continue
            yield record_id, fields

    # -- legal holds (the holds issue calls this) ----------------------------------------

    def set_holds(self, record_ids: Sequence[str], holds: Sequence[str]) -> int:
        with self._writing("holds"):
            return self.index.set_holds(record_ids, holds)

    # -- verify ----------------------------------------------------------------------------

    def check_into(self, report: VerifyReport, progress: Progress | None = None) -> None:
        """Add the index check to a verify report: the index must hold exactly the
        catalogue's (undisposed) records. Rows not yet indexed are lag, not a problem:
        reported as the count `index_lag` (the verify output prints it)."""
        problems, counts = self.check(progress)
        report.problems.extend(problems)
        report.counts.update(counts)

    def check(self, progress: Progress | None = None) -> tuple[list[Problem], dict[str, int]]:
        problems: list[Problem] = []
        try:
            in_index: set[bytes] = set()
            for record_id in self.index.ids():
                try:
                    in_index.add(bytes.fromhex(record_id))
                except ValueError:
                    problems.append(Problem("index", "extra-document", f"index/{record_id}",
                                            "indexed document with an invalid record id"))
        except IndexUnavailableError as exc:
            return [Problem("index", "unreadable", str(self.archive.settings.index_dir),
                            f"{exc}")], {}
        documents = len(in_index)
        lag = checked = 0
        with self.archive.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(records)).scalar_one()
            rows = conn.execute(
                select(records.c.record_id, records.c.indexed, records.c.disposed_at)
                .execution_options(yield_per=5000)
            )
            for row in rows:
                checked += 1
                raw = bytes.fromhex(row.record_id)
                present = raw in in_index
                in_index.discard(raw)
                key = record_key(row.record_id)
                if row.disposed_at is not None:
                    if present:
                        problems.append(Problem("index", "disposed-indexed", key,
                                                "disposed record is still searchable"))
                elif not present and row.indexed:
                    problems.append(Problem("index", "missing-document", key,
                                            "catalogued record is not in the index "
                                            "(run `archiver reindex`)"))
                elif not present:
                    lag += 1
                if progress and checked % 5000 == 0:
                    progress("index", checked, total)
        for raw in sorted(in_index):
            key = record_key(raw.hex())
            if self.archive.store.exists(key):
                problems.append(Problem("index", "uncatalogued-document", key,
                                        "indexed record is not in the catalogue (an object left "
                                        "by an interrupted ingest)", severity=NOTE))
            else:
                problems.append(Problem("index", "extra-document", key,
                                        "indexed record is neither catalogued nor stored",
                                        severity=ERROR))
        if progress:
            progress("index", checked, total)
        return problems, {"index_documents": documents, "index_lag": lag}

    # -- helpers ---------------------------------------------------------------------------

    @contextmanager
    def _writing(self, purpose: str) -> Iterator[None]:
        try:
            lock = self.index.writing(purpose)
            lock.__enter__()
        except IndexBusyError as exc:
            raise IndexBusy(str(exc)) from None
        try:
            yield
        except BaseException:
            if not lock.__exit__(*sys.exc_info()):
                raise
        else:
            lock.__exit__(None, None, None)

    def status(self) -> dict[str, Any]:
        """The index's side of `archiver status`."""
        with self.archive.engine.connect() as conn:
            indexed = conn.execute(select(func.count()).select_from(records)
                                   .where(records.c.indexed == true())).scalar_one()
        try:
            documents: int | None = self.index.doc_count()
        except IndexUnavailableError:
            documents = None
        return {"lag": self.lag(), "indexed_rows": indexed, "documents": documents,
                "writer_busy": self.writer_busy(),
                "path": str(self.archive.settings.index_dir)}
