"""What a Whoosh searcher works out once per index generation.

An index generation is one set of committed segments: while it is current, a
query gives the same matches, the same exact total, the same facet counts, the
same ranking and the same pages every time, so they are kept rather than
recomputed (like a
search engine's request cache, dropped on refresh). A compliance officer pages
through one query, comes back to it, and colleagues on a matter run the same
ones. Anything that changes what a search returns (new records, a hold, a
disposition) is a commit, so a new generation, and this is discarded with the
searcher it was made with.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from whoosh.searching import Searcher

from search.facet_counts import Codes, FacetColumns, flag_sets
from search.index import SearchPage, SearchRequest

Key = TypeVar("Key")
Value = TypeVar("Value")
MAX_PAGES = 512
MAX_SUMMARIES = 512
RANK_DEPTH = 100  # results ranked this deep serve the first five pages of 20


class Recent(Generic[Key, Value]):
    """A bounded map, safe across threads, that forgets the least recently used
    entry first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Value | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Key, value: Value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


@dataclass(frozen=True)
class Summary:
    """The exact total of a query's matches, and their facet counts once asked for."""

    total: int
    facets: dict[str, dict[str, int]] | None = None


SummaryKey = tuple[str, bool, bool]  # query, latest_only, include_deleted
RankKey = tuple[str, bool, bool, str]  # ... and the sort order


@dataclass
class Generation:
    """One searcher (used by one thread at a time: hold `lock`) and what it worked out."""

    searcher: Searcher
    directory: Any  # the index directory's identity: a rebuild swaps in another
    lock: threading.Lock = field(default_factory=threading.Lock)
    masks: dict[tuple[bool, bool], set[int]] = field(default_factory=dict)
    summaries: Recent[SummaryKey, Summary] = field(
        default_factory=lambda: Recent(MAX_SUMMARIES)
    )
    ranked: Recent[RankKey, tuple[int, Any]] = field(  # (limit, Whoosh results)
        default_factory=lambda: Recent(MAX_SUMMARIES)
    )
    pages: Recent[SearchRequest, SearchPage] = field(default_factory=lambda: Recent(MAX_PAGES))
    facet_inputs: tuple[Codes, dict[str, frozenset[int]]] | None = None
    closed: bool = False

    def facets_from(self, columns: FacetColumns) -> tuple[Codes, dict[str, frozenset[int]]]:
        """The column codes and flag sets facet counts need (hold `lock`)."""
        if self.facet_inputs is None:
            self.facet_inputs = (columns.codes(self.searcher.reader()), flag_sets(self.searcher))
        return self.facet_inputs

    def is_current(self, directory: Any) -> bool:
        return directory == self.directory and self.searcher.up_to_date()

    def close(self) -> None:
        with self.lock:  # after the query another thread may be running with it
            self.searcher.close()
            self.closed = True


def summary_key(request: SearchRequest) -> SummaryKey:
    return (request.query, request.latest_only, request.include_deleted)


def rank_key(request: SearchRequest) -> RankKey:
    return (*summary_key(request), request.sort)
