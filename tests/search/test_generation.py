"""What a searcher works out once per index generation (search/generation.py): a
repeated search is answered without running the query again, gives the same
answer, and a commit (new records, a hold) makes the next search see it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from whoosh import query as wq
from whoosh.searching import Searcher

from search.generation import RANK_DEPTH, Recent
from search.index import SearchRequest
from search.whoosh_index import FuzzyTerms, WhooshIndex
from tests.search.test_index import doc


@pytest.fixture
def index(tmp_path: Path) -> Iterator[WhooshIndex]:
    opened = WhooshIndex(tmp_path / "index")
    opened.add([doc(f"r{n:02d}", "loan offer" if n % 3 else "mortgage loan",
                    account=f"@a{n % 2}@x.test") for n in range(30)])
    yield opened
    opened.close()


def fresh_ids(index: WhooshIndex, request: SearchRequest) -> list[str]:
    """The answer of another WhooshIndex on the same directory: nothing remembered."""
    other = WhooshIndex(index.path)
    try:
        return [h.record_id for h in other.search(request).hits]
    finally:
        other.close()


@pytest.fixture
def whoosh_searches(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every query Whoosh runs through a collector, with the ranking depth asked."""
    calls: list[dict[str, Any]] = []
    original = Searcher.search_with_collector

    def counted(self: Searcher, query: Any, collector: Any, context: Any = None) -> Any:
        ranking = collector
        while hasattr(ranking, "child"):  # the mask's and our noting wrappers
            ranking = ranking.child
        calls.append({"limit": getattr(ranking, "limit", None)})
        return original(self, query, collector, context)

    monkeypatch.setattr(Searcher, "search_with_collector", counted)
    return calls


def test_a_repeated_search_runs_no_query_and_gives_the_same_page(
    index: WhooshIndex, whoosh_searches: list[dict[str, Any]]
) -> None:
    request = SearchRequest("loan", facets=True, page_size=7, page=2)
    first = index.search(request)
    ran = len(whoosh_searches)
    assert ran >= 1
    again = index.search(request)
    assert len(whoosh_searches) == ran
    assert (again.total, again.hits, again.facets) == (first.total, first.hits, first.facets)
    assert first.total == 30
    assert [h.record_id for h in first.hits] == fresh_ids(index, SearchRequest(
        "loan", page_size=30))[7:14]


def test_paging_reuses_the_total_facets_and_ranking_of_the_query(
    index: WhooshIndex, whoosh_searches: list[dict[str, Any]]
) -> None:
    first = index.search(SearchRequest("loan", facets=True, page_size=4))
    assert [call["limit"] for call in whoosh_searches] == [RANK_DEPTH]
    whoosh_searches.clear()
    pages = [index.search(SearchRequest("loan", facets=True, page_size=4, page=n))
             for n in range(2, 9)]
    assert whoosh_searches == []  # 30 matches, all ranked by the first search
    assert all(p.total == first.total == 30 and p.facets == first.facets for p in pages)
    assert first.facets["account"] == {"@a0@x.test": 15, "@a1@x.test": 15}
    shown = [h.record_id for p in [first, *pages] for h in p.hits]
    assert len(shown) == len(set(shown)) == 30
    assert shown == fresh_ids(index, SearchRequest("loan", page_size=30))


def test_a_page_beyond_the_ranked_depth_ranks_deeper(
    tmp_path: Path, whoosh_searches: list[dict[str, Any]]
) -> None:
    index = WhooshIndex(tmp_path / "deep")
    index.add([doc(f"d{n:03d}", "loan") for n in range(RANK_DEPTH + 30)])
    index.search(SearchRequest("loan", page_size=20))
    deep = index.search(SearchRequest("loan", page_size=20, page=6))
    assert [call["limit"] for call in whoosh_searches] == [RANK_DEPTH, 120]
    assert len(deep.hits) == 20 and deep.total == RANK_DEPTH + 30
    whoosh_searches.clear()
    index.search(SearchRequest("loan", page_size=20, page=5))
    assert whoosh_searches == []
    index.close()


def test_a_commit_makes_the_next_search_see_the_change(index: WhooshIndex) -> None:
    request = SearchRequest("mortgage", facets=True)
    assert index.search(request).total == 10
    assert index.count("mortgage") == 10
    index.add([doc("new", "mortgage rates")])
    page = index.search(request)
    assert page.total == 11 and "new" in {h.record_id for h in page.hits}
    assert index.count("mortgage") == 11
    index.add([doc("new", "mortgage rates", holds=("matter-7",))])
    assert index.search(SearchRequest("holds:matter-7")).total == 1


def test_changing_a_returned_page_does_not_change_the_next_answer(index: WhooshIndex) -> None:
    request = SearchRequest("loan", facets=True)
    page = index.search(request)
    page.hits.clear()
    page.facets["account"]["@a0@x.test"] = 0
    again = index.search(request)
    assert len(again.hits) == 20 and again.facets["account"]["@a0@x.test"] == 15


def test_a_fuzzy_query_is_expanded_once_for_all_its_snippets(
    index: WhooshIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    expansions: list[str] = []
    original = FuzzyTerms._expand

    def counted(self: FuzzyTerms, ixreader: Any) -> Iterator[bytes]:
        expansions.append(self.text)
        return original(self, ixreader)

    monkeypatch.setattr(FuzzyTerms, "_expand", counted)
    page = index.search(SearchRequest("morgage~1"))
    assert page.total == 10 and all("<mark>mortgage</mark>" in h.snippet for h in page.hits)
    readers = len(expansions)
    assert 1 <= readers <= 3  # matching and highlighting, not once per hit


def test_recent_forgets_the_least_recently_used_first() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1
    recent.put("c", 3)
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (1, None, 3)



def test_a_new_query_is_ranked_and_counted_in_one_pass(
    index: WhooshIndex, whoosh_searches: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    second_passes: list[Any] = []
    original = Searcher.docs_for_query

    def counted(self: Searcher, query: Any, for_deletion: bool = False) -> Any:
        if not isinstance(query, wq.Term):  # the masks' own lookups are by term
            second_passes.append(query)
        return original(self, query, for_deletion)

    monkeypatch.setattr(Searcher, "docs_for_query", counted)
    page = index.search(SearchRequest("loan OR mortgage", facets=True, latest_only=False,
                                      include_deleted=False))
    assert len(whoosh_searches) == 1 and second_passes == []
    assert page.total == 30 and sum(page.facets["kind"].values()) == 30


def test_a_searcher_closed_while_waiting_for_it_is_passed_over(
    index: WhooshIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = index._current()
    assert stale is not None
    index.add([doc("late", "mortgage")])
    index._current()  # another thread's search: the index changed, the old searcher closes
    assert stale.closed
    handed = iter([stale, stale])  # this thread had picked the old one before it closed
    current = index._current
    monkeypatch.setattr(index, "_current", lambda: next(handed, None) or current())
    page = index.search(SearchRequest("mortgage"))
    assert page.total == 11 and "late" in {h.record_id for h in page.hits}
