"""Legal holds and disposition at scale (issue 6).

Places a hold over N matching records and disposes N expired records, on the
local store and on S3 (moto's server over HTTP on 127.0.0.1). Prints records/s.
moto answers a few hundred requests a second, so the S3 run defaults to fewer
records (--s3-records); its rate, not its total, is the figure.
Run: python -m bench.holds [--records 100000 --s3-records 5000]
"""

from __future__ import annotations

import argparse
import time
from itertools import islice

from archiver.archive import Archive
from archiver.disposition import DispositionService
from archiver.holds import HoldService, Scope
from archiver.setup import initialise
from bench.common import fresh_archive, machine_line, peak_rss_mb, synthetic_posts
from config.settings import RetentionSettings


def fill(archive: Archive, count: int) -> None:
    posts = synthetic_posts(count)
    while chunk := list(islice(posts, 5000)):
        archive.ingest(chunk, audit=False)
    started = time.perf_counter()
    archive.search.index_pending()
    print(f"  indexed {count} records in {time.perf_counter() - started:.1f} s; "
          f"peak RSS so far {peak_rss_mb():.0f} MB")


def measure(label: str, archive: Archive, count: int) -> None:
    fill(archive, count)
    holds = HoldService(archive)
    started = time.perf_counter()
    report = holds.create("bench-matter", Scope("platform:mastodon"), "benchmark")
    seconds = time.perf_counter() - started
    print(f"{label}: hold over {report.records} records in {seconds:.1f} s = "
          f"{report.records / seconds:,.0f} records/s; peak RSS so far {peak_rss_mb():.0f} MB")
    holds.release("bench-matter", "benchmark done")
    started = time.perf_counter()
    run = archive.search.index_pending()  # disposal would do it first: timed apart
    print(f"{label}: the index learns of the release ({run.indexed} records re-indexed) in "
          f"{time.perf_counter() - started:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB")
    started = time.perf_counter()
    result = DispositionService(archive).dispose()
    seconds = time.perf_counter() - started
    disposed = len(result.plan.records)
    print(f"{label}: disposed {disposed} expired records in {seconds:.1f} s = "
          f"{disposed / seconds:,.0f} records/s; peak RSS {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="local store; 0 to skip")
    parser.add_argument("--s3-records", type=int, default=5_000)
    args = parser.parse_args()
    print(machine_line())
    local = fresh_archive(retention={"default_period": "0d"})  # expired at once
    if args.records:
        measure("local", local, args.records)
    local.close()
    if args.s3_records:
        from tests.support.s3 import moto_s3_server, s3_settings

        with moto_s3_server() as endpoint:
            settings = s3_settings(endpoint, local.settings.archive_dir.parent / "s3")
            settings.retention = RetentionSettings(default_period="0d")
            initialise(settings)
            remote = Archive.open(settings, actor="bench")
            measure("s3 (moto)", remote, args.s3_records)
            remote.close()
    print(machine_line())


if __name__ == "__main__":
    main()
