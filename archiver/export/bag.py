"""A BagIt 1.0 writer (RFC 8493) that streams: every payload byte is hashed with
SHA-256 and SHA-512 as it is written, and the manifests are sorted on disk, so
memory does not grow with the number of files.

We write the bag ourselves instead of calling bagit.make_bag, which moves an
existing tree into data/ and re-reads it; the Library of Congress `bagit`
package is the independent validator in the tests.

Safety: the bag's root must be new or an empty directory and not a symlink;
every directory is opened with O_NOFOLLOW and every file created with
O_EXCL | O_NOFOLLOW relative to its directory's descriptor, so nothing is
written through a symlink or over an existing file.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from archiver.errors import UsageError
from archiver.export.paths import check_payload_path, check_tag_path

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
ALGORITHMS = ("sha256", "sha512")
BUFFER_BYTES = 256 * 1024
SORT_CHUNK_LINES = 100_000
WRITER_THREADS = 2  # one per directory of a record's files: records, text
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Compressed in a zip; everything else (images, video, PDF) is stored as is.
_DEFLATE_SUFFIXES = (".json", ".txt", ".html", ".csv", ".dat", ".pem", ".jsonl")


class UnsafeOutputError(UsageError):
    """The output path is unsafe to write into (not empty, a symlink, not a directory)."""


@dataclass(frozen=True)
class FileDigest:
    path: str
    size: int
    sha256: str
    sha512: str


@dataclass(frozen=True)
class BagSummary:
    root: Path
    payload_bytes: int
    payload_files: int
    manifest_sha256: str  # SHA-256 of manifest-sha256.txt: names the whole payload

    @property
    def oxum(self) -> str:
        return f"{self.payload_bytes}.{self.payload_files}"


class HashingFile:
    """A write-only file that hashes what it writes; buffered, so many small writes
    (load-file rows, HTML fragments) cost one system call per 256 KB."""

    def __init__(self, fd: int, path: str) -> None:
        self._fd = fd
        self.path = path
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self._sha512 = hashlib.sha512()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        if len(self._buffer) >= BUFFER_BYTES:
            self._flush()
        return len(data)

    def write_text(self, text: str) -> None:
        self.write(text.encode("utf-8"))

    def _flush(self) -> None:
        if not self._buffer:
            return
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._sha256.update(chunk)
        self._sha512.update(chunk)
        self.size += len(chunk)
        _write_all(self._fd, chunk)

    def flush(self) -> None:  # file-like protocol (reportlab calls it)
        self._flush()

    def close(self) -> FileDigest:
        if not self.closed:
            try:
                self._flush()
            finally:
                os.close(self._fd)
                self.closed = True
        return self.digest()

    def digest(self) -> FileDigest:
        return FileDigest(self.path, self.size, self._sha256.hexdigest(), self._sha512.hexdigest())

    def abort(self) -> None:
        if not self.closed:
            os.close(self._fd)
            self.closed = True


class TextAdapter:
    """What csv.writer needs (write(str)) on top of a HashingFile."""

    def __init__(
        self, target: HashingFile, encoding: str = "utf-8", errors: str = "strict"
    ) -> None:
        self.target = target
        self.encoding = encoding
        self.errors = errors

    def write(self, text: str) -> int:
        self.target.write(text.encode(self.encoding, self.errors))
        return len(text)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class DirectoryTree:
    """Directories under one root, each opened once without following symlinks."""

    def __init__(self, root_fd: int) -> None:
        self._fds: dict[str, int] = {"": root_fd}
        self._lock = threading.RLock()  # writer threads may meet a new directory together

    def directory(self, relative: str) -> int:
        """The descriptor of `relative` (created if missing), walked segment by segment."""
        fd = self._fds.get(relative)
        if fd is not None:
            return fd
        with self._lock:
            fd = self._fds.get(relative)
            return fd if fd is not None else self._open_directory(relative)

    def _open_directory(self, relative: str) -> int:
        parent, _, name = relative.rpartition("/")
        parent_fd = self.directory(parent)
        try:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        except FileExistsError:
            pass  # ours from earlier, or a symlink: opening with O_NOFOLLOW tells which
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            raise UnsafeOutputError(
                f"cannot open {relative!r} in the pack as a directory (a symlink?): {exc.strerror}"
            ) from None
        self._fds[relative] = fd
        return fd

    def create(self, relative: str, mode: int = 0o644) -> int:
        parent, _, name = relative.rpartition("/")
        try:
            return os.open(name, _NEW_FILE_FLAGS, mode, dir_fd=self.directory(parent))
        except FileExistsError:
            raise UnsafeOutputError(f"{relative!r} already exists in the pack") from None

    def close(self, keep_root: bool = False) -> None:
        for relative, fd in list(self._fds.items()):
            if relative or not keep_root:
                os.close(fd)
        self._fds = {}


def open_output_directory(root: Path) -> tuple[int, bool]:
    """Open the bag's root, creating it if absent: (descriptor, created).

    Refuses a symlink (even to an empty directory: the pack would land somewhere
    else than asked), anything that is not a directory, and a non-empty directory.
    """
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(root, 0o755)
        except FileExistsError:
            raise UnsafeOutputError(f"{root} appeared while the export started") from None
        created = True
    else:
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeOutputError(
                f"{root} is a symlink: refusing to follow it; give the real directory"
            )
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafeOutputError(f"{root} exists and is not a directory")
        created = False
    fd = os.open(root, _DIR_FLAGS)
    if not created and os.listdir(fd):
        os.close(fd)
        raise UnsafeOutputError(
            f"{root} is not empty: an evidence pack goes into a new or empty directory"
        )
    return fd, created


def open_new_file(root: Path, relative: str) -> HashingFile:
    """Create one payload file in an existing bag (for worker processes)."""
    check_payload_path(relative)
    root_fd = os.open(root, _DIR_FLAGS)
    tree = DirectoryTree(root_fd)
    try:
        return HashingFile(tree.create(relative), relative)
    finally:
        tree.close()


class ManifestSpool:
    """Manifest entries spooled to disk unsorted, sorted at the end in chunks merged
    with heapq: O(chunk) memory for any number of files."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._spool = open(workdir / "manifest.spool", "w", encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def add(self, entry: FileDigest) -> None:
        self._spool.write(f"{entry.path}\t{entry.sha256}\t{entry.sha512}\n")
        self.count += 1

    def sorted_entries(self) -> Iterator[tuple[str, str, str]]:
        """(path, sha256, sha512) by path; a tab sorts before any path character, so
        sorting lines sorts paths."""
        self._spool.close()
        chunks: list[Path] = []
        with open(self._workdir / "manifest.spool", encoding="utf-8") as spool:
            while True:
                lines = [line for _, line in zip(range(SORT_CHUNK_LINES), spool, strict=False)]
                if not lines:
                    break
                lines.sort()
                chunk = self._workdir / f"manifest.{len(chunks)}.sorted"
                chunk.write_text("".join(lines), encoding="utf-8")
                chunks.append(chunk)
        with ExitStack() as stack:
            files = [stack.enter_context(open(c, encoding="utf-8")) for c in chunks]
            for line in heapq.merge(*files):
                path, sha256, sha512 = line.rstrip("\n").split("\t")
                yield path, sha256, sha512


class BagWriter:
    """Writes one bag. Payload files: `write` (bytes at once) or `open` (streamed).
    `finish` writes the tag files; `abort` removes everything written."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.root = root
        self._root_fd, self._created_root = open_output_directory(root)
        self._tree = DirectoryTree(self._root_fd)
        self._manifest = ManifestSpool(workdir)
        self._paths_open: set[str] = set()
        self.payload_bytes = 0
        self.payload_files = 0
        self.finished = False
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[list[FileDigest]]] = []

    def write(self, path: str, data: bytes) -> FileDigest:
        """Write a whole payload file in one call."""
        entry = self._write_file(path, data)
        self._add(entry)
        return entry

    def _write_file(self, path: str, data: bytes) -> FileDigest:
        fd = self._tree.create(check_payload_path(path))
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return FileDigest(
            path, len(data), hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
        )

    def write_batch(self, groups: Iterable[list[tuple[str, bytes]]]) -> None:
        """Write groups of small files (one group per directory) on writer threads,
        returning at once; the previous batch is finished first. Creating a file
        is a system call that releases the GIL, and a file system locks each
        directory on its own, so the directories of a record's files (records,
        text) fill side by side while the caller prepares the next batch."""
        self.finish_batches()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=WRITER_THREADS)
        self._pending = [self._pool.submit(self._write_group, group) for group in groups if group]

    def _write_group(self, group: list[tuple[str, bytes]]) -> list[FileDigest]:
        return [self._write_file(path, data) for path, data in group]

    def finish_batches(self) -> None:
        """Wait for the writer threads; their files go into the manifests in order."""
        pending, self._pending = self._pending, []
        for future in pending:
            for entry in future.result():
                self._add(entry)

    @contextmanager
    def open(self, path: str) -> Iterator[HashingFile]:
        """A streamed payload file; registered in the manifests when the block ends."""
        handle = HashingFile(self._tree.create(check_payload_path(path)), path)
        try:
            yield handle
        except BaseException:
            handle.abort()
            raise
        self._add(handle.close())

    def create(self, path: str) -> HashingFile:
        """A streamed payload file the caller closes and passes to `register` (for
        writers that want a plain file object, such as reportlab's canvas)."""
        return HashingFile(self._tree.create(check_payload_path(path)), path)

    def directory(self, path: str) -> None:
        """Make sure a payload directory exists (before a worker writes into it)."""
        self._tree.directory(check_payload_path(path))

    def register(self, entry: FileDigest) -> None:
        """A payload file another process wrote (with open_new_file) and hashed."""
        check_payload_path(entry.path)
        self._add(entry)

    def _add(self, entry: FileDigest) -> None:
        self._manifest.add(entry)
        self.payload_bytes += entry.size
        self.payload_files += 1

    def finish(self, bag_info: Iterable[tuple[str, str]]) -> BagSummary:
        """Write bagit.txt, bag-info.txt (with Payload-Oxum), both payload manifests
        (sorted) and both tag manifests; returns the summary."""
        self.finish_batches()
        self._stop_threads()
        tags: list[FileDigest] = [self._write_tag("bagit.txt", BAGIT_TXT)]
        info = list(bag_info) + [("Payload-Oxum", f"{self.payload_bytes}.{self.payload_files}")]
        tags.append(self._write_tag("bag-info.txt", format_bag_info(info)))
        manifests = {
            algorithm: self._open_tag(f"manifest-{algorithm}.txt") for algorithm in ALGORITHMS
        }
        try:
            for path, sha256, sha512 in self._manifest.sorted_entries():
                manifests["sha256"].write(f"{sha256}  {path}\n".encode())
                manifests["sha512"].write(f"{sha512}  {path}\n".encode())
        except BaseException:
            for handle in manifests.values():
                handle.abort()
            raise
        manifest_digests = [manifests[a].close() for a in ALGORITHMS]
        tags.extend(manifest_digests)
        tags.sort(key=lambda t: t.path)
        for algorithm in ALGORITHMS:
            lines = "".join(f"{getattr(t, algorithm)}  {t.path}\n" for t in tags)
            self._write_tag(f"tagmanifest-{algorithm}.txt", lines.encode())
        self._tree.close()
        self.finished = True
        return BagSummary(
            self.root, self.payload_bytes, self.payload_files, manifest_digests[0].sha256
        )

    def _open_tag(self, name: str) -> HashingFile:
        return HashingFile(self._tree.create(check_tag_path(name)), name)

    def _write_tag(self, name: str, data: bytes) -> FileDigest:
        handle = self._open_tag(name)
        handle.write(data)
        return handle.close()

    def _stop_threads(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Remove what this writer wrote: the root itself if we made it, else its contents."""
        self._stop_threads()
        self._pending = []
        if not self.finished:
            self._tree.close()
        if self._created_root:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for entry in os.scandir(self.root):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def format_bag_info(fields: Iterable[tuple[str, str]]) -> bytes:
    """'Label: value' lines; values are kept on one line (control characters and
    newlines become spaces: the exact query is in data/custody/export.json)."""
    lines = []
    for label, value in fields:
        clean = " ".join("".join(" " if ord(c) < 32 or c == "\x7f" else c for c in value).split())
        lines.append(f"{label}: {clean}\n")
    return "".join(lines).encode("utf-8", "replace")


def zip_bag(bag_dir: Path, zip_path: Path, top: str, when: datetime) -> int:
    """Serialise a finished bag as a zip whose single top-level folder is `top`
    (the BagIt convention for serialised bags); member times are `when`, so the
    same pack gives the same zip. Refuses to replace an existing file."""
    check_tag_path(top)
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    fd = os.open(zip_path, _NEW_FILE_FLAGS, 0o644)
    members = 0
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
            for relative in _bag_files(bag_dir):
                info = zipfile.ZipInfo(f"{top}/{relative}", stamp)
                info.external_attr = 0o100644 << 16
                deflate = relative.endswith(_DEFLATE_SUFFIXES)
                info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
                with (
                    open(bag_dir / relative, "rb") as source,
                    archive.open(info, "w", force_zip64=True) as target,
                ):
                    shutil.copyfileobj(source, target, BUFFER_BYTES)
                members += 1
    except BaseException:
        os.unlink(zip_path)  # ours (created exclusively above): no half-written zip stays
        raise
    return members


def _bag_files(bag_dir: Path) -> Iterator[str]:
    """Tag files first (bagit.txt leading), then the payload, in sorted order."""
    tags = sorted(e.name for e in os.scandir(bag_dir) if e.is_file(follow_symlinks=False))
    tags.sort(key=lambda name: name != "bagit.txt")
    yield from tags
    stack = ["data"]
    while stack:
        directory = stack.pop()
        entries = sorted(os.scandir(bag_dir / directory), key=lambda e: e.name, reverse=True)
        for entry in entries:
            relative = f"{directory}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append(relative)
            elif entry.is_file(follow_symlinks=False):
                yield relative


def staging_directory(near: Path) -> Path:
    """A private directory beside `near` (same file system, so no cross-device copy)."""
    near.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{near.name}.partial-", dir=near.parent))
