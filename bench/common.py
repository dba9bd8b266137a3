"""Helpers shared by the benchmarks: synthetic posts, peak memory, a fresh archive."""

from __future__ import annotations

import os
import random
import resource
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.item import CaptureContext, CapturedItem
from archiver.setup import initialise
from config.settings import Settings

WORDS = (
    "compliance rate savings branch member loan community workshop market update "
    "announcement policy customer service holiday hours mortgage credit account app "
    "security alert fraud warning investment fund report quarterly results"
).split()
CAPTURE = CaptureContext("bench", "0", "https://bench.example/api/v1/accounts/1/statuses")


def machine_line() -> str:
    """Cores and load, printed with every figure: a loaded machine gives slower figures."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, load average {load}"


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_posts(count: int, accounts: int = 50, seed: int = 7) -> Iterator[CapturedItem]:
    """Posts of about 1 KB each when stored (normalised content plus raw payload)."""
    rng = random.Random(seed)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    for n in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(30))
        created = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        account = f"@acct{n % accounts}@bench.example"
        raw = {
            "id": str(n),
            "created_at": created,
            "content": f"<p>{text}</p>",
            "visibility": "public",
            "favourites_count": rng.randint(0, 99),
            "account": {"id": str(n % accounts), "acct": account},
        }
        content = {
            "text": text,
            "author": account,
            "created_at": created,
            "url": f"https://bench.example/@a/{n}",
        }
        yield CapturedItem("mastodon", account, str(n), "post", content, raw, CAPTURE)


def fresh_archive(root: Path | None = None, **sections: Any) -> Archive:
    root = root or Path(tempfile.mkdtemp(prefix="archiver-bench-"))
    settings = Settings(archive={"dir": str(root / "archive")}, **sections)
    initialise(settings)
    return Archive.open(settings, actor="bench")
