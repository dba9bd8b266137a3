"""Capture end to end from fake Mastodon servers: N accounts x M statuses each.

Target (issue 3): >= 2,000 records/s on 2 cores, printed beside the fake
servers' own ceiling (the same pages fetched with plain requests, no archive).
The fakes are tests/fakes/mastodon.py: real HTTP servers replaying real payloads.
Run: python -m bench.capture [--accounts 10 --statuses 2000]
"""

from __future__ import annotations

import argparse
import os
import time

import requests

from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from bench.common import fresh_archive, machine_line, peak_rss_mb
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer

TOKEN = "bench-token"


def build_instances(accounts: int, statuses: int) -> list[tuple[FakeServer, FakeMastodon]]:
    instances = []
    for _ in range(accounts):
        server = FakeServer().__enter__()
        fake = FakeMastodon(server, TOKEN)
        for n in range(statuses):
            fake.post_status(f"<p>Statement {n}: our rates and hours, see members.example/{n}</p>")
        instances.append((server, fake))
    return instances


def server_ceiling(instances: list[tuple[FakeServer, FakeMastodon]]) -> tuple[float, int]:
    """Statuses per second when the same pages are fetched with nothing else to do."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    fetched, started = 0, time.perf_counter()
    for server, fake in instances:
        url = f"{server.url}/api/v1/accounts/{fake.org['id']}/statuses"
        params: dict[str, str] = {"limit": "40"}
        while True:
            response = session.get(url, params=params)
            page = response.json()
            fetched += len(page)
            following = response.links.get("next")
            if not page or not following:
                break
            params = {"limit": "40", "max_id": following["url"].split("max_id=")[1].split("&")[0]}
    return fetched / (time.perf_counter() - started), fetched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--statuses", type=int, default=2000)
    args = parser.parse_args()
    print(machine_line())
    instances = build_instances(args.accounts, args.statuses)
    ceiling, fetched = server_ceiling(instances)
    print(f"fake servers' ceiling: {ceiling:,.0f} statuses/s ({fetched} statuses, plain requests)")

    archive = fresh_archive()
    os.environ["BENCH_MASTODON_TOKEN"] = TOKEN
    service = AccountService(archive.engine, archive.clock)
    accounts = [
        service.add("mastodon", f"@org{n}@bench.test",
                    {"base_url": server.url, "token_env": "BENCH_MASTODON_TOKEN"})
        for n, (server, _) in enumerate(instances)
    ]
    runner = CaptureRunner(archive)
    started = time.perf_counter()
    archived = 0
    for account in accounts:
        summary = runner.run(account, reconcile=False)
        assert summary.status == "ok", summary.errors
        archived += summary.counts["new"]
    seconds = time.perf_counter() - started
    print(f"capture: {archived} records from {len(accounts)} accounts in {seconds:.1f} s = "
          f"{archived / seconds:,.0f} records/s end to end ({archived / seconds / ceiling:.0%} "
          f"of the servers' ceiling); peak RSS {peak_rss_mb():.0f} MB")

    started = time.perf_counter()
    summary = runner.run(accounts[0])
    seconds = time.perf_counter() - started
    checked = summary.counts["unchanged"]
    print(f"reconcile (one account, every status re-fetched one by one): {checked} items in "
          f"{seconds:.1f} s = {checked / seconds:,.0f} items/s")
    print(machine_line())
    for server, _ in instances:
        server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
