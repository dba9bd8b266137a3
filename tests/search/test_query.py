"""The query language parser: what each construct means, and errors that point
at the column instead of a silently different query."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search import query as q
from search.query import QuerySyntaxError, date_period, fields_of, parse_query
from search.schema import build_schema
from search.whoosh_index import _Compiler


def test_precedence_not_and_or() -> None:
    tree = parse_query("a OR b c NOT d")
    assert isinstance(tree, q.Or)
    left, right = tree.children
    assert left == q.Term(0, "text", "a")
    assert isinstance(right, q.And)
    assert right.children[0] == q.Term(5, "text", "b")
    assert right.children[2] == q.Not(9, q.Term(13, "text", "d"))


def test_fields_aliases_and_groups() -> None:
    tree = parse_query("tag:(fraud OR #Promo) AND id:42")
    assert isinstance(tree, q.And)
    group, native = tree.children
    assert isinstance(group, q.Or) and {c.field for c in group.children} == {"hashtags"}
    assert native == q.Term(29, "native_id", "42")


def test_phrases_proximity_wildcards_fuzzy_boost() -> None:
    assert parse_query('"interest rate"~5') == q.Phrase(0, "text", "interest rate", 5)
    assert parse_query("lo*n") == q.Pattern(0, "text", "lo*n")
    assert parse_query("fraud~") == q.Fuzzy(0, "text", "fraud", 1, 0)
    assert parse_query("fraud~2/1") == q.Fuzzy(0, "text", "fraud", 2, 1)
    assert parse_query("fraud^2.5") == q.Boost(0, q.Term(0, "text", "fraud"), 2.5)
    boosted = parse_query("(a OR b)^3")
    assert isinstance(boosted, q.Boost) and boosted.factor == 3.0
    assert parse_query("*") == q.All(0)


def test_ranges_and_comparisons() -> None:
    assert parse_query("created:[2024-01-01 TO 2024-03-31]") == q.Range(
        8, "created", "2024-01-01", "2024-03-31", True, True)
    assert parse_query("captured:{2024 TO *]") == q.Range(9, "captured", "2024", None, False,
                                                          True)
    assert parse_query("version:>=2") == q.Range(8, "version", "2", None, True, True)
    assert parse_query("created:<2024-02") == q.Range(8, "created", None, "2024-02", True,
                                                      False)


def test_escapes_and_urls_are_words() -> None:
    assert parse_query(r"a\:b") == q.Term(0, "text", "a:b")
    assert parse_query("https://x.test/a") == q.Term(0, "text", "https://x.test/a")
    assert parse_query("urls:https://x.test/a?b=1") == q.Pattern(5, "urls",
                                                                 "https://x.test/a?b=1")
    assert parse_query('urls:"https://x.test/a?b=1"') == q.Phrase(5, "urls",
                                                                  "https://x.test/a?b=1")


def test_lowercase_operators_are_words() -> None:
    tree = parse_query("fraud and loans or not")
    assert isinstance(tree, q.And) and len(tree.children) == 5


@pytest.mark.parametrize(("text", "column", "reason"), [
    ('loan "interest rate', 6, "unclosed quote"),
    ("(loan OR fraud", 1, "unclosed ("),
    ("loan)", 5, "unmatched )"),
    ("loan AND", 6, "AND needs a term after it"),
    ("OR loan", 1, "OR needs a term before it"),
    ("loan AND OR fraud", 6, "AND needs a term after it"),
    ("NOT", 1, "NOT needs a term after it"),
    ("()", 1, "empty parentheses"),
    ("", 1, "empty query"),
    ("autor:bob", 1, "unknown field 'autor'"),
    ("text: loan", 6, "needs a value right after the colon"),
    ("created:[2024-01-01 TO", 9, "unclosed range"),
    ("created:[2024-01-01 2024-02-01]", 9, "a range is [low TO high]"),
    ("created:[2024-13-01 TO 2024-12-31]", 9, "not a valid date"),
    ("created:yesterday", 9, "not a date"),
    ("text:[a TO b]", 6, "ranges work on dates"),
    ("edited:maybe", 8, "true or false"),
    ("version:two", 9, "whole number"),
    ("loan~x", 5, "a number must follow ~"),
    ('"a b"~x', 6, 'a number must follow "~"'),
    ("loan^x", 5, "a number must follow ^"),
    ("loan ^2", 6, "~ and ^ must directly follow a term"),
    ("fraud~9", 7, "fuzzy distance must be 0 to 3"),
    ("lo*n~1", 1, "both fuzzy (~) and a wildcard"),
    ("created:2024*", 9, "wildcards work on words"),
    ('"a b"c', 6, "expected a space or )"),
    ("account:(a OR text:b)", 15, "a field inside field:(...)"),
])
def test_errors_point_at_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(text)
    error = caught.value
    assert reason in error.reason
    assert error.position + 1 == column, str(error)
    lines = str(error).splitlines()
    assert lines[0].startswith(f"query error at column {column}:")
    assert lines[2].index("^") - 2 == error.position


def test_nothing_searchable_is_an_error_at_compile_time() -> None:
    with pytest.raises(QuerySyntaxError, match="nothing searchable"):
        _Compiler("!!! loan", build_schema()).compile(parse_query("!!! loan"))


def test_date_periods_are_whole_units_in_naive_utc() -> None:
    assert date_period("2024") == (datetime(2024, 1, 1), datetime(2024, 12, 31, 23, 59, 59,
                                                                     999999))
    assert date_period("2024-02")[1] == datetime(2024, 2, 29, 23, 59, 59, 999999)
    assert date_period("2024-12-31")[1] == datetime(2024, 12, 31, 23, 59, 59, 999999)
    assert date_period("2024-03-01T10:15Z") == (datetime(2024, 3, 1, 10, 15),
                                                 datetime(2024, 3, 1, 10, 15, 59, 999999))


QUERY_ALPHABET = st.sampled_from(list('ab cdé"()[]{}:*?~^\\-+!') + [
    " AND ", " OR ", " NOT ", "text:", "created:", "version:", "tag:", "edited:", " TO ",
    "2024-01-01", "🚀", "\udcff", "\t", "1", "/", ">", "<=",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_ALPHABET, max_size=12).map("".join))
def test_any_string_parses_or_fails_cleanly(text: str) -> None:
    schema = build_schema()
    try:
        _Compiler(text, schema).compile(parse_query(text))
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        assert str(exc).startswith("query error at column")


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("loan", {"text"}),
        ("*", set()),
        ('(platform:x OR "a b"~3) AND NOT holds:acme^2', {"platform", "text", "holds"}),
        ("created:[2024 TO *] fraud~1 tag:ab*", {"created", "text", "hashtags"}),
    ],
)
def test_fields_of_names_every_field_a_query_looks_at(query: str, fields: set[str]) -> None:
    assert fields_of(parse_query(query)) == fields
