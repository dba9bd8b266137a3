"""WhooshIndex on its own: replace-by-id, latest demotion, holds, snippets that are
safe HTML, the writer lock, and the atomic rebuild."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from search.documents import SearchDoc
from search.index import IndexBusyError, SearchRequest
from search.whoosh_index import WhooshIndex

WHEN = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)


def doc(record_id: str, text: str = "loan offer", **fields: object) -> SearchDoc:
    values: dict[str, object] = {
        "platform": "mastodon", "account": "@Org@x.test", "native_id": record_id,
        "kind": "post", "version": 1, "observation": "observed", "captured": WHEN,
        "created": WHEN, "text": text}
    values.update(fields)
    return SearchDoc(record_id=record_id, **values)  # type: ignore[arg-type]


def ids(index: WhooshIndex, query: str, **options: object) -> set[str]:
    page = index.search(SearchRequest(query, page_size=1000, **options))  # type: ignore[arg-type]
    return {hit.record_id for hit in page.hits}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[WhooshIndex]:
    opened = WhooshIndex(tmp_path / "index")
    yield opened
    opened.close()


def test_no_index_yet_means_no_results(index: WhooshIndex) -> None:
    assert index.search(SearchRequest("loan")).total == 0
    assert index.doc_count() == 0 and list(index.ids()) == []


def test_adding_the_same_records_again_replaces_them(index: WhooshIndex) -> None:
    docs = [doc(f"r{n}") for n in range(5)]
    index.add(docs)
    index.add(docs)
    assert index.doc_count() == 5 and sorted(index.ids()) == [f"r{n}" for n in range(5)]
    assert index.count("loan") == 5


def test_a_new_version_demotes_its_predecessor(index: WhooshIndex) -> None:
    index.add([doc("v1")])
    index.add([doc("v2", "loan offer edited", prev_record_id="v1", version=2, edited=True)])
    assert ids(index, "loan") == {"v2"}
    assert ids(index, "loan", latest_only=False) == {"v1", "v2"}
    index.add([doc("v3", prev_record_id="v2", version=3), doc("v4", prev_record_id="v3",
                                                               version=4)])
    assert ids(index, "loan") == {"v4"}  # in the same batch too
    old = index.stored("v1")
    assert old is not None and old.latest is False and old.text == "loan offer"


def test_holds_are_replaced_and_searchable(index: WhooshIndex) -> None:
    index.add([doc("a"), doc("b")])
    assert index.set_holds(["a", "missing"], ["case-17", "SEC 2026"]) == 1
    assert ids(index, "holds:case-17") == {"a"}
    assert ids(index, 'holds:"SEC 2026"') == {"a"}
    assert index.search(SearchRequest("holds:case-17")).hits[0].holds == ("case-17", "SEC 2026")
    index.set_holds(["a"], [])
    assert ids(index, "holds:case-17") == set()


@pytest.mark.parametrize("held", [2, 150], ids=["looked-up", "column-scan"])
def test_many_records_updated_and_deleted_at_once_over_several_segments(
    index: WhooshIndex, held: int
) -> None:
    """Few records are found by lookups, many by one pass over the record_id column,
    which also lists documents an earlier update deleted: neither may count them."""
    for start in range(0, 200, 50):  # four commits, four segments
        index.add([doc(f"r{n:03d}") for n in range(start, start + 50)])
    chosen = [f"r{n:03d}" for n in range(0, 200, 200 // held)][:held]
    assert index.set_holds([*chosen, "missing"], ["m1"]) == held
    assert index.set_holds(chosen, ["m2"]) == held  # the first update's documents are gone
    assert ids(index, "holds:m2") == set(chosen) and ids(index, "holds:m1") == set()
    assert index.delete([*chosen, "missing"]) == held
    assert index.doc_count() == 200 - held
    assert ids(index, "*") == {f"r{n:03d}" for n in range(200)} - set(chosen)


def test_snippets_escape_platform_html_and_mark_matches(index: WhooshIndex) -> None:
    index.add([doc("x", 'Loans <script>alert("x")</script> & <b>rates</b> today')])
    for query in ("loans", "loa*", "loams~1", "script"):
        snippet = index.search(SearchRequest(query)).hits[0].snippet
        assert "<script>" not in snippet and "<b>" not in snippet
        assert "&lt;" in snippet and "&amp;" in snippet and "&lt;b&gt;rates" in snippet
        assert "<mark>" in snippet, (query, snippet)
    plain = index.search(SearchRequest("platform:mastodon")).hits[0].snippet
    assert plain.startswith("Loans &lt;script&gt;") and "<mark>" not in plain


def test_text_with_lone_surrogates_and_emoji_is_indexed(index: WhooshIndex) -> None:
    index.add([doc("s", "bad \udcff byte 🚀 rocket", hashtags=("\udcffx",))])
    assert ids(index, "rocket") == {"s"} and ids(index, "🚀") == {"s"}


def test_sort_pages_and_exact_totals(index: WhooshIndex) -> None:
    index.add([doc(f"r{n:02}", created=WHEN.replace(day=1 + n)) for n in range(25)])
    page = index.search(SearchRequest("loan", sort="date", page=2, page_size=10))
    assert page.total == 25 and page.pages == 3
    assert [h.record_id for h in page.hits] == [f"r{n:02}" for n in range(14, 4, -1)]
    oldest = index.search(SearchRequest("loan", sort="date-asc", page_size=3))
    assert [h.record_id for h in oldest.hits] == ["r00", "r01", "r02"]


def test_one_writer_at_a_time_with_a_clear_message(tmp_path: Path) -> None:
    first, second = WhooshIndex(tmp_path / "index"), WhooshIndex(tmp_path / "index")
    with first.writing("reindex"):
        assert second.lock.is_busy()
        with pytest.raises(IndexBusyError) as caught:
            second.add([doc("a")])
        message = str(caught.value)
        assert f"process {os.getpid()} (reindex" in message and "index.lock" in message
        first.add([doc("b")])  # re-entrant for the holder
    assert not second.lock.is_busy()
    second.add([doc("a")])
    assert sorted(second.ids()) == ["a", "b"]


def test_rebuild_swaps_atomically_and_readers_see_old_then_new(tmp_path: Path) -> None:
    reader, writer = WhooshIndex(tmp_path / "index"), WhooshIndex(tmp_path / "index")
    writer.add([doc("old", "previous wording")])
    assert ids(reader, "previous") == {"old"}
    seen_during_build: list[set[str]] = []

    def batches() -> Iterator[list[SearchDoc]]:
        yield [doc("new1", "rebuilt wording")]
        seen_during_build.append(ids(reader, "wording"))
        yield [doc("new2", "rebuilt wording", latest=False)]

    assert writer.rebuild(batches()) == 2
    assert seen_during_build == [{"old"}]
    assert ids(reader, "wording") == {"new1"}
    assert ids(reader, "wording", latest_only=False) == {"new1", "new2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "index.lock"]


def test_a_failed_rebuild_leaves_the_old_index(tmp_path: Path) -> None:
    index = WhooshIndex(tmp_path / "index")
    index.add([doc("keep")])

    def broken() -> Iterator[list[SearchDoc]]:
        yield [doc("half")]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        index.rebuild(broken())
    assert sorted(index.ids()) == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "index.lock"]


def test_a_pattern_that_matches_too_many_values_is_refused(
    index: WhooshIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search import whoosh_index
    from search.query import QuerySyntaxError

    index.add([doc(f"r{n}", f"word{n} loan", urls=(f"https://x.test/{n}",)) for n in range(6)])
    monkeypatch.setattr(whoosh_index, "MAX_EXPANSION", 5)
    with pytest.raises(QuerySyntaxError, match="more than 5 different urls values") as caught:
        index.search(SearchRequest("loan AND urls:*x.test*"))
    assert caught.value.position == 14
    monkeypatch.setattr(whoosh_index, "MAX_EXPANSION", 6)
    assert len(ids(index, "urls:*x.test*")) == 6
