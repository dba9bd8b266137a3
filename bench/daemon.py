"""The capture daemon under load: one daemon, N accounts on fake Mastodon servers,
M new posts per account per cycle; per cycle the wall time, CPU time and resident
memory of the daemon's process (target: RSS steady at <= 200 MB, no growth).

The fake servers run in a child process, so their memory (every status ever
posted) and CPU are not counted as the daemon's. Each cycle posts the new
statuses, then brings every account's capture job forward to now in the job
store (as `archiver schedule resume` does) and waits until every run has logged
its line. The daemon is the real one: APScheduler, its job store in the
catalogue, the worker pool, leases, account health, local store + SQLite.

Run: python -m bench.daemon [--accounts 200 --posts 50 --cycles 50 --workers 4]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import statistics
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from archiver.capture.accounts import AccountService
from archiver.daemon import Daemon
from archiver.daemon.logs import EVENT_LOGGER
from bench.common import fresh_archive, machine_line

TOKEN = "bench-daemon-token"
TOKEN_ENV = "BENCH_DAEMON_TOKEN"
ORG_ID = "109440137734600341"  # the fake's organisation account (saves a request per run)


def serve_platform(conn: Connection, accounts: int) -> None:
    """The child process: `accounts` fake Mastodon instances, posting on request."""
    from tests.fakes.mastodon import FakeMastodon
    from tests.fakes.server import FakeServer

    fakes = [FakeMastodon(FakeServer().start(), TOKEN) for _ in range(accounts)]
    conn.send([fake.server.url for fake in fakes])
    serial = 0
    while True:
        command, argument = conn.recv()
        if command == "post":
            for fake in fakes:
                for _ in range(argument):
                    serial += 1
                    fake.post_status(
                        f"<p>Statement {serial}: our rates and branch hours, "
                        f"see members.example/{serial}</p>"
                    )
            conn.send("posted")
        else:
            break
    for fake in fakes:
        fake.server.stop()
    conn.send("stopped")


def rss_mb() -> float:
    """Resident set size now (not the peak), in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RunCounter(logging.Handler):
    """Counts the daemon's one-line-per-run events."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self.failed = 0
        self.records = 0
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) != "run":
            return
        fields: dict[str, Any] = getattr(record, "fields", {})
        with self.changed:
            self.count += 1
            self.records += int(fields.get("new", 0))
            if fields.get("status") not in ("ok", "partial"):
                self.failed += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count >= count, timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--posts", type=int, default=50, help="new posts per account per cycle")
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--index", action="store_true", help="also run the index catch-up job")
    parser.add_argument("--every", type=int, default=5, help="print every Nth cycle")
    args = parser.parse_args()
    print(machine_line())
    logging.basicConfig(level=logging.WARNING)

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    platform = context.Process(target=serve_platform, args=(theirs, args.accounts), daemon=True)
    platform.start()
    urls: list[str] = ours.recv()

    os.environ[TOKEN_ENV] = TOKEN
    archive = fresh_archive()
    archive.settings.daemon = archive.settings.daemon.model_copy(
        update={
            "workers": args.workers,
            "capture_interval": 86400.0,  # the bench starts each cycle itself
            "capture_jitter": 0.0,
            "reconcile_interval": 0.0,
            "index_interval": 5.0 if args.index else 86400.0,
        }
    )
    service = AccountService(archive.engine, archive.clock)
    accounts = [
        service.add(
            "mastodon",
            f"@org{n}@bench.test",
            {"base_url": url, "token_env": TOKEN_ENV, "account_id": ORG_ID},
        )
        for n, url in enumerate(urls)
    ]
    counter = RunCounter()
    events = logging.getLogger(EVENT_LOGGER)
    events.addHandler(counter)
    events.setLevel(logging.INFO)
    events.propagate = False
    daemon = Daemon(archive, holder="bench")
    daemon.start()
    assert daemon.scheduler is not None
    # The first capture of each account (the fake's recorded statuses) is cycle 0.
    counter.wait_for(len(accounts), timeout=600)
    print(f"daemon: {len(accounts)} accounts, {args.workers} workers, archive at "
          f"{Path(archive.settings.archive_dir)}; first capture done, RSS {rss_mb():.0f} MB")

    cycles: list[dict[str, float]] = []
    for cycle in range(1, args.cycles + 1):
        ours.send(("post", args.posts))
        ours.recv()
        done_before, records_before = counter.count, counter.records
        cpu_before, started = cpu_seconds(), time.perf_counter()
        now = datetime.now(UTC)
        for account in accounts:
            daemon.scheduler.modify_job(f"capture:{account.id}", jobstore="default",
                                        next_run_time=now)
        daemon.scheduler.wakeup()
        if not counter.wait_for(done_before + len(accounts), timeout=1800):
            raise SystemExit(f"cycle {cycle}: runs did not finish in 30 minutes")
        seconds = time.perf_counter() - started
        figures = {
            "cycle": cycle,
            "seconds": seconds,
            "cpu": cpu_seconds() - cpu_before,
            "rss": rss_mb(),
            "records": counter.records - records_before,
        }
        cycles.append(figures)
        if cycle % args.every == 0 or cycle in (1, args.cycles):
            print(
                f"cycle {cycle:3d}: {seconds:6.2f} s, CPU {figures['cpu']:6.2f} s, "
                f"{figures['records'] / seconds:7,.0f} records/s, RSS {figures['rss']:6.1f} MB"
            )
    failed = counter.failed
    graceful = daemon.shutdown(timeout=60)
    ours.send(("stop", None))
    ours.recv()
    platform.join(timeout=10)
    archive.close()

    times = [c["seconds"] for c in cycles]
    rss = [c["rss"] for c in cycles]
    half = len(cycles) // 2 or 1
    first, last = cycles[:5], cycles[-5:]
    print(
        f"cycle time: median {statistics.median(times):.2f} s, first 5 "
        f"{statistics.mean(c['seconds'] for c in first):.2f} s, last 5 "
        f"{statistics.mean(c['seconds'] for c in last):.2f} s; CPU per cycle median "
        f"{statistics.median(c['cpu'] for c in cycles):.2f} s"
    )
    print(
        f"RSS: cycle 1 {rss[0]:.1f} MB, cycle {half} {rss[half - 1]:.1f} MB, last "
        f"{rss[-1]:.1f} MB, max {max(rss):.1f} MB; growth over the second half "
        f"{rss[-1] - rss[half - 1]:+.1f} MB"
    )
    total = sum(c["records"] for c in cycles)
    print(f"records: {total} in {len(cycles)} cycles; failed runs {failed}; "
          f"shutdown graceful: {graceful}")
    print(machine_line())


if __name__ == "__main__":
    main()
