"""The query language: our own scanner and parser, so every mistake is an error
that points at its column instead of being quietly reinterpreted.

Whoosh's own parser is lenient: an unclosed quote or bracket, a dangling AND, an
unknown field or `term~x` all become *some* query. For compliance work a search
that silently means something else is worse than an error, so the language is
parsed here into a small tree (And, Or, Not, Term, Phrase, Pattern, Fuzzy, Range,
Boost, All) that an index backend compiles; the grammar is in docs/search.md.

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*          # juxtaposition means AND
    unary   := "NOT" unary | primary
    primary := [field ":"] ( "(" or ")" | phrase | range | compare | word ) ["^" number]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from search.schema import ALIASES, BOOL, DATE, INT, SPECS, TEXT

MAX_FUZZY = 3
MAX_SLOP = 1000


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is the 0-based offset of the problem."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.reason = message
        self.query = query
        self.position = max(0, min(position, len(query)))
        super().__init__(self.render())

    def render(self) -> str:
        pointer = " " * self.position + "^"
        return (f"query error at column {self.position + 1}: {self.reason}\n"
                f"  {self.query}\n  {pointer}")


# -- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Term(Node):
    """A plain value: a word in text fields (several words after analysis = a phrase)."""

    field: str
    text: str


@dataclass(frozen=True)
class Phrase(Node):
    field: str
    text: str
    slop: int = 1  # 1: adjacent, in order; N: each next word within N positions


@dataclass(frozen=True)
class Pattern(Node):
    """A wildcard term: * any run of characters, ? one character."""

    field: str
    text: str


@dataclass(frozen=True)
class Fuzzy(Node):
    field: str
    text: str
    maxdist: int = 1  # Levenshtein edits
    prefix: int = 0  # leading characters that must match exactly


@dataclass(frozen=True)
class Range(Node):
    field: str
    low: str | None
    high: str | None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    child: Node


@dataclass(frozen=True)
class Boost(Node):
    child: Node
    factor: float


@dataclass(frozen=True)
class All(Node):
    """`*` on its own: every document."""


# -- scanning ---------------------------------------------------------------------------

LPAREN, RPAREN, WORD, PHRASE, RANGE, FIELD, COMPARE, BOOST, OP = (
    "(", ")", "word", "phrase", "range", "field", "compare", "boost", "op")
_FIELD_PREFIX = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORD_SUFFIX = re.compile(r"(?P<fuzzy>~(?P<dist>\d+)?(?:/(?P<prefix>\d+))?)?(?:\^(?P<boost>\S*))?$")
_COMPARE = re.compile(r"(>=|<=|>|<)")
_STOP = set(' \t\r\n()"')


@dataclass(frozen=True)
class Token:
    kind: str
    pos: int
    text: str = ""
    extra: object = None  # phrase: slop; range: (low, high, incl, incl); compare: op


class _Scanner:
    def __init__(self, query: str) -> None:
        self.query = query
        self.i = 0
        self.tokens: list[Token] = []

    def fail(self, message: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.query, pos)

    def scan(self) -> list[Token]:
        q = self.query
        while self.i < len(q):
            c = q[self.i]
            if c.isspace():
                self.i += 1
            elif c == "(":
                self.tokens.append(Token(LPAREN, self.i))
                self.i += 1
            elif c == ")":
                self.tokens.append(Token(RPAREN, self.i))
                self.i += 1
                self._boost_suffix()
            else:
                self._value(field_allowed=True)
        return self.tokens

    def _value(self, field_allowed: bool) -> None:
        q, start = self.query, self.i
        c = q[start]
        if c == '"':
            self._phrase()
        elif c in "[{":
            self._range()
        elif c in "<>" and not field_allowed:
            match = _COMPARE.match(q, start)
            assert match
            self.i = match.end()
            if self.i >= len(q) or q[self.i] in _STOP:
                raise self.fail(f"a value must follow {match.group()!r}", self.i)
            word, _ = self._read_word()
            self.tokens.append(Token(COMPARE, start, word, match.group()))
        else:
            match = _FIELD_PREFIX.match(q, start) if field_allowed else None
            if match and not q.startswith("//", match.end()):
                self._field(match)
                return
            word, escaped = self._read_word()
            if not escaped and word in ("AND", "OR", "NOT"):
                self.tokens.append(Token(OP, start, word))
            else:
                self.tokens.append(Token(WORD, start, word, escaped))

    def _field(self, match: re.Match[str]) -> None:
        name, start = match.group(1), match.start()
        if name not in ALIASES:
            known = ", ".join(sorted(SPECS))
            raise self.fail(
                f"unknown field {name!r} (fields: {known}); to search for text with a colon, "
                "put it in double quotes", start)
        self.tokens.append(Token(FIELD, start, ALIASES[name]))
        self.i = match.end()
        if self.i >= len(self.query) or self.query[self.i].isspace():
            raise self.fail(f"field {name!r} needs a value right after the colon", self.i)
        if self.query[self.i] == "(":
            return  # a group: the parser applies the field to it
        if self.query[self.i] == ")":
            raise self.fail(f"field {name!r} needs a value right after the colon", self.i)
        self._value(field_allowed=False)

    def _read_word(self) -> tuple[str, bool]:
        """Up to whitespace, a parenthesis or a quote; a backslash escapes the next character."""
        q, out, escaped = self.query, [], False
        while self.i < len(q) and q[self.i] not in _STOP:
            if q[self.i] == "\\" and self.i + 1 < len(q):
                out.append(q[self.i + 1])
                escaped = True
                self.i += 2
            else:
                out.append(q[self.i])
                self.i += 1
        return "".join(out), escaped

    def _phrase(self) -> None:
        q, start = self.query, self.i
        self.i += 1
        out = []
        while self.i < len(q) and q[self.i] != '"':
            if q[self.i] == "\\" and self.i + 1 < len(q):
                self.i += 1
            out.append(q[self.i])
            self.i += 1
        if self.i >= len(q):
            raise self.fail('unclosed quote: a phrase needs a closing "', start)
        self.i += 1
        slop = 1
        if self.i < len(q) and q[self.i] == "~":
            match = re.compile(r"\d+").match(q, self.i + 1)
            if not match:
                raise self.fail('a number must follow "~" after a phrase, e.g. "a b"~5', self.i)
            slop = int(match.group())
            if not 1 <= slop <= MAX_SLOP:
                raise self.fail(f"proximity must be between 1 and {MAX_SLOP}", self.i + 1)
            self.i = match.end()
        self.tokens.append(Token(PHRASE, start, "".join(out), slop))
        self._boost_suffix()
        self._expect_boundary()

    def _range(self) -> None:
        q, start = self.query, self.i
        close = min((p for p in (q.find("]", start), q.find("}", start)) if p >= 0), default=-1)
        if close < 0:
            raise self.fail("unclosed range: expected ] or } after [low TO high", start)
        inner = q[start + 1:close]
        parts = inner.split()
        to_at = [n for n, part in enumerate(parts) if part == "TO"]
        if len(to_at) != 1 or len(parts) > 3 or (len(parts) == 3 and to_at[0] != 1):
            raise self.fail("a range is [low TO high]; leave a side empty or * for open", start)
        low = " ".join(parts[:to_at[0]]) or None
        high = " ".join(parts[to_at[0] + 1:]) or None
        low = None if low == "*" else low
        high = None if high == "*" else high
        if low is None and high is None:
            raise self.fail("a range needs at least one bound", start)
        extra = (low, high, q[start] == "[", q[close] == "]")
        self.tokens.append(Token(RANGE, start, inner, extra))
        self.i = close + 1
        self._boost_suffix()
        self._expect_boundary()

    def _boost_suffix(self) -> None:
        q = self.query
        if self.i < len(q) and q[self.i] == "^":
            match = _NUMBER.match(q, self.i + 1)
            if not match:
                raise self.fail("a number must follow ^ (boost), e.g. fraud^2", self.i)
            self.tokens.append(Token(BOOST, self.i, match.group()))
            self.i = match.end()

    def _expect_boundary(self) -> None:
        if self.i < len(self.query) and not (self.query[self.i].isspace()
                                             or self.query[self.i] == ")"):
            raise self.fail("expected a space or ) here", self.i)


# -- parsing ----------------------------------------------------------------------------

_START = (LPAREN, WORD, PHRASE, RANGE, FIELD)


class _Parser:
    def __init__(self, query: str, tokens: list[Token], default_field: str) -> None:
        self.query = query
        self.tokens = tokens
        self.n = 0
        self.default_field = default_field

    def fail(self, message: str, pos: int | None = None) -> QuerySyntaxError:
        if pos is None:
            token = self.peek()
            pos = token.pos if token else len(self.query)
        return QuerySyntaxError(message, self.query, pos)

    def peek(self) -> Token | None:
        return self.tokens[self.n] if self.n < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.n]
        self.n += 1
        return token

    def is_op(self, token: Token | None, *words: str) -> bool:
        return token is not None and token.kind == OP and token.text in words

    def parse(self) -> Node:
        if not self.tokens:
            raise self.fail("empty query; use * to match every record", 0)
        node = self.parse_or(self.default_field)
        token = self.peek()
        if token is not None:
            if token.kind == RPAREN:
                raise self.fail("unmatched ): no ( opens it", token.pos)
            raise self.fail("unexpected token", token.pos)
        return node

    def parse_or(self, field: str) -> Node:
        first = self.peek()
        children = [self.parse_and(field)]
        while self.is_op(self.peek(), "OR"):
            op = self.take()
            self.need_operand(op)
            children.append(self.parse_and(field))
        return children[0] if len(children) == 1 else Or(first.pos if first else 0, tuple(children))

    def parse_and(self, field: str) -> Node:
        first = self.peek()
        children = [self.parse_unary(field)]
        while True:
            token = self.peek()
            if token is None or token.kind == RPAREN or self.is_op(token, "OR"):
                break
            if self.is_op(token, "AND"):
                self.take()
                self.need_operand(token)
            children.append(self.parse_unary(field))
        return children[0] if len(children) == 1 else And(first.pos if first else 0,
                                                           tuple(children))

    def need_operand(self, op: Token) -> None:
        token = self.peek()
        if token is None or token.kind == RPAREN or self.is_op(token, "AND", "OR"):
            raise self.fail(f"{op.text} needs a term after it", op.pos)

    def parse_unary(self, field: str) -> Node:
        token = self.peek()
        if self.is_op(token, "NOT"):
            op = self.take()
            self.need_operand(op)
            return Not(op.pos, self.parse_unary(field))
        return self.parse_primary(field)

    def parse_primary(self, field: str) -> Node:
        token = self.peek()
        if token is None:
            raise self.fail("the query ends where a term was expected")
        if token.kind == RPAREN:
            raise self.fail("unmatched ): no ( opens it", token.pos)
        if token.kind == OP:
            raise self.fail(f"{token.text} needs a term before it", token.pos)
        if token.kind == BOOST:
            raise self.fail("^ (boost) must directly follow a term", token.pos)
        self.take()
        if token.kind == FIELD:
            if field != self.default_field:
                raise self.fail("a field inside field:(...) is not allowed", token.pos)
            nxt = self.peek()
            if nxt is not None and nxt.kind == LPAREN:
                return self.parse_primary(token.text)
            value = self.take()
            return self.value(value, token.text)
        if token.kind == LPAREN:
            if self.peek() is not None and self.peek().kind == RPAREN:  # type: ignore[union-attr]
                raise self.fail("empty parentheses", token.pos)
            inner = self.parse_or(field)
            close = self.peek()
            if close is None or close.kind != RPAREN:
                raise self.fail("unclosed (: expected )", token.pos)
            self.take()
            return self.boosted(inner)
        return self.value(token, field)

    def boosted(self, node: Node) -> Node:
        token = self.peek()
        if token is not None and token.kind == BOOST:
            self.take()
            return Boost(node.pos, node, float(token.text))
        return node

    def value(self, token: Token, field: str) -> Node:
        kind = SPECS[field].kind
        if token.kind == PHRASE:
            if kind in (DATE, INT, BOOL):
                raise self.fail(f"{field} takes a value, not a quoted phrase", token.pos)
            slop = token.extra if isinstance(token.extra, int) else 1
            if slop != 1 and kind != TEXT:
                raise self.fail(f"proximity (~) works on text, not on {field}", token.pos)
            return self.boosted(Phrase(token.pos, field, token.text, slop))
        if token.kind == RANGE:
            low, high, low_incl, high_incl = token.extra  # type: ignore[misc]
            if kind not in (DATE, INT):
                raise self.fail(f"ranges work on dates (created, captured) and version, "
                                f"not on {field}", token.pos)
            for bound in (low, high):
                if bound is not None:
                    check_value(field, bound, self.query, token.pos)
            return self.boosted(Range(token.pos, field, low, high, low_incl, high_incl))
        if token.kind == COMPARE:
            if kind not in (DATE, INT):
                raise self.fail(f"<, >, <=, >= work on dates and version, not on {field}",
                                token.pos)
            check_value(field, token.text, self.query, token.pos)
            op = token.extra
            node: Node = (Range(token.pos, field, token.text, None, op == ">=", True)
                          if op in (">", ">=") else
                          Range(token.pos, field, None, token.text, True, op == "<="))
            return self.boosted(node)
        if token.kind != WORD:
            raise self.fail("a value was expected here", token.pos)
        return self.word(token, field)

    def word(self, token: Token, field: str) -> Node:
        kind = SPECS[field].kind
        raw = token.text
        suffix = _WORD_SUFFIX.search(raw) if not token.extra else None
        boost: float | None = None
        if suffix and suffix.group("boost") is not None:
            text = suffix.group("boost")
            if not _NUMBER.fullmatch(text):
                raise self.fail("a number must follow ^ (boost), e.g. fraud^2",
                                token.pos + suffix.start("boost") - 1)
            boost = float(text)
        body = raw[: suffix.start()] if suffix else raw
        if not body:
            raise self.fail("~ and ^ must directly follow a term", token.pos)
        node: Node
        if suffix and suffix.group("fuzzy"):
            if kind in (DATE, INT, BOOL):
                raise self.fail(f"fuzzy (~) works on words, not on {field}", token.pos)
            dist = int(suffix.group("dist") or 1)
            prefix = int(suffix.group("prefix") or 0)
            if not 0 <= dist <= MAX_FUZZY:
                raise self.fail(f"fuzzy distance must be 0 to {MAX_FUZZY}",
                                token.pos + suffix.start("dist"))
            if any(c in body for c in "*?"):
                raise self.fail("a term cannot be both fuzzy (~) and a wildcard", token.pos)
            node = Fuzzy(token.pos, field, body, dist, prefix)
        elif body == "*" and field == self.default_field and not token.extra:
            node = All(token.pos)
        elif not token.extra and any(c in body for c in "*?"):
            if kind in (DATE, INT, BOOL):
                raise self.fail(f"wildcards work on words, not on {field}", token.pos)
            node = Pattern(token.pos, field, body)
        else:
            if kind == TEXT and "~" in body:
                raise self.fail("a number must follow ~ (fuzzy), e.g. loan~1",
                                token.pos + body.index("~"))
            check_value(field, body, self.query, token.pos)
            node = Term(token.pos, field, body)
        return Boost(token.pos, node, boost) if boost is not None else node


def check_value(field: str, value: str, query: str, pos: int) -> None:
    kind = SPECS[field].kind
    if kind == BOOL and value.lower() not in BOOLEAN_WORDS:
        raise QuerySyntaxError(f"{field} is true or false, not {value!r}", query, pos)
    if kind == INT and not value.isdigit():
        raise QuerySyntaxError(f"{field} is a whole number, not {value!r}", query, pos)
    if kind == DATE:
        try:
            date_period(value)
        except ValueError as exc:
            raise QuerySyntaxError(f"{field}: {exc}", query, pos) from None


TRUE_WORDS = frozenset(("true", "yes", "1", "t"))
BOOLEAN_WORDS = TRUE_WORDS | frozenset(("false", "no", "0", "f"))

_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?)?)?Z?$")


def date_period(value: str) -> tuple[datetime, datetime]:
    """The first and last microsecond (naive UTC) of a year, month, day, minute or second."""
    match = _DATE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a date: use YYYY, YYYY-MM, YYYY-MM-DD "
                         "or YYYY-MM-DDTHH:MM[:SS] (UTC)")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    try:
        start = datetime(parts["y"], parts.get("m", 1), parts.get("d", 1), parts.get("H", 0),
                         parts.get("M", 0), parts.get("S", 0))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date ({exc})") from None
    if "S" in parts:
        end = start + timedelta(seconds=1)
    elif "M" in parts:
        end = start + timedelta(minutes=1)
    elif "d" in parts:
        end = start + timedelta(days=1)
    elif "m" in parts:
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
    else:
        end = start.replace(year=start.year + 1)
    return start, end - timedelta(microseconds=1)


def parse_query(query: str, default_field: str = "text") -> Node:
    """Parse the query language into a tree; QuerySyntaxError names the column."""
    return _Parser(query, _Scanner(query).scan(), default_field).parse()


def fields_of(node: Node) -> set[str]:
    """The fields a parsed query looks at (`*` alone looks at none)."""
    if isinstance(node, And | Or):
        return set().union(*(fields_of(child) for child in node.children))
    if isinstance(node, Not | Boost):
        return fields_of(node.child)
    return {node.field} if isinstance(node, Term | Phrase | Pattern | Fuzzy | Range) else set()
