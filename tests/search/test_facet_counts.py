"""Facet counts from the columns (search/facet_counts.py) equal Whoosh's own
`groupedby` counts, over several segments, replaced documents (deletions inside
segments), old versions, tombstones and every version/deletion switch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from whoosh import query as wq
from whoosh import sorting

from search.index import SearchRequest
from search.whoosh_index import WhooshIndex
from tests.search.test_index import doc


def whoosh_groupedby(index: WhooshIndex, query: str, latest_only: bool,
                     include_deleted: bool) -> dict[str, dict[str, int]]:
    """The oracle: Whoosh's per-document facet collector."""
    def flag(name: str) -> sorting.QueryFacet:
        return sorting.QueryFacet({"true": wq.Term(name, True), "false": wq.Term(name, False)})

    facets: dict[str, Any] = {name: sorting.FieldFacet(name)
                              for name in ("platform", "account", "kind", "month")}
    facets.update(edited=flag("edited"), deleted=flag("deleted"))
    with index._searching() as generation:
        assert generation is not None
        mask = index._mask(generation, latest_only, include_deleted)
        results = generation.searcher.search(index.compile(query), limit=1, mask=mask,
                                             groupedby=facets, maptype=sorting.Count)
        counted = {}
        for name in facets:
            named: dict[str, int] = {}
            for key, n in results.groups(name).items():
                label = key.decode() if isinstance(key, bytes) else ("" if key is None else str(key))
                named[label or "(none)"] = named.get(label or "(none)", 0) + n
            counted[name] = dict(sorted(named.items(), key=lambda kv: (-kv[1], kv[0])))
        return counted


@pytest.fixture
def index(tmp_path: Path) -> Iterator[WhooshIndex]:
    opened = WhooshIndex(tmp_path / "index")
    platforms = ("mastodon", "bluesky", "x")
    for batch in range(4):  # one commit each: several segments
        opened.add([
            doc(f"b{batch}n{n}", "loan offer" if n % 2 else "branch hours",
                platform=platforms[n % 3], account=f"@a{n % 4}@x.test",
                kind=("post", "reply", "dm")[n % 3],
                created=datetime(2023, 1 + (n + batch) % 12, 5, tzinfo=UTC) if n % 5 else None)
            for n in range(25)
        ])
    # a second version of some, a tombstone of others, a re-add (a deletion in a segment)
    opened.add([doc("b0n1v2", "loan offer edited", prev_record_id="b0n1", version=2, edited=True),
                doc("b1n3gone", "", prev_record_id="b1n3", version=2, deleted=True,
                    observation="deleted"),
                doc("b2n4", "branch hours again", account="@moved@x.test")])
    yield opened
    opened.close()


@pytest.mark.parametrize("query", ["*", "loan", "branch OR hours", "platform:x", "nothingmatches"])
@pytest.mark.parametrize("latest_only,include_deleted", [(True, True), (False, True),
                                                         (True, False), (False, False)])
def test_column_counts_equal_whooshs_groupedby(index: WhooshIndex, query: str,
                                               latest_only: bool, include_deleted: bool) -> None:
    page = index.search(SearchRequest(query, latest_only=latest_only,
                                      include_deleted=include_deleted, facets=True))
    expected = whoosh_groupedby(index, query, latest_only, include_deleted)
    assert page.facets == expected
    assert page.total == sum(expected["kind"].values())


def test_counts_follow_new_segments_and_merges(index: WhooshIndex) -> None:
    before = index.search(SearchRequest("*", facets=True)).facets["platform"]
    index.add([doc("late", "loan", platform="reddit")])
    after = index.search(SearchRequest("*", facets=True)).facets["platform"]
    assert after == {**before, "reddit": 1}
    assert index.search(SearchRequest("*", facets=True)).facets == whoosh_groupedby(
        index, "*", True, True)
