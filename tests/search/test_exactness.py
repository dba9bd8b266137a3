"""Exactness: on a generated corpus ingested through archive.ingest and indexed
through the queue, every query returns exactly the record ids that a plain Python
scan of the corpus says it should. Each query carries its own oracle."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.setup import initialise
from search.index import SearchRequest
from tests.conftest import START, make_settings
from tests.search.test_patterns import levenshtein
from tests.support.items import make_item

# The documented tokenisation (docs/search.md), written out here on purpose: words
# are \w runs joined by single dots, each emoji a token, everything lower-cased.
EMOJI = "\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff\U0001f000-\U0001faff"
WORDS = re.compile(rf"\w+(?:\.\w+)*|[{EMOJI}]")

VOCAB = (
    "loan Loan LOAN loans rate Rate rates interest fraud Fraud frauds fraut fruad approved "
    "savings café Café cafe Zürich zurich naïve straße über 日本語 covid-19 mortgage credit "
    "3.9% e.g. member branch hours holiday (rate) loan, fraud! ok? 🚀 💰 🔥 #Fraud #rates "
    "@bob@x.test https://example.com/a alert"
).split()
PLATFORMS = ("mastodon", "bluesky", "x")
KINDS = ("post", "post", "post", "reply", "comment", "dm")
LANGS = ("en", "en", "de", "fr", "")
TAGS = ("Fraud", "rates", "Savings", "café", "#Promo")
MENTIONS = ("@Bob@x.test", "@alice@bsky.test", "carol")
URLS = ("https://Example.com/a", "https://example.org/b?x=1", "http://bank.test/loan")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in WORDS.findall(text)]


@dataclass
class Rec:
    record_id: str
    platform: str
    account: str
    native_id: str
    kind: str
    version: int
    observation: str
    text: str
    created: datetime | None
    captured: datetime
    author: str
    thread: str
    lang: str
    hashtags: list[str]
    mentions: list[str]
    urls: list[str]
    has_media: bool
    edited: bool
    deleted: bool
    latest: bool = True
    words: list[str] = field(default_factory=list)
    holds: set[str] = field(default_factory=set)

    @property
    def tags(self) -> set[str]:
        return {t.lower() for h in self.hashtags for t in re.findall(r"[^\s#]+", h)}

    @property
    def handles(self) -> set[str]:
        return {t.lower() for m in self.mentions for t in re.findall(r"[^\s@]\S*", m)}

    @property
    def links(self) -> set[str]:
        return {u.lower() for u in self.urls}


@dataclass
class Corpus:
    archive: Archive
    records: list[Rec]


def _content(rng: random.Random, n: int, platform: str) -> dict[str, Any]:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(3, 22))]
    if n % 97 == 0:
        words.append("bad\udcffbyte")  # invalid platform UTF-8 kept as a lone surrogate
    created = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3 * 365 * 86400))
    kind = KINDS[n % len(KINDS)]
    content: dict[str, Any] = {
        "text": " ".join(words),
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "author": f"@Author{n % 7}@{platform}.test",
        "lang": LANGS[n % len(LANGS)],
        "hashtags": rng.sample(TAGS, rng.randint(0, 2)),
        "mentions": rng.sample(MENTIONS, rng.randint(0, 2)),
        "urls": rng.sample(URLS, rng.randint(0, 1)),
    }
    if kind == "reply":
        content["thread_id"] = f"T{n % 40}"
    if n % 11 == 0:
        content["media"] = [{"url": f"https://cdn.test/{n}.jpg", "type": "image"}]
    return content


def build_corpus(root: Path, items: int = 2000, seed: int = 20260105) -> Corpus:
    settings = make_settings(root)
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:officer")
    rng = random.Random(seed)
    keys = [(PLATFORMS[n % 3], f"@Acct{n % 5}@{PLATFORMS[n % 3]}.test", str(1000 + n))
            for n in range(items)]
    kinds = {key: KINDS[n % len(KINDS)] for n, key in enumerate(keys)}
    chains: dict[tuple[str, str, str], list[Rec]] = {}
    contents: dict[tuple[str, str, str], dict[str, Any]] = {}
    tick = iter(range(10**9))

    def captured() -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=7 * next(tick))

    def ingest(batch: list[tuple[tuple[str, str, str], dict[str, Any] | None]]) -> None:
        made = []
        for key, content in batch:
            platform, account, native_id = key
            when = captured()
            if content is None:
                item = make_item(native_id, platform=platform, account=account,
                                 kind=kinds[key], deleted=True, captured_at=when, status=404)
            else:
                body = dict(content)
                item = make_item(native_id, body.pop("text"), platform=platform,
                                 account=account, kind=kinds[key], captured_at=when, **body)
            made.append((key, content, when, item))
        result = archive.ingest(item for _, _, _, item in made)
        for (key, content, when, _), outcome in zip(made, result.outcomes, strict=True):
            if outcome.status == "unchanged":
                continue
            chain = chains.setdefault(key, [])
            if content is None:
                source = contents[key]
                observation = "deleted"
                edited = chain[-1].observation == "edited"
            else:
                contents[key] = source = content
                observation = {"new": "observed", "edited": "edited"}[outcome.status]
                edited = observation == "edited"
            if chain:
                chain[-1].latest = False
            created = datetime.strptime(source["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC)
            text = source["text"]
            chain.append(Rec(
                record_id=outcome.record_id, platform=key[0], account=key[1], native_id=key[2],
                kind=kinds[key], version=outcome.version, observation=observation, text=text,
                created=created, captured=when, author=source["author"],
                thread=source.get("thread_id", ""), lang=source["lang"],
                hashtags=source["hashtags"], mentions=source["mentions"], urls=source["urls"],
                has_media=bool(source.get("media")), edited=edited,
                deleted=content is None, words=tokens(text)))

    ingest([(key, _content(rng, n, key[0])) for n, key in enumerate(keys)])
    archive.search.index_pending(batch_size=700)  # part indexed before the edits arrive
    edited = rng.sample(keys, 350)
    ingest([(key, _content(rng, 5000 + n, key[0])) for n, key in enumerate(edited)])
    gone = rng.sample([k for k in keys if k not in set(edited)], 150) + edited[:60]
    ingest([(key, None) for key in gone])
    ingest([(key, _content(rng, 9000 + n, key[0])) for n, key in enumerate(edited[60:150])])
    back = gone[:25]  # reappear after deletion, with their old content
    ingest([(key, dict(contents[key])) for key in back] + [(k, dict(contents[k])) for k in keys[:40]])
    archive.search.index_pending(batch_size=400)
    records = [rec for chain in chains.values() for rec in chain]
    for matter, every in (("MATTER-A", 7), ("matter-b", 11)):  # two overlapping holds
        held = [rec for n, rec in enumerate(records) if n % every == 0]
        for rec in held:
            rec.holds.add(matter)
    for matters in ({"MATTER-A"}, {"matter-b"}, {"MATTER-A", "matter-b"}):
        ids = [rec.record_id for rec in records if rec.holds == matters]
        archive.search.set_holds(ids, sorted(matters))
    return Corpus(archive, records)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    built = build_corpus(tmp_path_factory.mktemp("exactness"))
    yield built
    built.archive.close()


def search_ids(archive: Archive, query: str, **options: Any) -> list[str]:
    found: list[str] = []
    page = 1
    while True:
        result = archive.search.index.search(
            SearchRequest(query, page=page, page_size=1000, snippets=False, **options))
        found += [hit.record_id for hit in result.hits]
        if page >= result.pages:
            assert result.total == len(found)
            return found
        page += 1


def fuzzy(word: str, dist: int, prefix: int = 0) -> Callable[[Rec], bool]:
    return lambda r: any(w[:prefix] == word[:prefix] and levenshtein(w[prefix:], word[prefix:])
                         <= dist for w in r.words)


def wildcard(pattern: str) -> Callable[[Rec], bool]:
    regex = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                               for c in pattern) + r"\Z", re.S)
    return lambda r: any(regex.match(w) for w in r.words)


def near(words: list[str], slop: int) -> Callable[[Rec], bool]:
    """Each next word 1..slop positions after the previous one, in order."""
    def match(r: Rec) -> bool:
        reach = {p for p, w in enumerate(r.words) if w == words[0]}
        for word in words[1:]:
            reach = {p for p, w in enumerate(r.words) if w == word
                     and any(1 <= p - q <= slop for q in reach)}
        return bool(reach)
    return match


def has(word: str) -> Callable[[Rec], bool]:
    return lambda r: word in r.words


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def created_between(first: datetime, last_day: datetime) -> Callable[[Rec], bool]:
    return lambda r: r.created is not None and first <= r.created < last_day + timedelta(days=1)


QUERIES: list[tuple[str, Callable[[Rec], bool]]] = [
    ("loan", has("loan")),
    ("LOAN", has("loan")),
    ("text:Loan", has("loan")),
    ("loan AND rate", lambda r: has("loan")(r) and has("rate")(r)),
    ("loan rate", lambda r: has("loan")(r) and has("rate")(r)),
    ("loan OR fraud", lambda r: has("loan")(r) or has("fraud")(r)),
    ("loan NOT rate", lambda r: has("loan")(r) and not has("rate")(r)),
    ("NOT loan", lambda r: not has("loan")(r)),
    ("(loan OR fraud) AND NOT (rate OR café)",
     lambda r: (has("loan")(r) or has("fraud")(r)) and not (has("rate")(r) or has("café")(r))),
    ("loan OR fraud AND rate", lambda r: has("loan")(r) or (has("fraud")(r) and has("rate")(r))),
    ('"interest rate"', near(["interest", "rate"], 1)),
    ('"loan approved"~3', near(["loan", "approved"], 3)),
    ('"savings loan fraud"~4', near(["savings", "loan", "fraud"], 4)),
    ('"rate"', has("rate")),
    ("covid-19", near(["covid", "19"], 1)),
    ("lo*", wildcard("lo*")),
    ("*ate", wildcard("*ate")),
    ("r?te", wildcard("r?te")),
    ("fraud~1", fuzzy("fraud", 1)),
    ("fruad~2/1", fuzzy("fruad", 2, 1)),
    ("FRAUT~", fuzzy("fraut", 1)),
    ("café", has("café")),
    ("Zürich OR straße", lambda r: has("zürich")(r) or has("straße")(r)),
    ("日本語", has("日本語")),
    ("🚀", has("🚀")),
    ("🚀 AND 💰", lambda r: has("🚀")(r) and has("💰")(r)),
    ("3.9", has("3.9")),
    ("e.g", has("e.g")),
    ("loan^3 OR fraud", lambda r: has("loan")(r) or has("fraud")(r)),
    ("(loan OR rate)^2 AND fraud", lambda r: (has("loan")(r) or has("rate")(r)) and has("fraud")(r)),
    ("hashtags:fraud", lambda r: "fraud" in r.tags),
    ("tag:#Promo OR hashtag:Savings", lambda r: bool({"promo", "savings"} & r.tags)),
    ("hashtags:caf*", lambda r: any(t.startswith("caf") for t in r.tags)),
    ("mentions:bob@x.test", lambda r: "bob@x.test" in r.handles),
    ("mention:@Alice@bsky.test OR mention:carol", lambda r: bool({"alice@bsky.test", "carol"}
                                                                  & r.handles)),
    ("urls:https://example.com/a", lambda r: "https://example.com/a" in r.links),
    ('link:"https://example.org/b?x=1"', lambda r: "https://example.org/b?x=1" in r.links),
    ("links:*bank.test*", lambda r: any("bank.test" in u for u in r.links)),
    ("platform:Bluesky", lambda r: r.platform == "bluesky"),
    ("account:@acct3@x.test", lambda r: r.account.lower() == "@acct3@x.test"),
    ("author:@author2@mastodon.test AND loan",
     lambda r: r.author.lower() == "@author2@mastodon.test" and has("loan")(r)),
    ("kind:reply AND thread:T7", lambda r: r.kind == "reply" and r.thread == "T7"),
    ("conversation:T1*", lambda r: r.thread.startswith("T1")),
    ("id:1042", lambda r: r.native_id == "1042"),
    ("lang:DE", lambda r: r.lang == "de"),
    ("created:[2024-01-01 TO 2024-03-31]", created_between(day(2024, 1, 1), day(2024, 3, 31))),
    ("created:{2024-01-01 TO 2024-03-31}", created_between(day(2024, 1, 2), day(2024, 3, 30))),
    ("created:2024", created_between(day(2024, 1, 1), day(2024, 12, 31))),
    ("created:2025-02", created_between(day(2025, 2, 1), day(2025, 2, 28))),
    ("created:>=2025-06-01", lambda r: r.created is not None and r.created >= day(2025, 6, 1)),
    ("created:<2023-03-15", lambda r: r.created is not None and r.created < day(2023, 3, 15)),
    ("created:[* TO 2023-02-01] OR created:[2025-12-01 TO *]",
     lambda r: r.created is not None and (r.created < day(2023, 2, 2)
                                          or r.created >= day(2025, 12, 1))),
    ("captured:[2025-01-10 TO 2025-01-20]",
     lambda r: day(2025, 1, 10) <= r.captured < day(2025, 1, 21)),
    ("captured:>2025-09-01 AND fraud", lambda r: r.captured >= day(2025, 9, 2) and has("fraud")(r)),
    ("edited:true", lambda r: r.edited),
    ("deleted:yes", lambda r: r.deleted),
    ("deleted:true AND fraud", lambda r: r.deleted and has("fraud")(r)),
    ("has_media:true AND NOT deleted:true", lambda r: r.has_media and not r.deleted),
    ("version:[2 TO *]", lambda r: r.version >= 2),
    ("version:3", lambda r: r.version == 3),
    ("version:>1 AND edited:false", lambda r: r.version > 1 and not r.edited),
    ("observation:edited", lambda r: r.observation == "edited"),
    ("latest:false", lambda r: not r.latest),
    ("holds:MATTER-A", lambda r: "MATTER-A" in r.holds),
    ("holds:matter-b AND NOT holds:MATTER-A", lambda r: r.holds == {"matter-b"}),
    ("hold:MATTER-* AND loan", lambda r: "MATTER-A" in r.holds and has("loan")(r)),
    ("NOT holds:*", lambda r: not r.holds),
    ("*", lambda r: True),
]

MODES = [
    pytest.param({}, id="latest"),
    pytest.param({"latest_only": False}, id="all-versions"),
    pytest.param({"include_deleted": False}, id="latest-no-deleted"),
    pytest.param({"latest_only": False, "include_deleted": False}, id="all-no-deleted"),
]


def expected(corpus: Corpus, predicate: Callable[[Rec], bool], options: dict[str, Any]
             ) -> set[str]:
    latest_only = options.get("latest_only", True)
    include_deleted = options.get("include_deleted", True)
    return {r.record_id for r in corpus.records
            if (r.latest or not latest_only) and (include_deleted or not r.deleted)
            and predicate(r)}


def test_the_corpus_is_rich_enough(corpus: Corpus) -> None:
    records = corpus.records
    assert len(records) > 2500
    assert sum(r.deleted for r in records) > 150 and sum(r.edited for r in records) > 300
    assert sum(r.version >= 3 for r in records) > 50
    assert corpus.archive.search.lag() == 0
    assert corpus.archive.search.index.doc_count() == len(records)


@pytest.mark.parametrize("options", MODES)
@pytest.mark.parametrize(("query", "predicate"), QUERIES, ids=[q for q, _ in QUERIES])
def test_query_returns_exactly_what_the_oracle_says(
    corpus: Corpus, query: str, predicate: Callable[[Rec], bool], options: dict[str, Any]
) -> None:
    found = search_ids(corpus.archive, query, **options)
    assert len(found) == len(set(found))
    want = expected(corpus, predicate, options)
    assert set(found) == want, (len(set(found) - want), len(want - set(found)))


def test_at_least_thirty_queries_match_something(corpus: Corpus) -> None:
    assert len(QUERIES) >= 30
    empty = [q for q, p in QUERIES if not expected(corpus, p, {"latest_only": False})]
    assert empty == []


@pytest.mark.parametrize("options", MODES)
def test_record_ids_find_exactly_those_records(corpus: Corpus, options: dict[str, Any]) -> None:
    chosen = corpus.records[::400]
    query = " OR ".join(f"record_id:{r.record_id}" for r in chosen[:3])
    query += " OR " + " OR ".join(f"record:{r.record_id}" for r in chosen[3:])
    want = expected(corpus, lambda r: r in chosen, options)
    assert want and set(search_ids(corpus.archive, query, **options)) == want


def test_date_order_and_pages(corpus: Corpus) -> None:
    archive = corpus.archive
    by_date = search_ids(archive, "loan OR fraud", sort="date")
    created = {r.record_id: r.created for r in corpus.records}
    moments = [created[i] for i in by_date]
    assert moments == sorted(moments, reverse=True)
    oldest = search_ids(archive, "loan OR fraud", sort="date-asc")
    assert [created[i] for i in oldest] == sorted(moments)
    page3 = archive.search.index.search(
        SearchRequest("loan OR fraud", sort="date", page=3, page_size=7, snippets=False))
    assert [h.record_id for h in page3.hits] == by_date[14:21]
    assert page3.total == len(by_date)
    relevance = search_ids(archive, "loan^5 OR fraud")
    loans = {r.record_id for r in corpus.records if has("loan")(r)}
    first_other = next(n for n, i in enumerate(relevance) if i not in loans)
    assert all(i not in loans for i in relevance[first_other:])  # the boost ranks loans first


FACET_QUERIES = [
    ("fraud", has("fraud")),
    ("*", lambda r: True),
    ("created:2024 AND NOT deleted:true",
     lambda r: created_between(day(2024, 1, 1), day(2024, 12, 31))(r) and not r.deleted),
]


@pytest.mark.parametrize(("query", "predicate"), FACET_QUERIES, ids=[q for q, _ in FACET_QUERIES])
def test_facets_count_every_match(corpus: Corpus, query: str,
                                  predicate: Callable[[Rec], bool]) -> None:
    result = corpus.archive.search.index.search(
        SearchRequest(query, facets=True, page_size=5, snippets=False))
    matching = [r for r in corpus.records if r.latest and predicate(r)]
    assert result.total == len(matching)

    def counts(values: Iterator[str]) -> dict[str, int]:
        return dict(Counter(values))

    assert result.facets["platform"] == counts(r.platform for r in matching)
    assert result.facets["account"] == counts(r.account for r in matching)
    assert result.facets["kind"] == counts(r.kind for r in matching)
    assert result.facets["month"] == counts(
        r.created.strftime("%Y-%m") if r.created else "(none)" for r in matching)
    assert result.facets["edited"] == {k: v for k, v in counts(
        str(r.edited).lower() for r in matching).items()}
    assert result.facets["deleted"] == counts(str(r.deleted).lower() for r in matching)
