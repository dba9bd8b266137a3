"""verify-pack reads a pack directory's files ahead of the one it hashes: each
file's bytes arrive in order, a file that cannot be read is an error in its own
place (the rest still read), and no file stays open, even when the reader stops
early."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archiver import verify_pack
from archiver.verify_pack import DirectorySource


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    for n in range(200):
        (tmp_path / f"f{n:03d}.txt").write_bytes(f"file {n}\n".encode() * (n + 1))
    return tmp_path


@pytest.mark.parametrize("announce", [True, False])  # with and without posix_fadvise
def test_files_arrive_in_order_with_errors_in_place(
    pack: Path, announce: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not announce:
        monkeypatch.setattr(verify_pack, "_FADVISE", None)
    names = [f"f{n:03d}.txt" for n in range(200)]
    names.insert(70, "missing.txt")
    before = open_fds()
    got = list(DirectorySource(pack).read_each(names))
    assert open_fds() == before
    assert isinstance(got[70], FileNotFoundError)
    del got[70], names[70]
    assert got == [(pack / name).read_bytes() for name in names]


def test_stopping_early_closes_the_files_opened_ahead(pack: Path) -> None:
    before = open_fds()
    reading = DirectorySource(pack).read_each([f"f{n:03d}.txt" for n in range(200)])
    assert next(reading) == (pack / "f000.txt").read_bytes()
    assert open_fds() > before  # the next ones are open already
    reading.close()
    assert open_fds() == before


def test_a_symlink_planted_after_the_walk_is_not_followed(pack: Path) -> None:
    source = DirectorySource(pack)
    source.files()
    (pack / "f005.txt").unlink()
    (pack / "f005.txt").symlink_to("/etc/hostname")
    got = list(source.read_each(["f004.txt", "f005.txt", "f006.txt"]))
    assert isinstance(got[1], OSError) and not isinstance(got[0], Exception)
    assert got[2] == (pack / "f006.txt").read_bytes()


def test_files_in_folders_each_folder_opened_once_and_none_followed(tmp_path: Path) -> None:
    """Files are opened relative to their folder's descriptor: a missing folder is
    an error in each of its files' places, a folder swapped for a symlink after
    the walk is not followed, and every descriptor is closed at the end."""
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
        for n in range(3):
            (tmp_path / folder / f"{n}.txt").write_text(f"{folder}{n}")
    (tmp_path / "top.txt").write_text("top")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "0.txt").write_text("secret")
    source = DirectorySource(tmp_path)
    source.files()
    (tmp_path / "b" / "0.txt").unlink()
    (tmp_path / "b" / "1.txt").unlink()
    (tmp_path / "b" / "2.txt").unlink()
    (tmp_path / "b").rmdir()
    (tmp_path / "c").rename(tmp_path / "c-moved")
    (tmp_path / "c").symlink_to(outside)
    names = ["a/0.txt", "a/1.txt", "b/0.txt", "b/1.txt", "c/0.txt", "top.txt", "a/2.txt"]
    before = open_fds()
    got = list(source.read_each(names))
    assert open_fds() == before
    assert got[:2] == [b"a0", b"a1"] and got[5:] == [b"top", b"a2"]
    assert all(isinstance(error, FileNotFoundError) for error in got[2:4])
    assert isinstance(got[4], OSError) and not isinstance(got[4], FileNotFoundError)
