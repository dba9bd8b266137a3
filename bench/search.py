"""Search benchmark: indexing rate (ours beside raw Whoosh on the same documents),
query latency, index size and peak memory. Prints figures; asserts nothing timed.

Targets (search issue): >= 1,500 docs/s on 2 cores and >= 0.75 of raw Whoosh's
rate; at 1M records p50 <= 20 ms and p95 <= 150 ms over a mix of 20 queries;
peak RSS while indexing <= 500 MB.

The indexing comparison feeds SearchDocs built directly (not read through the
object store) to WhooshIndex.add in batches, and the same documents' field dicts
to a plain Whoosh writer with the same schema and writer options. --pipeline N
also measures the whole path (archive.ingest, then the queue drain reading each
record from the object store) on N posts.

Run: python -m bench.search --records 20000          (quick)
     python -m bench.search --records 1000000        (the full figure)
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from whoosh import index as whoosh_index

from bench.common import fresh_archive, machine_line, peak_rss_mb, synthetic_posts
from search.documents import SearchDoc
from search.index import SearchRequest
from search.query import QuerySyntaxError
from search.schema import build_schema
from search.whoosh_index import WhooshIndex

PLATFORMS = ("mastodon", "bluesky", "x")
START = datetime(2021, 1, 1, tzinfo=UTC)
FIVE_YEARS = 5 * 365 * 86400
TAGS = [f"tag{n}" for n in range(300)] + ["fraud", "rates", "savings", "promo"]
QUERY_MIX = [
    "loan",
    "fraud AND warning",
    "mortgage OR credit",
    '"interest rate"',
    '"savings account"~5',
    "secur*",
    "morgage~1",
    "hashtags:fraud",
    "account:@acct17@x.example",
    "platform:bluesky AND loan",
    "created:[2023-01-01 TO 2023-03-31]",
    "created:[2024-06-01 TO 2024-06-30] AND customer",
    "loan AND NOT fraud",
    "(holiday OR hours) AND branch",
    "kind:reply AND policy",
    "edited:true AND rate",
    "deleted:true",
    "mentions:member1@x.example",
    "compliance^3 OR report",
    "urls:*example.org*",
]


def vocabulary(size: int = 6000, seed: int = 3) -> list[str]:
    """Real-ish words first (so queries hit), then made-up ones for a long tail."""
    rng = random.Random(seed)
    base = ("compliance rate savings branch member loan community workshop market update "
            "announcement policy customer service holiday hours mortgage credit account app "
            "security alert fraud warning investment fund report quarterly results interest "
            "the a of to and in for is on with our your we you new today now more").split()
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
            for _ in range(size * 2)}
    return base + sorted(made)[: size - len(base)]


def synthetic_docs(count: int, seed: int = 11) -> Iterator[SearchDoc]:
    """Posts of realistic length (5-60 words, Zipf-ish vocabulary), 500 accounts,
    3 platforms, 5 years of dates; 5% are edits of an earlier post (demotions)."""
    rng = random.Random(seed)
    words = vocabulary()
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    recent: list[tuple[str, int]] = []
    for n in range(count):
        length = max(5, min(60, int(rng.lognormvariate(3.0, 0.5))))
        text = " ".join(rng.choices(words, cum_weights=cumulative, k=length))
        account_no = rng.randrange(500)
        platform = PLATFORMS[account_no % 3]
        created = START + timedelta(seconds=rng.randrange(FIVE_YEARS))
        prev, version, native = None, 1, str(n)
        if recent and rng.random() < 0.05:
            prev, version = recent[rng.randrange(len(recent))]
            native = f"e{n}"
        record_id = f"{n:064x}"
        recent.append((record_id, version + 1))
        if len(recent) > 5000:
            recent.pop(0)
        yield SearchDoc(
            record_id=record_id, prev_record_id=prev, platform=platform,
            account=f"@acct{account_no}@x.example", native_id=native,
            kind="reply" if n % 5 == 0 else "post", version=version if prev is None else 2,
            observation="edited" if prev else "observed",
            captured=created + timedelta(minutes=rng.randrange(1, 600)), text=text,
            author=f"@acct{account_no}@x.example", created=created, edited=prev is not None,
            deleted=n % 97 == 0, has_media=n % 9 == 0,
            hashtags=tuple(rng.sample(TAGS, rng.randint(0, 3))),
            mentions=(f"@member{rng.randrange(50)}@x.example",) if n % 4 == 0 else (),
            urls=("https://example.org/p/" + str(n),) if n % 6 == 0 else (),
            lang="en",
        )


def batches(count: int, size: int) -> Iterator[list[SearchDoc]]:
    docs = synthetic_docs(count)
    while batch := [doc for _, doc in zip(range(size), docs, strict=False)]:
        yield batch


def rss_split_mb() -> str:
    """Resident memory now, split into heap (anonymous) and mapped index files: Whoosh
    reads segments through mmap, and those file pages count in RSS but are page cache
    the kernel can drop, not memory the indexer holds."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return "n/a"
    values = {line.split(":")[0]: int(line.split()[1]) / 1024
              for line in status.splitlines() if line.startswith(("RssAnon", "RssFile"))}
    heap, files = values.get("RssAnon", 0.0), values.get("RssFile", 0.0)
    return f"heap {heap:.0f} MB + mapped files {files:.0f} MB"


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class TimedBatches:
    """The synthetic batches, timing their generation so it can be left out."""

    def __init__(self, count: int, size: int) -> None:
        self.source = batches(count, size)
        self.generating = 0.0

    def __iter__(self) -> Iterator[list[SearchDoc]]:
        while True:
            started = time.perf_counter()
            batch = next(self.source, None)
            self.generating += time.perf_counter() - started
            if batch is None:
                return
            yield batch


def bench_rebuild(root: Path, args: argparse.Namespace) -> tuple[WhooshIndex, float]:
    """The bulk path (`archiver reindex`): one writer, one commit, atomic swap."""
    index = WhooshIndex(root / "ours", procs=args.procs, limitmb=args.limitmb,
                        multisegment=args.multisegment)
    source = TimedBatches(args.records, args.batch)

    def report(done: int) -> None:
        if done % (args.batch * 10) == 0:
            print(f"  rebuild: {done:,} docs, peak RSS {peak_rss_mb():.0f} MB, "
                  f"now {rss_split_mb()}", flush=True)

    started = time.perf_counter()
    index.rebuild(source, report)
    spent = time.perf_counter() - started - source.generating
    rate = args.records / spent
    print(machine_line())
    print(f"ours, rebuild (reindex path): {args.records:,} docs in {spent:.1f} s = "
          f"{rate:,.0f} docs/s (procs={args.procs}, limitmb={args.limitmb}, "
          f"multisegment={args.multisegment}; generating the documents, "
          f"{source.generating:.1f} s, not counted); peak RSS {peak_rss_mb():.0f} MB "
          f"(now {rss_split_mb()}), workers {children_peak_mb():.0f} MB", flush=True)
    return index, rate


def bench_catchup(root: Path, args: argparse.Namespace, count: int) -> float:
    """The queue path (`archiver index`): a commit per batch, predecessors demoted."""
    index = WhooshIndex(root / "catchup", procs=args.procs, limitmb=args.limitmb,
                        multisegment=args.multisegment, parallel_threshold=1)
    spent, done = 0.0, 0
    with index.writing("bench"):
        for batch in batches(count, args.batch):
            started = time.perf_counter()
            index.add(batch)
            spent += time.perf_counter() - started
            done += len(batch)
            print(f"  catch-up: {done:,} docs, {done / spent:,.0f}/s, "
                  f"peak RSS {peak_rss_mb():.0f} MB, now {rss_split_mb()}", flush=True)
    rate = count / spent
    print(f"ours, catch-up (queue path): {count:,} docs in {spent:.1f} s = {rate:,.0f} docs/s "
          f"(a commit per {args.batch:,}, with Whoosh's segment merges)", flush=True)
    index.close()
    shutil.rmtree(index.path, ignore_errors=True)
    return rate


def bench_raw(root: Path, args: argparse.Namespace, count: int) -> float:
    """Plain Whoosh: same schema and writer options, one writer, one commit at the end."""
    path = root / "raw"
    path.mkdir()
    ix = whoosh_index.create_in(str(path), build_schema())
    options = {"limitmb": args.limitmb}
    if args.procs > 1:
        options.update(procs=args.procs, multisegment=args.multisegment)
    writer = ix.writer(**options)
    spent = 0.0
    for batch in batches(count, args.batch):
        fields = [doc.to_fields() for doc in batch]  # prepared outside the timing
        started = time.perf_counter()
        for values in fields:
            writer.add_document(**values)
        spent += time.perf_counter() - started
    started = time.perf_counter()
    writer.commit()
    spent += time.perf_counter() - started
    rate = count / spent
    print(machine_line())
    print(f"raw Whoosh: {count:,} docs in {spent:.1f} s = {rate:,.0f} docs/s "
          f"(one writer, one commit); index {du_mb(path):.0f} MB", flush=True)
    shutil.rmtree(path, ignore_errors=True)
    return rate


def percentiles(timings: list[float]) -> str:
    timings = sorted(timings)
    p95 = timings[math.ceil(len(timings) * 0.95) - 1]  # nearest rank
    return (f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
            f"max {timings[-1]:.1f} ms")


def timed_ms(index: WhooshIndex, request: SearchRequest) -> tuple[float, int]:
    started = time.perf_counter()
    page = index.search(request)
    elapsed = (time.perf_counter() - started) * 1000
    assert page.total >= len(page.hits)
    return elapsed, page.total


def bench_queries(path: Path, repeats: int) -> None:
    """Each round opens the index afresh, as after a commit: a new generation
    with nothing worked out (search/generation.py). One query outside the mix
    first reads the segments and the latest-version mask, which a server does
    once per commit. Then each query of the mix is timed twice: its first answer
    (counted, ranked and highlighted from the index) and its repeat (the same
    request again, answered from what the first worked out)."""
    first: list[float] = []
    repeat: list[float] = []
    slowest: dict[str, float] = {}
    opening: list[float] = []
    refused: dict[str, str] = {}
    for _ in range(repeats):
        index = WhooshIndex(path)
        ms, _total = timed_ms(index, SearchRequest("zzzz"))
        opening.append(ms)
        for query in QUERY_MIX:
            try:
                ms, _total = timed_ms(index, SearchRequest(query))
            except QuerySyntaxError as exc:  # by design: a pattern too wide to expand
                refused[query] = str(exc).splitlines()[0]
                continue
            first.append(ms)
            slowest[query] = max(slowest.get(query, 0.0), ms)
            repeat.append(timed_ms(index, SearchRequest(query))[0])
        index.close()
    print(machine_line())
    print(f"queries:   {repeats} rounds of {len(QUERY_MIX)} queries (page 1 of 20, snippets, "
          f"exact total, latest versions only), each round on a freshly opened index")
    print(f"  first answers:  {percentiles(first)}")
    print(f"  repeats:        {percentiles(repeat)}")
    print(f"  opening the index and its latest-version mask (once per commit): "
          f"{percentiles(opening)}")
    for query, message in refused.items():
        print(f"  refused, not timed: {query}: {message}")
    for query, ms in sorted(slowest.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  slowest first answer: {ms:7.1f} ms  {query}")
    index = WhooshIndex(path)
    timed_ms(index, SearchRequest("zzzz"))
    for query in ("loan", "*", "created:2024"):
        ms, total = timed_ms(index, SearchRequest(query, facets=True))
        print(f"  first answer with facets: {ms:7.1f} ms  {query} ({total:,} matches)")
    index.close()


def bench_pipeline(count: int) -> None:
    archive = fresh_archive()
    archive.ingest(synthetic_posts(count, accounts=500))
    started = time.perf_counter()
    run = archive.search.index_pending()
    seconds = time.perf_counter() - started
    print(f"pipeline:  {run.indexed:,} records through the queue (object store reads, "
          f"catalogue marks) in {seconds:.1f} s = {run.indexed / seconds:,.0f} docs/s")
    shutil.rmtree(archive.settings.archive_dir.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20_000, help="documents per commit")
    parser.add_argument("--procs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--limitmb", type=int, default=48)
    parser.add_argument("--merge-commits", dest="multisegment", action="store_false",
                        help="merge the workers' segments at each commit (Whoosh's default; "
                        "slower); by default each commit keeps them (multisegment)")
    parser.add_argument("--raw-records", type=int, default=None,
                        help="documents for the raw Whoosh run (default: --records)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the query mix")
    parser.add_argument("--catchup", type=int, default=None,
                        help="documents for the per-batch-commit run (default min(records, "
                        "200,000)); 0 to skip")
    parser.add_argument("--pipeline", type=int, default=0,
                        help="also index this many posts through ingest + the queue")
    parser.add_argument("--keep", action="store_true", help="keep the index directory")
    parser.add_argument("--index", type=Path, default=None,
                        help="only time the queries, on this index (one kept with --keep)")
    args = parser.parse_args()
    if args.index is not None:
        bench_queries(args.index, args.repeats)
        return
    root = Path(tempfile.mkdtemp(prefix="archiver-search-bench-"))
    print(f"bench dir: {root}; {machine_line()}", flush=True)
    try:
        index, ours = bench_rebuild(root, args)
        print(f"index:     {du_mb(index.path):,.0f} MB on disk, {index.doc_count():,} documents",
              flush=True)
        index.close()
        bench_queries(index.path, args.repeats)
        raw = bench_raw(root, args, args.raw_records or args.records)
        print(f"ratio:     ours (rebuild) / raw = {ours / raw:.2f} (target >= 0.75); "
              f"ours {ours:,.0f} docs/s (target >= 1,500)", flush=True)
        catchup = args.catchup if args.catchup is not None else min(args.records, 200_000)
        if catchup:
            rate = bench_catchup(root, args, catchup)
            print(f"ratio:     ours (catch-up) / raw = {rate / raw:.2f}", flush=True)
        if args.pipeline:
            bench_pipeline(args.pipeline)
        print(f"peak RSS:  main process {peak_rss_mb():.0f} MB (includes mapped index files), "
              f"largest worker {children_peak_mb():.0f} MB (target <= 500 MB)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
