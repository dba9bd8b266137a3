"""Reading an untrusted export archive (zip) without being hurt by it.

Everything is checked before anything is read: member names (no '..', no
absolute or drive paths, no backslashes or NUL), no symlinks or encrypted
members, member count, each member's declared size and compression ratio, the
total size. Then every member is inflated once and its CRC checked, counting
the bytes actually inflated (a zip bomb can lie about its sizes in the
directory): a damaged archive is refused when it is opened, not half-way
through an import.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from archiver.errors import ArchiverError

MiB = 1024 * 1024
# What zipfile, tarfile and gzip raise for damaged bytes (bad CRC, truncated or
# corrupt deflate data, unsupported compression), rather than an error of their own.
DAMAGED = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, NotImplementedError)


class UnsafeArchiveError(ArchiverError):
    """The export file is malformed or hostile; nothing was imported from it."""

    exit_code = 2


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 200_000
    max_member_bytes: int = 1024 * MiB  # a 2 GB member is refused
    max_total_bytes: int = 50 * 1024 * MiB
    max_ratio: int = 200  # inflated/compressed, for members over ratio_floor
    ratio_floor: int = 1 * MiB


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def member_problem(name: str) -> str | None:
    """Why a member name is unsafe, or None."""
    if not name or "\x00" in name or "\\" in name:
        return "contains NUL or a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if any(part in ("..",) for part in PurePosixPath(name).parts):
        return "climbs out of the archive with '..'"
    return None


class SafeArchive:
    """A validated zip; `read` returns a member's bytes within the limits."""

    def __init__(self, path: Path, limits: ArchiveLimits | None = None) -> None:
        self.path = path
        self.limits = limits or ArchiveLimits()
        try:
            self._zip = zipfile.ZipFile(path)
        except DAMAGED as exc:
            raise UnsafeArchiveError(f"{path} is not a readable zip archive: {exc}") from exc
        self._members = {info.filename: info for info in self._zip.infolist()}
        try:
            self._validate()
            self._check_integrity()
        except UnsafeArchiveError:
            self._zip.close()
            raise

    def _validate(self) -> None:
        limits = self.limits
        infos = list(self._members.values())
        if len(infos) > limits.max_members:
            raise UnsafeArchiveError(
                f"{self.path}: {len(infos)} members, limit {limits.max_members}"
            )
        total = 0
        for info in infos:
            problem = member_problem(info.filename)
            if problem:
                raise UnsafeArchiveError(f"{self.path}: member {info.filename!r} {problem}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(f"{self.path}: member {info.filename!r} is a symlink")
            if info.flag_bits & 0x1:  # APPNOTE 4.4.4 bit 0: encrypted
                raise UnsafeArchiveError(f"{self.path}: member {info.filename!r} is encrypted")
            if info.file_size > limits.max_member_bytes:
                raise UnsafeArchiveError(
                    f"{self.path}: member {info.filename!r} is {info.file_size:,} bytes, "
                    f"over the {limits.max_member_bytes:,} byte limit"
                )
            if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise UnsafeArchiveError(
                    f"{self.path}: member {info.filename!r} inflates {info.compress_size:,} -> "
                    f"{info.file_size:,} bytes (a zip bomb?)"
                )
            total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeArchiveError(f"{self.path}: {total:,} bytes inflated, over the limit")

    def names(self) -> list[str]:
        return sorted(name for name, info in self._members.items() if not info.is_dir())

    def exists(self, name: str) -> bool:
        return name in self._members

    def _check_integrity(self) -> None:
        """Inflate every member once, within the limits, so that bad CRCs and corrupt
        data are found before an importer yields its first item."""
        for info in self._members.values():
            if not info.is_dir():
                for _ in self._inflate(info):
                    pass

    def _inflate(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """A member's bytes in chunks, refusing more than it declared (bombs lie) and
        turning zipfile's and zlib's errors for damaged data into UnsafeArchiveError."""
        size = 0
        try:
            with self._zip.open(info) as handle:
                for chunk in iter(lambda: handle.read(MiB), b""):
                    size += len(chunk)
                    if size > info.file_size or size > self.limits.max_member_bytes:
                        raise UnsafeArchiveError(
                            f"{self.path}: member {info.filename!r} inflates past its declared size"
                        )
                    yield chunk
        except DAMAGED as exc:
            raise UnsafeArchiveError(
                f"{self.path}: member {info.filename!r} is damaged ({exc})"
            ) from exc

    def read(self, name: str) -> bytes:
        """A member's bytes (the whole archive was checked when it was opened)."""
        info = self._members.get(name)
        if info is None:
            raise UnsafeArchiveError(f"{self.path}: no member {name!r}")
        return b"".join(self._inflate(info))

    def iter_names(self, prefix: str) -> Iterator[str]:
        return (n for n in self.names() if n.startswith(prefix))

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SafeTarArchive:
    """A validated .tar.gz with SafeArchive's interface and checks: safe member names,
    regular files only (no links or devices), member count, each member's size and the
    total. A gzip stream cannot be read at random, so each file is copied once, within
    those limits, to a private temporary directory under a numbered name (never under
    its member name) and read from there; `close` removes it."""

    def __init__(self, path: Path, limits: ArchiveLimits | None = None) -> None:
        self.path = path
        self.limits = limits or ArchiveLimits()
        self._spool = tempfile.TemporaryDirectory(prefix="mastodon-export-")
        self._files: dict[str, Path] = {}
        try:
            with tarfile.open(path, mode="r:*") as tar:
                self._load(tar)
                self._read_to_the_end(tar)
        except DAMAGED as exc:
            self.close()
            raise UnsafeArchiveError(f"{path} is not a readable tar archive: {exc}") from exc
        except UnsafeArchiveError:
            self.close()
            raise

    def _load(self, tar: tarfile.TarFile) -> None:
        limits, total, count = self.limits, 0, 0
        for info in tar:
            count += 1
            if count > limits.max_members:
                raise UnsafeArchiveError(f"{self.path}: more than {limits.max_members} members")
            name = info.name.removeprefix("./")
            problem = member_problem(name)
            if problem:
                raise UnsafeArchiveError(f"{self.path}: member {info.name!r} {problem}")
            if info.isdir():
                continue
            if not info.isreg():
                raise UnsafeArchiveError(
                    f"{self.path}: member {info.name!r} is a link or device, not a file"
                )
            if info.size > limits.max_member_bytes:
                raise UnsafeArchiveError(
                    f"{self.path}: member {info.name!r} is {info.size:,} bytes, "
                    f"over the {limits.max_member_bytes:,} byte limit"
                )
            total += info.size
            if total > limits.max_total_bytes:
                raise UnsafeArchiveError(f"{self.path}: {total:,} bytes inflated, over the limit")
            source = tar.extractfile(info)
            if source is None:
                raise UnsafeArchiveError(f"{self.path}: member {info.name!r} cannot be read")
            spooled = Path(self._spool.name) / str(count)
            with source, spooled.open("wb") as target:
                shutil.copyfileobj(source, target, MiB)
            self._files[str(PurePosixPath(name))] = spooled

    def _read_to_the_end(self, tar: tarfile.TarFile) -> None:
        """tarfile stops at the end-of-archive blocks, before gzip's trailer: read on to
        the end (the padding, within the total limit) so gzip checks its CRC-32 and a
        damaged member is refused rather than imported with wrong bytes."""
        rest = 0
        for chunk in iter(lambda: tar.fileobj.read(MiB), b""):  # type: ignore[union-attr]
            rest += len(chunk)
            if rest > self.limits.max_total_bytes:
                raise UnsafeArchiveError(f"{self.path}: too much data after the last member")

    def names(self) -> list[str]:
        return sorted(self._files)

    def exists(self, name: str) -> bool:
        return name in self._files

    def read(self, name: str) -> bytes:
        if name not in self._files:
            raise UnsafeArchiveError(f"{self.path}: no member {name!r}")
        return self._files[name].read_bytes()

    def iter_names(self, prefix: str) -> Iterator[str]:
        return (n for n in self.names() if n.startswith(prefix))

    def close(self) -> None:
        self._files.clear()
        self._spool.cleanup()

    def __enter__(self) -> SafeTarArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ExportArchive = SafeArchive | SafeTarArchive


def open_export(path: Path, limits: ArchiveLimits | None = None) -> ExportArchive:
    """The export as a zip (Mastodon 4.2+) or a .tar.gz (earlier), by its first bytes."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK"):
        return SafeArchive(path, limits)
    return SafeTarArchive(path, limits)
