"""Patterns: the bounded edit distance behind `term~N` (its one-edit shortcut agrees
with the full table), and the cap on how far a pattern may expand, which holds
for the union of an index's segments, not only for each one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from search import whoosh_index
from search.index import SearchRequest
from search.query import QuerySyntaxError
from search.whoosh_index import WhooshIndex, within
from tests.search.test_index import doc


def test_the_one_edit_shortcut_agrees_with_the_edit_distance_table() -> None:
    rng = random.Random(7)
    words = ["".join(rng.choice("abc") for _ in range(rng.randint(0, 6))) for _ in range(400)]
    for a in words[:60]:
        for b in words:
            assert within(a, b, 1) == (levenshtein(a, b) <= 1), (a, b)


def levenshtein(a: str, b: str) -> int:
    """The textbook table, as the oracle."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_two_edits_use_the_table() -> None:
    assert within("mortgage", "morgtage", 2) and not within("mortgage", "morgtage", 1)
    assert within("loan", "lawn", 2) and not within("loan", "lawns", 1)


def test_the_expansion_cap_holds_across_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whoosh_index, "MAX_EXPANSION", 5)
    index = WhooshIndex(tmp_path / "index")
    index.add([doc(f"a{n}", f"abc{n}") for n in range(4)])  # 4 values per segment
    index.add([doc(f"b{n}", f"abd{n}") for n in range(4)])
    assert index.search(SearchRequest("abc*")).total == 4
    with pytest.raises(QuerySyntaxError, match="more than 5 different text values"):
        index.search(SearchRequest("ab*"))
    index.close()
