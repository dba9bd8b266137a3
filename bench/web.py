"""Web app benchmark: search page latency with concurrent users against the real
`archiver serve` (its own process, as in production) on 127.0.0.1. Prints
figures; asserts nothing timed.

Target (web app issue): search page p95 <= 300 ms with 20 concurrent users on a
100,000-record archive.

It builds (or reuses, with --dir) an archive of N synthetic posts whose words
follow a Zipf distribution (a few very common words, a long tail), indexes them,
adds an officer, starts `archiver serve` in a child process (werkzeug's
threaded server, or waitress if installed and asked for: the clients here must
not share the server's interpreter lock), signs in one session per user thread
and has each thread fetch search pages (the page a person sees: facets on, 20
hits, snippets, the audit event), with queries drawn from a mix of common and
selective ones: back to back (a stress test: every user always waiting), or
with --think, pausing to read each page as a person does. Also times
single-user search, record pages and the JSON API.

Run: python -m bench.web --records 20000                                (quick)
     python -m bench.web --records 100000 --dir /tmp/web100k --think 2-8  (the figure)
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.item import CaptureContext, CapturedItem
from archiver.setup import initialise
from archiver.users import UserService
from bench.common import machine_line
from bench.search import vocabulary
from config.settings import Settings
from storage.catalogue.models import records

CAPTURE = CaptureContext("bench", "0", "https://bench.example/api/v1/accounts/1/statuses")
PASSWORD = "bench password long enough"
QUERY_MIX = [
    "loan",  # common: tens of thousands of hits, exact totals and facets visit them all
    "fraud AND warning",
    '"interest rate"',
    "secur*",
    "morgage~1",
    "account:@acct17@bench.example",
    "created:[2022-03-01 TO 2022-03-31]",
    "compliance AND created:2023-06",
    "(holiday OR hours) AND branch",
    "kind:reply AND policy",
    "quarterly results",
    "investment NOT fund",
]


def zipf_posts(count: int, accounts: int = 50, seed: int = 5) -> Iterator[CapturedItem]:
    """Posts of 15-45 words drawn from a Zipf (s = 1.1) distribution over 6,000 words."""
    rng = random.Random(seed)
    words = vocabulary()
    weights = [1 / (rank ** 1.1) for rank in range(1, len(words) + 1)]
    start = datetime(2021, 1, 1, tzinfo=UTC)
    step = max(1, (4 * 365 * 24 * 60) // max(count, 1))  # spread over four years
    for n in range(count):
        text = " ".join(rng.choices(words, weights, k=rng.randint(15, 45)))
        created = (start + timedelta(minutes=n * step)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        account = f"@acct{n % accounts}@bench.example"
        kind = "reply" if n % 5 == 0 else "post"
        content = {"text": text, "author": account, "created_at": created,
                   "url": f"https://bench.example/@a/{n}"}
        if kind == "reply":
            content.update(in_reply_to=str(n - 1), thread_id=str(n - 1))
        raw = {"id": str(n), "created_at": created, "content": f"<p>{text}</p>"}
        yield CapturedItem("mastodon", account, str(n), kind, content, raw, CAPTURE)


def build(root: Path, count: int) -> Archive:
    settings = Settings.model_validate({"archive": {"dir": str(root / "archive")}})
    initialise(settings)
    archive = Archive.open(settings, actor="bench")
    with archive.engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(records)).scalar_one()
    if have < count:
        started = time.perf_counter()
        posts = zipf_posts(count)
        for _ in range(have):
            next(posts)
        archive.ingest(posts)
        print(f"ingested {count - have:,} records in {time.perf_counter() - started:.0f} s")
    lag = archive.search.lag()
    if lag:
        started = time.perf_counter()
        run = archive.search.index_pending(batch_size=20_000)
        print(f"indexed {run.indexed:,} records in {time.perf_counter() - started:.0f} s")
    archive.checkpoint()
    users = UserService(archive)
    if "officer" not in {u["username"] for u in users.list_users()}:
        users.add("officer", "officer", PASSWORD)
    return archive


def serve(root: Path, server_name: str, threads: int) -> tuple[str, subprocess.Popen[bytes]]:
    """`archiver serve` on a free loopback port, in its own process."""
    config = root / "archiver.toml"
    config.write_text(f'[archive]\ndir = "{root / "archive"}"\n', encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "archiver.cli", "--config", str(config), "serve",
         "--port", str(port), "--insecure-cookies", "--server", server_name,
         "--threads", str(threads)],
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/login", timeout=5)
            return base, server
        except requests.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("archiver serve did not start") from None
            time.sleep(0.2)


def signed_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    done = session.post(f"{base}/login", data={"username": "officer", "password": PASSWORD,
                                               "csrf_token": token.group(1)},
                        allow_redirects=False, timeout=30)
    assert done.status_code == 302, done.text
    return session


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def report(label: str, times: list[float], seconds: float | None = None) -> None:
    ms = [t * 1000 for t in times]
    rate = f", {len(ms) / seconds:.1f} req/s" if seconds else ""
    print(f"{label}: n={len(ms)} p50 {percentile(ms, 0.5):.0f} ms, p95 "
          f"{percentile(ms, 0.95):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, "
          f"mean {statistics.mean(ms):.0f} ms{rate}")


def sequential(session: requests.Session, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        started = time.perf_counter()
        response = session.get(url, timeout=120)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return times


Pick = Callable[[random.Random], tuple[str, str]]  # -> (what to report it under, query)


def from_mix(rng: random.Random) -> tuple[str, str]:
    query = rng.choice(QUERY_MIX)
    return query, query


def fresh_query(rng: random.Random) -> tuple[str, str]:
    """A query nobody asked before (most likely): every operator of the language
    over the archive's own words, so each search is worked out from scratch."""
    words = vocabulary()[:2000]
    one, two = rng.choice(words), rng.choice(words)
    month = f"{rng.randint(2021, 2024)}-{rng.randint(1, 12):02d}"
    kinds = {
        "word": one,
        "AND": f"{one} AND {two}",
        "OR": f"{one} OR {two}",
        "phrase": f'"{one} {two}"',
        "prefix": f"{one[:3]}*",
        "fuzzy": f"{one}~1",
        "date": f"{one} AND created:{month}",
        "account": f"account:@acct{rng.randrange(50)}@bench.example AND {one}",
    }
    kind = rng.choice(sorted(kinds))
    return kind, kinds[kind]


def concurrent(base: str, users: int, per_user: int, think: tuple[float, float] = (0.0, 0.0),
               pick: Pick = from_mix, seed: int = 1,
               ) -> tuple[list[float], float, dict[str, list[float]]]:
    """Each user fetches `per_user` search pages, pausing a random `think` seconds
    (low, high) after each: the time a person reads the results."""
    sessions = [signed_in(base) for _ in range(users)]
    times: list[float] = []
    by_query: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(users)

    def user(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        session = sessions[number]
        barrier.wait()
        for _ in range(per_user):
            label, query = pick(rng)
            page = rng.choice((1, 1, 1, 2, 3))
            started = time.perf_counter()
            response = session.get(f"{base}/search", params={"q": query, "page": str(page)},
                                   timeout=120)
            took = time.perf_counter() - started
            with lock:
                if response.status_code != 200:
                    errors.append(f"{query}: {response.status_code}")
                times.append(took)
                by_query[label].append(took)
            time.sleep(rng.uniform(*think))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"  {len(errors)} errors, e.g. {errors[:3]}")
    return times, elapsed, by_query


def think_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20, help="concurrent users")
    parser.add_argument("--requests", type=int, default=15, help="search pages per user")
    parser.add_argument("--think", type=think_range, default=(0.0, 0.0), metavar="LOW-HIGH",
                        help="seconds each user reads a page before the next, e.g. 2-8 "
                             "(default 0: back to back, a stress test)")
    parser.add_argument("--fresh", action="store_true",
                        help="users ask queries nobody asked before (every operator, the "
                             "archive's own words) instead of the fixed mix")
    parser.add_argument("--dir", type=Path, help="archive folder to build once and reuse")
    parser.add_argument("--server", choices=["werkzeug", "waitress"], default="werkzeug")
    parser.add_argument("--threads", type=int, default=32, help="waitress threads")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="archiver-bench-web-"))
    root.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    build(root, args.records).close()
    base, server = serve(root, args.server, args.threads)
    how = f"{args.threads} threads" if args.server == "waitress" else "threaded"
    print(f"serving {args.records:,} records at {base} ({args.server}, {how})")
    try:
        one = signed_in(base)
        sequential(one, [f"{base}/search?q=loan"] * 3)  # warm the searcher and its masks
        urls = [f"{base}/search?q={requests.utils.quote(q)}" for q in QUERY_MIX]
        report("search page, 1 user", sequential(one, urls * 3))
        report("search page, 1 user, no facets",
               sequential(one, [u + "&facets=0" for u in urls] * 3))
        report("API search, 1 user", sequential(one, [
            f"{base}/api/v1/search?q={requests.utils.quote(q)}" for q in QUERY_MIX] * 3))
        ids = re.findall(r'/records/([0-9a-f]{64})"', one.get(f"{base}/search?q=loan").text)
        report("record page, 1 user", sequential(one, [f"{base}/records/{r}" for r in ids]))
        pick, asked = ((fresh_query, "new queries") if args.fresh
                       else (from_mix, f"the {len(QUERY_MIX)} queries above"))
        times, elapsed, by_query = concurrent(base, args.users, args.requests, args.think, pick)
        pause = ("back to back" if args.think == (0.0, 0.0)
                 else f"reading {args.think[0]:g}-{args.think[1]:g} s between pages")
        report(f"search page, {args.users} concurrent users ({asked}, {pause})", times, elapsed)
        for query, took in sorted(by_query.items(), key=lambda kv: -statistics.mean(kv[1] or [0])):
            if took:
                print(f"  {query!r}: mean {statistics.mean(took) * 1000:.0f} ms over {len(took)}")
        print("target: search page p95 <= 300 ms with 20 concurrent users at 100,000 records")
    finally:
        server.terminate()
        server.wait(30)
    if not args.dir:
        print(f"(archive left in {root}; remove it, or pass --dir to reuse it)")


if __name__ == "__main__":
    main()
