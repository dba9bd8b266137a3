"""Legal holds placed at ingest: a new capture that an active matter's scope covers
is held in the catalogue transaction that archives it, and its object is written
with its legal hold on, so it is never unprotected, not even before it is indexed.

A scope means here what it means in search: the batch's records become search
documents exactly as the indexer builds them (archiver.search_service.document),
in a Whoosh index in memory, where each matter's query, compiled by the search
layer, is run. With no active matter this costs one query per batch and no work
per record: ingest speed is a measured target.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from whoosh.filedb.filestore import RamStorage

from archiver.holds import HoldService, Scope
from archiver.ingest import NewBatch
from archiver.records import record_key
from archiver.search_service import document
from search.documents import SearchDoc
from search.query import QuerySyntaxError, fields_of, parse_query
from search.whoosh_index import WhooshIndex
from storage.objects.base import ObjectNotFoundError

if TYPE_CHECKING:
    from archiver.archive import Archive


class IngestHolds:
    """The ingest's `hold_new` hook (archiver.ingest.HoldNew)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.holds = HoldService(archive)
        # Used for its schema and query compiler only: the index on disk is not opened.
        self._queries = WhooshIndex(archive.settings.index_dir)

    def __call__(self, conn: Connection, batch: NewBatch) -> set[str]:
        active = [hold for hold in self.holds.active(conn) if _decidable_at_ingest(hold.query)]
        if not active:
            return set()
        held: set[str] = set()
        scopes = [Scope.of(hold) for hold in active]
        for hold, record_ids in zip(active, self.matching(batch, scopes), strict=True):
            if record_ids:
                self.holds.add_at_ingest(conn, hold, record_ids)
                held.update(record_ids)
        return held

    def matching(self, batch: NewBatch, scopes: Sequence[Scope]) -> list[list[str]]:
        """For each scope, the batch's record ids it covers, in leaf order. Only records
        some scope's accounts and dates admit are made into documents."""
        admitted = [
            [
                record.record_id
                for record, row in zip(batch.records, batch.rows, strict=True)
                if scope.admits(row["account"], row["created_at"], row["captured_at"])
            ]
            for scope in scopes
        ]
        candidates = {record_id for ids in admitted for record_id in ids}
        if not candidates:
            return admitted
        found = self._search(list(self._documents(batch, candidates)), [s.query for s in scopes])
        return [[r for r in ids if r in hits] for ids, hits in zip(admitted, found, strict=True)]

    def _search(self, docs: list[SearchDoc], queries: Sequence[str]) -> list[set[str]]:
        """The record ids each query matches among `docs`."""
        ix = RamStorage().create_index(self._queries.schema)
        writer = ix.writer()
        for doc in docs:
            writer.add_document(**doc.to_fields())
        writer.commit()
        with ix.searcher() as searcher:
            return [
                {
                    searcher.stored_fields(docnum)["record_id"]
                    for docnum in searcher.docs_for_query(self._queries.compile(query))
                }
                for query in queries
            ]

    def _documents(self, batch: NewBatch, wanted: set[str]) -> Iterator[SearchDoc]:
        """As the indexer builds them: a tombstone carries the content it deletes; a
        version superseded within the batch is not the latest."""
        in_batch = {record.record_id: record.fields for record in batch.records}
        superseded = {record.fields["prev_record_id"] for record in batch.records}
        for record in batch.records:
            if record.record_id not in wanted:
                continue
            fields, previous = record.fields, None
            prev_id = fields["prev_record_id"]
            if fields["observation"] == "deleted" and prev_id:
                previous = in_batch.get(prev_id) or self._stored(prev_id)
            yield document(record.record_id, fields, previous, record.record_id not in superseded)

    def _stored(self, record_id: str) -> dict[str, Any] | None:
        try:
            fields = json.loads(self.archive.store.get(record_key(record_id)))
        except ObjectNotFoundError:
            return None  # disposed: the tombstone is matched without the deleted content
        except ValueError:
            return None  # unreadable (verify reports it): as the indexer does, match without it
        return fields if isinstance(fields, dict) else None


def _decidable_at_ingest(query: str) -> bool:
    """A scope that looks at the holds field (`NOT holds:acme`) depends on matters the
    new records do not have yet: only the index, once they are held, answers it as
    search does; such a matter takes new captures when they are indexed."""
    try:
        return "holds" not in fields_of(parse_query(query))
    except QuerySyntaxError:
        return False  # accepted when the matter was placed, so not expected here
