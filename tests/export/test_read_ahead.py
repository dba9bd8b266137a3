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
