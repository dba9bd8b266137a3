"""Export imports: archived like captures, idempotent, and hostile archives refused
before anything is written."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.records import Record, record_key
from connectors.exports.safe_archive import SafeArchive, UnsafeArchiveError, member_problem
from storage.catalogue.models import capture_runs, records
from tests.capture.conftest import png

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


def zip_slip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("items.json", "[]")
        archive.writestr("../../etc/evil.sh", "rm -rf /")
    return path


def symlink_member(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("items.json", "[]")
        info = zipfile.ZipInfo("media/link.png")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    return path


def zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("items.json", "[]")
        archive.writestr("media/bomb.bin", b"\x00" * (20 * 1024 * 1024))
    return path


def two_gigabyte_member(path: Path) -> Path:
    """A member whose headers declare 2 GiB (patched after writing, as a crafted file would)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("items.json", "[]")
        archive.writestr("media/huge.bin", b"x" * 100)
    data = bytearray(path.read_bytes())
    huge = struct.pack("<I", 2 * 1024**3)
    central = data.rfind(b"PK\x01\x02")  # the last central-directory entry: media/huge.bin
    data[central + 24 : central + 28] = huge
    path.write_bytes(bytes(data))
    return path


def malformed_json(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("items.json", '[{"id": 1, "text": "ok"}, {"id": 2, "te')
    return path


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (zip_slip, "climbs out of the archive"),
        (symlink_member, "is a symlink"),
        (zip_bomb, "zip bomb"),
        (two_gigabyte_member, "over the 1,073,741,824 byte limit"),
        (malformed_json, "malformed JSON"),
    ],
)
def test_hostile_archives_are_refused_and_nothing_is_imported(
    archive: Archive, account, tmp_path: Path, build, message: str
) -> None:
    path = build(tmp_path / "hostile.zip")
    with pytest.raises(UnsafeArchiveError, match=message):
        CaptureRunner(archive).run_import(account, "demo", path)
    assert count(archive) == 0
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(capture_runs)).scalar_one() == 0


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
    import io
    import tarfile

    path = tmp_path / "export.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("items.json", json.dumps([{"id": 7, "text": "from a tarball"}]).encode()),):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    summary = CaptureRunner(archive).run_import(account, "demo", path)
    assert summary.status == "ok" and summary.counts["new"] == 1
