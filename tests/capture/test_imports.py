"""Export imports: archived like captures, idempotent, and hostile archives refused
before anything is written."""

from __future__ import annotations

import io
import json
import random
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.records import Record, record_key
from connectors.exports.safe_archive import (
    SafeArchive,
    UnsafeArchiveError,
    member_problem,
    open_export,
)
from storage.catalogue.models import capture_runs, records
from tests.capture.conftest import ctrl_c_at_second_page, png, the_run_failed_as_interrupted
from tests.capture.hostile_zips import HOSTILE, damage_member

pytestmark = pytest.mark.usefixtures("demo_plugin")


def export_zip(path: Path, items: list[dict], extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("items.json", json.dumps(items))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def account(archive: Archive):
    return AccountService(archive.engine, archive.clock).add(
        "demo", "@org", {"base_url": "http://x.test"}
    )


def count(archive: Archive) -> int:
    with archive.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(records)).scalar_one()


def test_import_archives_items_and_media_from_inside_the_zip(
    archive: Archive, account, tmp_path: Path
) -> None:
    path = export_zip(
        tmp_path / "export.zip",
        [{"id": 1, "text": "old post"}, {"id": 2, "text": "pic", "image": "media/2.png"}],
        {"media/2.png": png(12, 8)},
    )
    summary = CaptureRunner(archive).run_import(account, "demo", path)
    assert summary.status == "ok", summary.errors
    assert summary.counts["new"] == 2 and summary.media == 1
    with archive.engine.connect() as conn:
        rid = conn.execute(
            select(records.c.record_id).where(records.c.native_id == "2")
        ).scalar_one()
        assert conn.execute(select(capture_runs.c.connector)).scalar_one() == "import:demo"
    fields = Record.from_bytes(archive.store.get(record_key(rid))).fields
    assert fields["capture"]["source"] == "export"
    assert len(fields["capture"]["source_sha256"]) == 64
    assert fields["media"][0]["width"] == 12
    again = CaptureRunner(archive).run_import(account, "demo", path)
    assert again.counts["new"] == 0 and again.counts["unchanged"] == 2
    assert count(archive) == 2
    archive.checkpoint()
    assert archive.verify().ok


def test_an_import_overlapping_earlier_captures_merges_into_the_same_items(
    archive: Archive, account, tmp_path: Path
) -> None:
    first = export_zip(tmp_path / "a.zip", [{"id": 1, "text": "one"}, {"id": 2, "text": "two"}])
    second = export_zip(tmp_path / "b.zip", [{"id": 2, "text": "two"}, {"id": 3, "text": "three"}])
    CaptureRunner(archive).run_import(account, "demo", first)
    summary = CaptureRunner(archive).run_import(account, "demo", second)
    assert (summary.counts["new"], summary.counts["unchanged"]) == (1, 1)


def malformed_json(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("items.json", '[{"id": 1, "text": "ok"}, {"id": 2, "te')
    return path


def pictured(path: Path) -> Path:
    return export_zip(
        path, [{"id": 2, "text": "pic", "image": "media/2.png"}], {"media/2.png": png(12, 8)}
    )


def test_an_interrupted_import_ends_its_run_as_failed_keeping_whole_batches(
    archive: Archive, account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a bug) between two batches: what was archived stays, verifiable,
    and the run is recorded as failed rather than left running for ever."""
    path = export_zip(tmp_path / "export.zip", [{"id": n, "text": f"post {n}"} for n in range(5)])
    monkeypatch.setattr(archive.settings.ingest, "batch_size", 2)
    runner = CaptureRunner(archive)
    ctrl_c_at_second_page(runner, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        runner.run_import(account, "demo", path)
    the_run_failed_as_interrupted(archive)
    assert count(archive) == 2
    archive.checkpoint()
    assert archive.verify().ok


@pytest.mark.parametrize(
    ("build", "message"),
    [
        *((lambda path, add=add: add(export_zip(path, [])), message) for add, message in HOSTILE),
        (malformed_json, "malformed JSON"),
        (
            lambda path: damage_member(pictured(path), "media/2.png"),
            "'media/2.png' is damaged (Bad CRC-32",
        ),
        (
            lambda path: damage_member(pictured(path), "media/2.png", zipfile.ZIP_DEFLATED),
            "'media/2.png' is damaged",
        ),
    ],
)
def test_hostile_archives_are_refused_and_nothing_is_imported(
    archive: Archive, account, tmp_path: Path, build, message: str
) -> None:
    path = build(tmp_path / "hostile.zip")
    with pytest.raises(UnsafeArchiveError, match=re.escape(message)):
        CaptureRunner(archive).run_import(account, "demo", path)
    assert count(archive) == 0
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(capture_runs)).scalar_one() == 0


def test_a_damaged_archive_is_refused_on_opening_with_every_batch_of_one(
    archive: Archive, account, tmp_path: Path
) -> None:
    """The damaged photo belongs to the last item: were media read only while archiving,
    batches of one would have saved the items before it."""
    items = [{"id": n, "text": f"post {n}"} for n in range(1, 6)]
    path = export_zip(
        tmp_path / "export.zip",
        [*items, {"id": 6, "text": "pic", "image": "media/6.png"}],
        {"media/6.png": png(12, 8)},
    )
    archive.settings.ingest.batch_size = 1
    stored = set(archive.store.keys())
    with pytest.raises(UnsafeArchiveError, match="is damaged"):
        CaptureRunner(archive).run_import(account, "demo", damage_member(path, "media/6.png"))
    assert count(archive) == 0 and set(archive.store.keys()) == stored


def test_an_encrypted_member_is_refused(tmp_path: Path) -> None:
    """zipfile writes no encrypted members: the flag (bit 0) is set after writing."""
    path = export_zip(tmp_path / "export.zip", [], {"media/secret.png": b"ciphertext"})
    data = bytearray(path.read_bytes())
    data[data.rfind(b"PK\x01\x02") + 8] |= 0x1  # the last central-directory entry's flags
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match="'media/secret.png' is encrypted"):
        SafeArchive(path)


def test_a_damaged_tar_gz_is_refused(tmp_path: Path) -> None:
    """One byte flipped inside the member's (incompressible) bytes: only gzip's CRC-32,
    in the trailer after the tar's end, can tell."""
    path = tmp_path / "export.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = random.Random(1).randbytes(200_000)
        info = tarfile.TarInfo("media/1.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(UnsafeArchiveError, match="not a readable tar archive: CRC check failed"):
        open_export(path)


def test_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"this is not a zip")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        SafeArchive(path)


@pytest.mark.parametrize("name", ["../a", "a/../../b", "/etc/passwd", "C:/x", "a\\b", "a\x00b", ""])
def test_unsafe_member_names(name: str) -> None:
    assert member_problem(name) is not None


@pytest.mark.parametrize("name", ["data/tweets.js", "media/a..b.png", "a/b/c"])
def test_safe_member_names(name: str) -> None:
    assert member_problem(name) is None


def test_a_tar_gz_export_imports_like_a_zip(archive: Archive, account, tmp_path: Path) -> None:
    path = tmp_path / "export.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("items.json", json.dumps([{"id": 7, "text": "from a tarball"}]).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    summary = CaptureRunner(archive).run_import(account, "demo", path)
    assert summary.status == "ok" and summary.counts["new"] == 1
