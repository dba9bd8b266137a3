"""Ingest N synthetic 1 KB posts into the local store + SQLite (no index), then verify.

Targets (issue 2): ingest >= 5,000 records/s with peak RSS <= 200 MB;
verify >= 20,000 records/s. Run: python -m bench.ingest [--records 100000]
"""

from __future__ import annotations

import argparse
import time
from itertools import islice

from bench.common import fresh_archive, machine_line, peak_rss_mb, synthetic_posts

CHUNK = 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    archive = fresh_archive()
    print(machine_line())
    print(f"archive: {archive.settings.archive_dir}")
    sample = next(synthetic_posts(1))
    from archiver.records import build_record

    size = len(
        build_record(
            sample,
            version=1,
            prev_record_id=None,
            observation="observed",
            captured_at=archive.clock.now(),
        ).data
    )
    print(f"record size: {size} bytes")

    # Items are generated in untimed chunks: the figure is the archive's rate, not the
    # generator's, and memory stays flat.
    posts = synthetic_posts(args.records)
    ingest_seconds, new = 0.0, 0
    while chunk := list(islice(posts, CHUNK)):
        started = time.perf_counter()
        new += archive.ingest(chunk).counts()["new"]
        ingest_seconds += time.perf_counter() - started
    assert new == args.records
    print(
        f"ingest: {args.records} records in {ingest_seconds:.1f} s = "
        f"{args.records / ingest_seconds:,.0f} records/s; peak RSS {peak_rss_mb():.0f} MB"
    )

    started = time.perf_counter()
    archive.checkpoint()
    print(f"checkpoint over {args.records} leaves: {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    report = archive.verify()
    verify_seconds = time.perf_counter() - started
    assert report.ok, report.problems[:5]
    print(machine_line())
    print(
        f"verify: {report.counts['records']} records in {verify_seconds:.1f} s = "
        f"{report.counts['records'] / verify_seconds:,.0f} records/s; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
