"""The search index interface: what the archive asks of any search engine.

WhooshIndex (search/whoosh_index.py) is the embedded implementation; a server
engine can take its place for very large archives by implementing this class
and the query tree in search/query.py, so a query means the same everywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from search.documents import SearchDoc

SORTS = ("relevance", "date", "date-asc")
MAX_PAGE_SIZE = 1000


class IndexError_(Exception):
    """Root of the search layer's errors (the archive maps them to its own)."""


class IndexBusyError(IndexError_):
    """Another process holds the index writer lock."""


class IndexUnavailableError(IndexError_):
    """The index directory is missing or unreadable."""


@dataclass(frozen=True)
class SearchRequest:
    query: str
    latest_only: bool = True  # only the latest version of each item
    include_deleted: bool = True  # tombstones (with the deleted item's last content)
    sort: str = "relevance"  # relevance | date (newest created first) | date-asc
    page: int = 1
    page_size: int = 20
    facets: bool = False
    snippets: bool = True

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.page < 1:
            raise ValueError("page must be 1 or more")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be 1 to {MAX_PAGE_SIZE}")


@dataclass(frozen=True)
class SearchHit:
    record_id: str
    score: float
    platform: str
    account: str
    native_id: str
    kind: str
    version: int
    author: str
    url: str
    created: datetime | None
    captured: datetime
    edited: bool
    deleted: bool
    latest: bool
    holds: tuple[str, ...]
    snippet: str  # HTML: the text escaped, matches wrapped in <mark>

    def as_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id, "score": round(self.score, 4),
            "platform": self.platform, "account": self.account, "native_id": self.native_id,
            "kind": self.kind, "version": self.version, "author": self.author, "url": self.url,
            "created": self.created.isoformat() if self.created else None,
            "captured": self.captured.isoformat(), "edited": self.edited,
            "deleted": self.deleted, "latest": self.latest, "holds": list(self.holds),
            "snippet": self.snippet,
        }


@dataclass
class SearchPage:
    request: SearchRequest
    total: int  # exact number of matching records
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.page_size))

    def as_json(self) -> dict[str, Any]:
        r = self.request
        return {
            "query": r.query, "latest_only": r.latest_only,
            "include_deleted": r.include_deleted, "sort": r.sort, "page": r.page,
            "page_size": r.page_size, "pages": self.pages, "total": self.total,
            "hits": [h.as_json() for h in self.hits], "facets": self.facets,
        }


class SearchIndex(ABC):
    """One index of record documents, keyed by record_id.

    Writers are funnelled through `writing()`: a process-exclusive lock, so two
    writers never collide (IndexBusyError names the holder instead).
    """

    @abstractmethod
    def writing(self, purpose: str = "index") -> AbstractContextManager[None]:
        """Hold the writer lock across several writes; IndexBusyError if another holds it."""

    @abstractmethod
    def add(self, docs: Sequence[SearchDoc], *, demote: bool = True) -> int:
        """Add or replace documents (by record_id) and commit. With `demote`, a
        document's predecessor (prev_record_id) stops being `latest`. Returns how
        many documents were written."""

    @abstractmethod
    def update(self, record_ids: Iterable[str], **changes: Any) -> int:
        """Rewrite indexed documents with some fields changed; returns how many were found."""

    def set_holds(self, record_ids: Iterable[str], holds: Sequence[str]) -> int:
        """Replace the legal holds recorded on these documents."""
        return self.update(record_ids, holds=tuple(holds))

    @abstractmethod
    def delete(self, record_ids: Iterable[str]) -> int:
        """Remove documents (disposed records); returns how many were removed."""

    @abstractmethod
    def rebuild(self, batches: Iterable[Sequence[SearchDoc]],
                on_batch: Callable[[int], None] | None = None) -> int:
        """Replace the whole index, atomically, with these documents (final `latest` given)."""

    @abstractmethod
    def search(self, request: SearchRequest) -> SearchPage:
        """Run a query; QuerySyntaxError (search.query) if it does not parse."""

    @abstractmethod
    def count(self, query: str, *, latest_only: bool = True,
              include_deleted: bool = True) -> int:
        """The exact number of records matching."""

    @abstractmethod
    def matching_ids(self, query: str, *, latest_only: bool = False,
                     include_deleted: bool = True) -> set[str]:
        """Every record id matching, unpaged: what a legal hold or an erasure acts on."""

    @abstractmethod
    def ids(self) -> Iterator[str]:
        """Every indexed record id, in no particular order."""

    @abstractmethod
    def doc_count(self) -> int:
        """How many documents the index holds."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release readers and files."""
