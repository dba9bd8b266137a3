"""publish(): a finished temp file gets its final name, never over an existing one,
both through renameat2(RENAME_NOREPLACE) and through the link + unlink fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.objects import fsutil


@pytest.fixture(params=["renameat2", "link"])
def publish_way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "link":
        monkeypatch.setattr(fsutil, "_RENAMEAT2", None)
    elif fsutil._RENAMEAT2 is None:
        pytest.fail("this libc has no renameat2: the fast path is untested here")
    return str(request.param)


def test_publish_moves_the_temp_file_to_its_name(tmp_path: Path, publish_way: str) -> None:
    temp, final = tmp_path / ".obj.tmp", tmp_path / "obj"
    temp.write_bytes(b"record bytes")
    fsutil.publish(str(temp), str(final))
    assert final.read_bytes() == b"record bytes"
    assert not temp.exists()


def test_publish_never_replaces_an_existing_object(tmp_path: Path, publish_way: str) -> None:
    temp, final = tmp_path / ".obj.tmp", tmp_path / "obj"
    temp.write_bytes(b"newcomer")
    final.write_bytes(b"archived first")
    with pytest.raises(FileExistsError):
        fsutil.publish(str(temp), str(final))
    assert final.read_bytes() == b"archived first"
    assert temp.read_bytes() == b"newcomer"  # left for the caller to clean up


def test_publish_into_a_missing_directory_is_an_os_error(tmp_path: Path, publish_way: str) -> None:
    temp = tmp_path / ".obj.tmp"
    temp.write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        fsutil.publish(str(temp), str(tmp_path / "gone" / "obj"))
    assert temp.exists()
