"""Facet counts for the search page, apart from the page's hits and cached per index
generation.

Why apart: WhooshIndex.search, asked for facets, builds a hit (stored fields and a
highlighted snippet) for every match from the page's start on rather than for one
page (it slices results[start:]), which costs seconds on a common word in a large
archive. Why cached: paging through one query shows the same counts on every page,
and they only change when the index does (a new searcher). Until the search layer
slices the page, the page's search runs without facets and the counts come from
here, with the same query, versions and deletion switches, so they are the same.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from whoosh import sorting

from search.index import SearchIndex, SearchRequest

MAX_ENTRIES = 256


class FacetCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        # key -> (the searcher they were counted with, the counts)
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, dict[str, dict[str, int]]]] = (
            OrderedDict())

    def counts(self, index: SearchIndex, request: SearchRequest) -> dict[str, dict[str, int]]:
        """Counts by platform, account, kind, month, edited and deleted of every match."""
        searching = getattr(index, "_searching", None)
        if searching is None:  # another engine: its search gives facets directly
            return index.search(_facets_only(request)).facets
        from search.whoosh_index import _facet_counts, _facets

        compiled = index.compile(request.query)  # type: ignore[attr-defined]
        with searching() as searcher:
            if searcher is None:
                return {}
            key = (id(searcher), request.query, request.latest_only, request.include_deleted)
            with self._lock:
                found = self._entries.get(key)
                if found is not None and found[0] is searcher:
                    self._entries.move_to_end(key)
                    return found[1]
            mask = index._mask(  # type: ignore[attr-defined]
                searcher, request.latest_only, request.include_deleted)
            results = searcher.search(compiled, limit=1, mask=mask, groupedby=_facets(),
                                      maptype=sorting.Count)
            counts = _facet_counts(results)
            with self._lock:
                self._entries[key] = (searcher, counts)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return counts


def _facets_only(request: SearchRequest) -> SearchRequest:
    return SearchRequest(request.query, latest_only=request.latest_only,
                         include_deleted=request.include_deleted, page_size=1,
                         facets=True, snippets=False)
