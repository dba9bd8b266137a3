"""WhooshIndex: the embedded SearchIndex (whoosh-reloaded 2.7.5).

Writes go through one batched writer under a file lock (search/lock.py); each
`add` is one commit. Large batches use Whoosh's multiprocess writer (`procs`),
small ones a single process, because starting workers costs more than it saves
on a few hundred documents. Rebuilds are written to a sibling directory and
swapped in with one rename (RENAME_EXCHANGE on Linux), so readers see the old
index or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import dataclasses
import gc
import html
import logging
import operator
import os
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from whoosh import collectors, highlight, index, sorting
from whoosh import query as wq
from whoosh.searching import Searcher
from whoosh.writing import IndexWriter

from search import query as q
from search.documents import SearchDoc, aware_utc
from search.facet_counts import FacetColumns
from search.generation import RANK_DEPTH, Generation, Summary, rank_key, summary_key
from search.index import (
    IndexUnavailableError,
    SearchHit,
    SearchIndex,
    SearchPage,
    SearchRequest,
)
from search.lock import WriterLock
from search.query import QuerySyntaxError, date_period, parse_query
from search.schema import (
    BOOL,
    DATE,
    DEFAULT_FIELD,
    ID,
    INT,
    KEYWORD,
    SPECS,
    TEXT,
    build_schema,
)

log = logging.getLogger(__name__)
SNIPPET_CHARS = 240
Progress = Callable[[str, int, int], None]


class MarkFormatter(highlight.Formatter):
    """HTML snippets: every piece of platform text escaped, matches in <mark>."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text, quote=True)

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"<mark>{html.escape(highlight.get_text(text, token, replace), quote=True)}</mark>"


class WhooshIndex(SearchIndex):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        procs: int = 1,
        limitmb: int = 128,
        multisegment: bool = False,
        parallel_threshold: int = 2000,
        lock_timeout: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.procs = max(1, procs)
        self.limitmb = limitmb
        self.multisegment = multisegment
        self.parallel_threshold = parallel_threshold
        self.lock_timeout = lock_timeout
        self.lock = WriterLock(self.path.with_name(self.path.name + ".lock"))
        self.schema = build_schema()
        self._search_lock = threading.Lock()
        self._generation: Generation | None = None
        self._facet_columns = FacetColumns()

    # -- opening and locking ---------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, purpose: str = "index") -> Iterator[None]:
        """Hold the writer lock for a run of writes; IndexBusyError if another has it."""
        self.lock.acquire(purpose, self.lock_timeout)
        try:
            yield
        finally:
            self.lock.release()

    def exists(self) -> bool:
        return self.path.is_dir() and index.exists_in(str(self.path))

    def _open(self, create: bool = False) -> index.Index | None:
        if self.exists():
            try:
                return index.open_dir(str(self.path))
            except (OSError, index.IndexError) as exc:
                raise IndexUnavailableError(f"cannot open the index at {self.path}: {exc}; "
                                            "rebuild it with `archiver reindex`") from exc
        if not create:
            return None
        self.path.mkdir(parents=True, exist_ok=True)
        return index.create_in(str(self.path), self.schema)

    def _writer(self, ix: index.Index, size: int) -> IndexWriter:
        if self.procs > 1 and size >= self.parallel_threshold:
            return ix.writer(procs=self.procs, limitmb=self.limitmb,
                             multisegment=self.multisegment)
        return ix.writer(limitmb=self.limitmb)

    # -- writing ---------------------------------------------------------------------

    def add(self, docs: Sequence[SearchDoc], *, demote: bool = True) -> int:
        if not docs:
            return 0
        with self.writing():
            ix = self._open(create=True)
            assert ix is not None
            return self._add(ix, docs, demote)

    def _add(self, ix: index.Index, docs: Sequence[SearchDoc], demote: bool) -> int:
        successors = {d.prev_record_id for d in docs if d.prev_record_id}
        batch_ids = {d.record_id for d in docs}
        # A version whose successor is in the same batch is not the latest.
        docs = [d.with_changes(latest=False) if d.latest and d.record_id in successors else d
                for d in docs]
        writer = self._writer(ix, len(docs))
        try:
            with writer.searcher() as searcher:
                replaced = self._docnums(searcher, batch_ids)
                demoted: list[SearchDoc] = []
                if demote:
                    for record_id in successors - batch_ids:
                        docnum = searcher.document_number(record_id=record_id)
                        if docnum is None:
                            continue
                        stored = searcher.stored_fields(docnum)
                        if stored.get("latest"):
                            demoted.append(SearchDoc.from_stored(stored).with_changes(latest=False))
                            replaced.append(docnum)
            for docnum in replaced:
                writer.delete_document(docnum)
            for doc in [*docs, *demoted]:
                writer.add_document(**doc.to_fields())
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        # Whoosh's writers and readers hold their buffers in reference cycles; left to
        # the cyclic collector's own pace, a long catch-up grows by ~1.5 KB a document.
        gc.collect()
        return len(docs)

    @staticmethod
    def _docnums(searcher: Searcher, record_ids: set[str]) -> list[int]:
        """The live documents of these records, in index order. A lookup costs a term
        search in every segment (about 60 µs); for many records (a disposition of
        100,000) one pass over the record_id column, under 1 µs a document, is cheaper."""
        reader = searcher.reader()
        if len(record_ids) * 64 < searcher.doc_count_all() or not reader.has_column("record_id"):
            found = (searcher.document_number(record_id=r) for r in record_ids)
            return sorted(docnum for docnum in found if docnum is not None)
        column = reader.column_reader("record_id")
        return [
            docnum
            for docnum, record_id in enumerate(column)
            if record_id in record_ids and not reader.is_deleted(docnum)
        ]

    def update(self, record_ids: Iterable[str], **changes: Any) -> int:
        wanted = set(record_ids)
        if not wanted:
            return 0
        with self.writing():
            ix = self._open(create=True)
            assert ix is not None
            writer = ix.writer(limitmb=self.limitmb)
            try:
                count = 0
                with writer.searcher() as searcher:
                    rewritten = [
                        (docnum, SearchDoc.from_stored(searcher.stored_fields(docnum)))
                        for docnum in self._docnums(searcher, wanted)
                    ]
                for docnum, doc in rewritten:
                    writer.delete_document(docnum)
                    writer.add_document(**doc.with_changes(**changes).to_fields())
                    count += 1
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
        return count

    def delete(self, record_ids: Iterable[str]) -> int:
        wanted = set(record_ids)
        with self.writing():
            ix = self._open()
            if ix is None or not wanted:
                return 0
            writer = ix.writer()
            try:
                with writer.searcher() as searcher:
                    docnums = self._docnums(searcher, wanted)
                for docnum in docnums:
                    writer.delete_document(docnum)
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
        return len(docnums)

    def rebuild(self, batches: Iterable[Sequence[SearchDoc]],
                on_batch: Callable[[int], None] | None = None) -> int:
        """Build a whole new index from `batches` in a sibling directory, then swap
        it in atomically. The caller gives each document its final `latest` flag."""
        with self.writing("reindex"):
            build = self.path.with_name(f"{self.path.name}.new-{os.getpid()}")
            shutil.rmtree(build, ignore_errors=True)
            build.mkdir(parents=True)
            try:
                ix = index.create_in(str(build), self.schema)
                # One writer and one commit for the whole build, as raw Whoosh is used at
                # its fastest: the new index is invisible until the swap, so per-batch
                # commits would buy nothing but segment merges.
                writer = self._writer(ix, max(self.parallel_threshold, 1))
                total = 0
                try:
                    for batch in batches:
                        for doc in batch:
                            writer.add_document(**doc.to_fields())
                        total += len(batch)
                        if on_batch:
                            on_batch(total)
                    writer.commit()
                except BaseException:
                    writer.cancel()
                    raise
                ix.close()
                self._swap(build)
            except BaseException:
                shutil.rmtree(build, ignore_errors=True)
                raise
            return total

    def _swap(self, build: Path) -> None:
        if not self.path.exists():
            os.rename(build, self.path)
            return
        if not _exchange(build, self.path):
            # No atomic exchange here: two renames, with a moment where the path is empty.
            aside = self.path.with_name(f"{self.path.name}.old-{os.getpid()}")
            os.rename(self.path, aside)
            os.rename(build, self.path)
            build = aside
        shutil.rmtree(build, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------

    def doc_count(self) -> int:
        ix = self._open()
        return 0 if ix is None else ix.doc_count()

    def ids(self) -> Iterator[str]:
        ix = self._open()
        if ix is None:
            return
        with ix.reader() as reader:
            for leaf, _offset in reader.leaf_readers():
                column = leaf.column_reader("record_id")
                for docnum in range(leaf.doc_count_all()):
                    if not leaf.is_deleted(docnum):
                        yield column[docnum]

    def stored(self, record_id: str) -> SearchDoc | None:
        """The indexed document of one record, or None."""
        ix = self._open()
        if ix is None:
            return None
        with ix.searcher() as searcher:
            fields = searcher.document(record_id=record_id)
        return None if fields is None else SearchDoc.from_stored(fields)

    def compile(self, text: str) -> wq.Query:
        """The Whoosh query for a query string (QuerySyntaxError if it does not parse)."""
        compiled = _Compiler(text, self.schema).compile(parse_query(text, DEFAULT_FIELD))
        if isinstance(compiled, wq.Not):  # a bare NOT: everything except
            return wq.And([wq.Every(), compiled])
        return compiled

    def _current(self) -> Generation | None:
        """The current generation (search/generation.py), replaced when the index
        changed; the old searcher is closed once no thread is using it."""
        with self._search_lock:
            directory = _identity(self.path)  # a rebuild swaps in another directory
            generation = self._generation
            if generation is not None and not generation.is_current(directory):
                generation.close()
                generation = self._generation = None
            if generation is None:
                ix = self._open()
                if ix is not None:
                    generation = self._generation = Generation(ix.searcher(), directory)
            return generation

    @contextlib.contextmanager
    def _searching(self) -> Iterator[Generation | None]:
        """The current generation with its searcher to this thread alone (one that
        another thread closed while this one waited for it is passed over)."""
        while True:
            generation = self._current()
            if generation is None:
                yield None
                return
            with generation.lock:
                if not generation.closed:
                    yield generation
                    return

    @staticmethod
    def _mask(generation: Generation, latest_only: bool, include_deleted: bool
              ) -> set[int] | None:
        """Document numbers to leave out: old versions and/or tombstones. A mask of
        the few excluded documents is much cheaper than intersecting every query
        with `latest:true`, which nearly every document has."""
        key = (latest_only, include_deleted)
        if key == (False, True):
            return None
        if key not in generation.masks:
            searcher = generation.searcher
            excluded: set[int] = set()
            if latest_only:
                excluded.update(searcher.docs_for_query(wq.Term("latest", False)))
            if not include_deleted:
                excluded.update(searcher.docs_for_query(wq.Term("deleted", True)))
            generation.masks[key] = excluded
        return generation.masks[key]

    def count(self, query: str, *, latest_only: bool = True,
              include_deleted: bool = True) -> int:
        request = SearchRequest(query, latest_only=latest_only, include_deleted=include_deleted)
        compiled = self.compile(query)
        with self._searching() as generation:
            if generation is None:
                return 0
            return self._summary(generation, compiled, request).total

    def matching_ids(self, query: str, *, latest_only: bool = False,
                     include_deleted: bool = True) -> set[str]:
        compiled = self.compile(query)
        with self._searching() as generation:
            if generation is None:
                return set()
            mask = self._mask(generation, latest_only, include_deleted) or set()
            searcher = generation.searcher
            # record_id is a sortable column: reading it avoids loading stored text.
            column = searcher.reader().column_reader("record_id")
            return {
                _text_value(column[docnum])
                for docnum in searcher.docs_for_query(compiled)
                if docnum not in mask
            }

    def search(self, request: SearchRequest) -> SearchPage:
        """One page of results; the same request within one index generation is
        answered from what the first one worked out (search/generation.py)."""
        started = time.perf_counter()
        compiled = self.compile(request.query)  # a syntax error is raised every time
        generation = self._current()
        if generation is None:
            return SearchPage(request, 0, [], {}, time.perf_counter() - started)
        page = generation.pages.get(request)  # no wait behind another thread's query
        if page is None:
            with self._searching() as current:
                if current is None:
                    return SearchPage(request, 0, [], {}, time.perf_counter() - started)
                page = current.pages.get(request) or self._page(current, compiled, request)
                current.pages.put(request, page)
        return dataclasses.replace(  # a copy: callers may change what they are given
            page, hits=list(page.hits), facets={k: dict(v) for k, v in page.facets.items()},
            seconds=time.perf_counter() - started)

    def _page(self, generation: Generation, compiled: wq.Query,
              request: SearchRequest) -> SearchPage:
        start = (request.page - 1) * request.page_size
        results, summary = self._ranked(generation, compiled, request,
                                        start + request.page_size)
        hits = [self._hit(hit, request.snippets)
                for hit in results[start:start + request.page_size]]
        return SearchPage(request, summary.total, hits, summary.facets or {})

    def _ranked(self, generation: Generation, compiled: wq.Query, request: SearchRequest,
                needed: int) -> tuple[Any, Summary]:
        """Whoosh results ranked at least `needed` deep (kept per generation at least
        RANK_DEPTH deep, so the next pages need no second scoring pass) and the
        query's summary. A query seen for the first time is ranked in the same pass
        that notes every match for its exact total and facet counts."""
        summary = self._known_summary(generation, request)
        found = generation.ranked.get(rank_key(request))
        if found is not None and summary is not None:
            limit, results = found
            if needed <= limit or len(results.top_n) < limit:  # deep enough, or all of it
                return results, summary
        limit = max(needed, RANK_DEPTH)
        sortedby = None
        if request.sort != "relevance":
            newest_first = request.sort == "date"
            sortedby = [sorting.FieldFacet("created", reverse=newest_first),
                        sorting.FieldFacet("record_id")]
        # terms=False: with a mask, Whoosh's matched-terms collector miscounts.
        # Snippets highlight the query's terms instead (expanded for * and ~).
        searcher = generation.searcher
        if summary is None and sortedby is None:  # every match must reach the noting
            # collector: no block skipping, no replacing a union's matcher by its parts
            # that can still beat the heap
            ranking = collectors.TopCollector(limit, usequality=False, replace=0)
        else:
            ranking = searcher.collector(limit=limit, sortedby=sortedby)
        noted = _NoteMatches(ranking) if summary is None else None  # only a new query
        if noted is not None:
            ranking = noted
        mask = self._mask(generation, request.latest_only, request.include_deleted)
        top = collectors.FilterCollector(ranking, restrict=mask) if mask else ranking
        searcher.search_with_collector(compiled, top)
        results = top.results()
        results.formatter = MarkFormatter()
        results.fragmenter = highlight.ContextFragmenter(maxchars=SNIPPET_CHARS, surround=60)
        generation.ranked.put(rank_key(request), (limit, results))
        if noted is not None:
            summary = self._summarise(generation, request, noted.docnums)
        assert summary is not None
        return results, summary

    def _known_summary(self, generation: Generation, request: SearchRequest) -> Summary | None:
        summary = generation.summaries.get(summary_key(request))
        if summary is not None and (summary.facets is not None or not request.facets):
            return summary
        return None

    def _summary(self, generation: Generation, compiled: wq.Query,
                 request: SearchRequest) -> Summary:
        """The query's exact total (and facet counts if asked), worked out once per
        generation: both visit every match, whichever page is shown."""
        summary = self._known_summary(generation, request)
        if summary is not None:
            return summary
        mask = self._mask(generation, request.latest_only, request.include_deleted)
        docs = [d for d in generation.searcher.docs_for_query(compiled)
                if not mask or d not in mask]
        return self._summarise(generation, request, docs)

    def _summarise(self, generation: Generation, request: SearchRequest,
                   docs: list[int]) -> Summary:
        counts = None
        if request.facets:
            codes, flags = generation.facets_from(self._facet_columns)
            counts = self._facet_columns.counts(codes, flags, docs)
        summary = Summary(len(docs), counts)
        generation.summaries.put(summary_key(request), summary)
        return summary

    def close(self) -> None:
        with self._search_lock:
            if self._generation is not None:
                self._generation.close()
            self._generation = None

    @staticmethod
    def _hit(hit: Any, snippets: bool) -> SearchHit:
        fields = hit.fields()
        text = fields.get("text", "")
        snippet = ""
        if snippets and text:
            snippet = hit.highlights("text", top=2) or _plain_snippet(text)
        captured = aware_utc(fields["captured"])
        assert captured is not None
        holds = fields.get("holds") or ""
        score = hit.score if isinstance(hit.score, int | float) else 0.0  # a sort key when sorted
        return SearchHit(
            record_id=fields["record_id"], score=float(score),
            platform=fields["platform"], account=fields["account"],
            native_id=fields["native_id"], kind=fields["kind"], version=int(fields["version"]),
            author=fields.get("author", ""), url=fields.get("url", ""),
            created=aware_utc(fields.get("created")), captured=captured,
            edited=bool(fields.get("edited")), deleted=bool(fields.get("deleted")),
            latest=bool(fields.get("latest")),
            holds=tuple(h.strip() for h in holds.split(",") if h.strip()),
            snippet=snippet,
        )


def _plain_snippet(text: str) -> str:
    cut = text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
    return html.escape(cut, quote=True)


class _NoteMatches(collectors.WrappingCollector):
    """Passes every match on to the ranking collector and notes its document
    number (the mask, if any, is applied before): one pass over the matches gives
    the top hits, the exact total and the documents to count facets over."""

    def prepare(self, top_searcher: Any, q: Any, context: Any) -> None:
        super().prepare(top_searcher, q, context)
        self.docnums: list[int] = []

    def collect(self, sub_docnum: int) -> Any:
        self.docnums.append(self.offset + sub_docnum)
        return self.child.collect(sub_docnum)


# -- compiling the query tree to Whoosh ---------------------------------------------------


class _Compiler:
    def __init__(self, text: str, schema: Any) -> None:
        self.text = text
        self.schema = schema

    def fail(self, message: str, node: q.Node) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.text, node.pos)

    def tokens(self, field: str, value: str) -> list[str]:
        analyzer = self.schema[field].analyzer
        return [t.text for t in analyzer(value)]

    def normalise(self, field: str, value: str, node: q.Node) -> list[str]:
        kind = SPECS[field].kind
        if kind == ID:
            return [value.lower() if SPECS[field].lowercase else value]
        words = self.tokens(field, value)
        if not words:
            raise self.fail(f"nothing searchable in {value!r} (punctuation is not indexed)",
                            node)
        return words

    def compile(self, node: q.Node) -> wq.Query:
        if isinstance(node, q.All):
            return wq.Every()
        if isinstance(node, q.And):
            return wq.And([self.compile(c) for c in node.children])
        if isinstance(node, q.Or):
            return wq.Or([self.compile(c) for c in node.children])
        if isinstance(node, q.Not):
            return wq.Not(self.compile(node.child))
        if isinstance(node, q.Boost):
            inner = copy.copy(self.compile(node.child))
            inner.boost = node.factor
            return inner
        if isinstance(node, q.Term):
            return self.term(node)
        if isinstance(node, q.Phrase):
            return self.phrase(node)
        if isinstance(node, q.Pattern):
            return self.pattern(node)
        if isinstance(node, q.Fuzzy):
            return self.fuzzy(node)
        if isinstance(node, q.Range):
            return self.range(node)
        raise AssertionError(f"unknown query node {node!r}")

    def term(self, node: q.Term) -> wq.Query:
        field, kind = node.field, SPECS[node.field].kind
        if kind == BOOL:
            return wq.Term(field, node.text.lower() in q.TRUE_WORDS)
        if kind == INT:
            return wq.NumericRange(field, int(node.text), int(node.text))
        if kind == DATE:
            start, end = date_period(node.text)
            return wq.DateRange(field, start, end)
        words = self.normalise(field, node.text, node)
        if len(words) == 1:
            return wq.Term(field, words[0])
        if kind == TEXT:  # "covid-19" is the phrase covid 19
            return wq.Phrase(field, words)
        return wq.And([wq.Term(field, w) for w in words])

    def phrase(self, node: q.Phrase) -> wq.Query:
        field, kind = node.field, SPECS[node.field].kind
        if kind in (ID, KEYWORD):
            value = node.text.strip()
            if kind == KEYWORD:
                words = self.normalise(field, value, node)
                return wq.Term(field, words[0]) if len(words) == 1 else wq.And(
                    [wq.Term(field, w) for w in words])
            return wq.Term(field, self.normalise(field, value, node)[0])
        words = self.normalise(field, node.text, node)
        if len(words) == 1:
            return wq.Term(field, words[0])
        return wq.Phrase(field, words, slop=node.slop)

    def _pattern_text(self, field: str, text: str) -> str:
        spec = SPECS[field]
        if spec.lowercase:
            text = text.lower()
        if field == "hashtags":
            text = text.lstrip("#")
        elif field == "mentions":
            text = text.lstrip("@")
        return text

    def pattern(self, node: q.Pattern) -> wq.Query:
        text = self._pattern_text(node.field, node.text)
        body = text[:-1]
        if text.endswith("*") and body and "*" not in body and "?" not in body:
            return CappedPrefix(node.field, body, query=self.text, pos=node.pos)
        return CappedWildcard(node.field, text, query=self.text, pos=node.pos)

    def fuzzy(self, node: q.Fuzzy) -> wq.Query:
        if SPECS[node.field].kind == TEXT:
            words = self.normalise(node.field, node.text, node)
            if len(words) != 1:
                raise self.fail(f"fuzzy (~) needs a single word, {node.text!r} is {len(words)}",
                                node)
            text = words[0]
        else:
            text = self._pattern_text(node.field, node.text)
        if node.maxdist == 0:
            return wq.Term(node.field, text)
        return FuzzyTerms(node.field, text, node.maxdist, node.prefix)

    def range(self, node: q.Range) -> wq.Query:
        field = node.field
        if SPECS[field].kind == INT:
            low = None if node.low is None else int(node.low)
            high = None if node.high is None else int(node.high)
            return wq.NumericRange(field, low, high, startexcl=not node.low_inclusive,
                                   endexcl=not node.high_inclusive)
        tick = timedelta(microseconds=1)
        start = end = None
        if node.low is not None:
            first, last = date_period(node.low)
            start = first if node.low_inclusive else last + tick
        if node.high is not None:
            first, last = date_period(node.high)
            end = last if node.high_inclusive else first - tick
        return wq.DateRange(field, start, end)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


MAX_EXPANSION = 20_000


def _capped(terms: Iterator[bytes], query: str, pos: int, field: str) -> Iterator[bytes]:
    """Stop a pattern that matches too many distinct values: Whoosh opens a posting
    list per value (a leading * over a million links took minutes and gigabytes),
    and a silently truncated expansion would return a partial answer."""
    for count, term in enumerate(terms, 1):
        if count > MAX_EXPANSION:
            raise _too_many(query, pos, field)
        yield term


def _too_many(query: str, pos: int, field: str) -> QuerySyntaxError:
    return QuerySyntaxError(
        f"this pattern matches more than {MAX_EXPANSION:,} different {field} values; "
        "make it narrower (fewer leading wildcards, more fixed characters)", query, pos)


_EXPANSIONS: weakref.WeakKeyDictionary[Any, dict[str, list[bytes]]] = (
    weakref.WeakKeyDictionary())
_EXPANSIONS_LOCK = threading.Lock()
MAX_EXPANSIONS_PER_READER = 1000


class ExpandedOnce(wq.MultiTerm):
    """A pattern expanded once per index reader, for as long as the reader lives.
    Highlighting asks for the query's terms again for every hit, and Whoosh
    walks the lexicon each time (20 snippets of a fuzzy query cost seconds);
    the query is also copied on its way to the matchers, so the memo is kept by
    reader and pattern, not on the query object."""

    def _btexts(self, ixreader: Any) -> Iterator[bytes]:
        key = repr(self)
        with _EXPANSIONS_LOCK:
            known = _EXPANSIONS.setdefault(ixreader, {})
            terms = known.get(key)
        if terms is None:
            leaves = ixreader.leaf_readers()
            if len(leaves) > 1:  # a multi-segment lexicon is its segments' together
                terms = sorted(set().union(*(self._btexts(leaf) for leaf, _ in leaves)))
                self._refuse_if_too_many(len(terms))
            else:
                terms = list(self._expand(ixreader))
            with _EXPANSIONS_LOCK:
                if len(known) >= MAX_EXPANSIONS_PER_READER:
                    known.clear()
                known[key] = terms
        return iter(terms)

    def _expand(self, ixreader: Any) -> Iterator[bytes]:
        raise NotImplementedError

    def _refuse_if_too_many(self, count: int) -> None:
        """Patterns with a cap on their expansion say so here."""


class _CappedPattern(ExpandedOnce):
    """A Whoosh pattern query (prefix, wildcard) refused when it expands too far."""

    def __init__(self, fieldname: str, text: str, *, query: str = "", pos: int = 0) -> None:
        super().__init__(fieldname, text)  # type: ignore[call-arg]
        self.query_text, self.pos = query, pos

    def _expand(self, ixreader: Any) -> Iterator[bytes]:
        pattern_terms = super(ExpandedOnce, self)._btexts(ixreader)  # the Whoosh class's own
        return _capped(pattern_terms, self.query_text, self.pos, self.fieldname)

    def _refuse_if_too_many(self, count: int) -> None:
        if count > MAX_EXPANSION:
            raise _too_many(self.query_text, self.pos, self.fieldname)


class CappedPrefix(_CappedPattern, wq.Prefix):
    pass


class CappedWildcard(_CappedPattern, wq.Wildcard):
    pass


class FuzzyTerms(ExpandedOnce):
    """Terms within `maxdist` Levenshtein edits of `text`, the first `prefix`
    characters equal. Whoosh's FuzzyTerm builds a Levenshtein automaton per segment
    in pure Python (over a second per query on a few segments); filtering the
    merged lexicon by length and running a bounded edit distance is far cheaper."""

    def __init__(self, fieldname: str, text: str, maxdist: int = 1, prefix: int = 0,
                 boost: float = 1.0) -> None:
        self.fieldname = fieldname
        self.text = text
        self.maxdist = maxdist
        self.prefixlength = prefix
        self.boost = boost
        self.constantscore = False

    def __repr__(self) -> str:
        return f"FuzzyTerms({self.fieldname!r}, {self.text!r}, {self.maxdist}, {self.prefixlength})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, FuzzyTerms) and (self.fieldname, self.text, self.maxdist,
                self.prefixlength, self.boost) == (other.fieldname, other.text, other.maxdist,
                                                   other.prefixlength, other.boost))

    def __hash__(self) -> int:
        return hash((self.fieldname, self.text, self.maxdist, self.prefixlength, self.boost))

    def _expand(self, ixreader: Any) -> Iterator[bytes]:
        field = ixreader.schema[self.fieldname]
        head, tail = self.text[: self.prefixlength], self.text[self.prefixlength:]
        shortest, longest = len(self.text) - self.maxdist, len(self.text) + self.maxdist
        for btext in ixreader.expand_prefix(self.fieldname, head):
            word = field.from_bytes(btext)
            if shortest <= len(word) <= longest and within(word[len(head):], tail,
                                                           self.maxdist):
                yield btext


def within(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance(a, b) <= limit, giving up as soon as a row exceeds it."""
    if abs(len(a) - len(b)) > limit:
        return False
    if limit == 1:  # `term~1`, the usual case: string operations instead of the table
        return _one_edit_apart(a, b)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        best = i
        for j, cb in enumerate(b, 1):
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            current.append(value)
            best = min(best, value)
        if best > limit:
            return False
        previous = current
    return previous[-1] <= limit


def _one_edit_apart(a: str, b: str) -> bool:
    """At most one substitution, insertion or deletion turns a into b (their
    lengths differ by one at most)."""
    if len(a) == len(b):
        return sum(map(operator.ne, a, b)) <= 1
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    same = len(os.path.commonprefix((shorter, longer)))
    return shorter[same:] == longer[same + 1:]


# -- the atomic swap ----------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        log.info("renameat2 exchange unavailable (errno %d)", ctypes.get_errno())
        return False
    return True


def _text_value(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
