"""Evidence packs at scale (issue: evidence packs).

Builds an archive of N synthetic posts (about 1 KB each), M of them with their
own photo (a JPEG of about 20-40 KB plus its thumbnail), places a legal hold
over all of them, exports the matter, then checks the pack with verify-pack.
The export and the check each run in a fresh interpreter, so their peak RSS is
their own (the PDF worker's is printed apart).

Targets: export of 100,000 records with 2,000 images <= 60 s and peak RSS
<= 300 MB; verify-pack >= 20,000 records/s. Figures are printed, not asserted.
Run: python -m bench.export [--records 100000 --images 2000]

The hold's rows are inserted directly: a real hold needs the search index, and
indexing 100,000 records (about 80 s) is the search benchmark's business.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

from bench.common import fresh_archive, machine_line, peak_rss_mb, synthetic_posts

CHUNK = 5_000
MATTER = "bench-matter"


def photo(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        box = sorted(rng.randrange(640) for _ in range(2)) + sorted(
            rng.randrange(480) for _ in range(2)
        )
        draw.rectangle(
            (box[0], box[2], box[1], box[3]), fill=tuple(rng.randrange(256) for _ in range(3))
        )
    draw.text((20, 20), f"photo {seed}", fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def build(records: int, images: int) -> Path:
    from sqlalchemy import insert, select

    from archiver.capture.media import inspect_image, store_blob
    from archiver.item import MediaRef
    from storage.catalogue.db import write_transaction
    from storage.catalogue.models import records as records_table
    from storage.catalogue.retention import hold_records, holds

    archive = fresh_archive()
    started = time.perf_counter()
    posts = synthetic_posts(records)
    made = 0
    while chunk := list(islice(posts, CHUNK)):
        items = []
        for item in chunk:
            if made < images:
                data = photo(made)
                info = inspect_image(data)
                thumb = store_blob(archive.store, info["thumbnail"])
                ref = MediaRef(store_blob(archive.store, data), len(data), "image/jpeg",
                               f"https://bench.example/media/{made}.jpg", info["width"],
                               info["height"], {"description": f"photo {made}",
                                                "thumbnail_sha256": thumb})  # fmt: skip
                content = dict(item.content, media=[{"url": ref.source_url, "type": "image"}])
                item = dataclasses.replace(item, content=content, media=(ref,))
                made += 1
            items.append(item)
        archive.ingest(items, audit=False)
    archive.checkpoint()
    with write_transaction(archive.engine) as conn:
        hold_id = conn.execute(
            insert(holds).values(
                matter=MATTER, query="*", accounts=[], reason="benchmark", status="active",
                created_at=archive.clock.now(), created_by="bench", applied_through=records - 1,
            )
        ).inserted_primary_key[0]  # fmt: skip
        ids = conn.execute(select(records_table.c.record_id)).scalars().all()
        for start in range(0, len(ids), CHUNK):
            conn.execute(
                insert(hold_records),
                [{"hold_id": hold_id, "record_id": r} for r in ids[start : start + CHUNK]],
            )
    print(f"built {records} records, {images} images in {time.perf_counter() - started:.0f} s "
          f"(untimed setup): {archive.settings.archive_dir}")  # fmt: skip
    directory = archive.settings.archive_dir
    archive.close()
    return directory


def export_child(archive_dir: str, out: str) -> None:
    from archiver.archive import Archive
    from archiver.export.service import ExportRequest, ExportService
    from config.settings import Settings

    archive = Archive.open(Settings(archive={"dir": archive_dir}), actor="bench")
    started = time.perf_counter()
    result = ExportService(archive).export(ExportRequest(out=Path(out), matter=MATTER))
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb(), "worker_rss_mb": children,
                      "cpu": _cpu_seconds(),
                      "records": result.records, "media": result.media, "files": result.files,
                      "bytes": result.payload_bytes}))  # fmt: skip


def verify_child(pack: str, workers: int | None) -> None:
    from archiver.verify_pack import verify_pack

    started = time.perf_counter()
    report = verify_pack(Path(pack), workers=workers)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = {
        "seconds": seconds,
        "ok": report.ok,
        "cpu": _cpu_seconds(),
        "failures": len(report.failures),
        "records": report.counts.get("records", 0),
        "files": report.counts.get("files", 0),
        "rss_mb": peak_rss_mb(),
        "worker_rss_mb": children,
    }
    print(json.dumps(figures))


def _cpu_seconds() -> dict[str, float]:
    """CPU time of this process and of its workers: on a busy machine wall-clock
    figures mislead, CPU seconds much less."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"main": own.ru_utime + own.ru_stime, "workers": workers.ru_utime + workers.ru_stime}


def child(*args: str) -> dict:
    output = subprocess.run([sys.executable, "-m", "bench.export", *args], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--verify-workers", type=int, help="default: one per core for big packs")
    parser.add_argument(
        "--archive-dir", help="reuse an archive an earlier run built (skips the untimed setup)"
    )
    parser.add_argument(
        "--export-child", nargs=2, metavar=("ARCHIVE_DIR", "OUT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--verify-child", metavar="PACK", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(*args.export_child)
        return
    if args.verify_child:
        verify_child(args.verify_child, args.verify_workers)
        return
    print(machine_line())
    archive_dir = Path(args.archive_dir) if args.archive_dir else build(args.records, args.images)
    out = Path(tempfile.mkdtemp(prefix="archiver-bench-pack-")) / "pack"
    exported = child("--export-child", str(archive_dir), str(out))
    seconds = exported["seconds"]
    print(
        f"export: {exported['records']} records, {exported['media']} media files, "
        f"{exported['files']} files, {exported['bytes'] / 1e6:.0f} MB in {seconds:.1f} s "
        f"= {exported['records'] / seconds:,.0f} records/s; "
        f"peak RSS {exported['rss_mb']:.0f} MB (PDF workers {exported['worker_rss_mb']:.0f} MB); "
        "targets <= 60 s, <= 300 MB"
    )
    cpu = exported["cpu"]
    print(f"  CPU seconds: main {cpu['main']:.1f}, workers {cpu['workers']:.1f}")
    extra = ["--verify-workers", str(args.verify_workers)] if args.verify_workers else []
    checked = child("--verify-child", str(out), *extra)
    print(
        f"verify-pack: {checked['records']} records ({checked['files']} files) in "
        f"{checked['seconds']:.1f} s = {checked['records'] / checked['seconds']:,.0f} records/s, "
        f"ok={checked['ok']}; peak RSS {checked['rss_mb']:.0f} MB "
        f"(workers {checked['worker_rss_mb']:.0f} MB); target >= 20,000 records/s"
    )
    print(
        f"  CPU seconds: main {checked['cpu']['main']:.1f}, workers {checked['cpu']['workers']:.1f}"
    )
    print(f"pack: {out}")
    print(machine_line())


if __name__ == "__main__":
    main()
