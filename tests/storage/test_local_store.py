"""The local store's own promises: read-only files, no debris, clean failure,
a lock ledger shared between processes, and one winner per key."""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.errors import RetentionError, StorageError
from storage.objects.base import LockState, NewObject, ObjectExistsError
from storage.objects.local import LEDGER_PATH, LocalObjectStore
from storage.objects.registry import open_object_store
from tests.support import local_settings

NOBODY = 65534


def days_from_now(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalObjectStore]:
    local = LocalObjectStore(tmp_path / "objects")
    local.check()
    yield local
    local.close()


def all_files(root: Path) -> list[str]:
    """Every file under root except the ledger, dot files included."""
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and path.parent.name != ".locks"
    )


def ledger_lines(root: Path) -> list[dict[str, object]]:
    path = root / LEDGER_PATH
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_from_settings_uses_objects_dir_and_durability(tmp_path: Path) -> None:
    settings = local_settings(tmp_path, durability="file")
    opened = open_object_store(settings)
    assert isinstance(opened, LocalObjectStore)
    assert opened.root == tmp_path / "objects" and opened.durability == "file"
    assert (tmp_path / "objects").is_dir()
    opened.close()


def test_objects_are_read_only_files_and_no_temp_files_remain(
    store: LocalObjectStore,
) -> None:
    store.put_many(NewObject(f"records/{n}/r.json", b"x" * n) for n in range(20))
    store.put("media/a.bin", b"media", retain_until=days_from_now(1))
    files = all_files(store.root)
    assert files == sorted([f"records/{n}/r.json" for n in range(20)] + ["media/a.bin"])
    for name in files:
        assert stat.S_IMODE((store.root / name).stat().st_mode) == 0o444


@pytest.mark.parametrize("durability", ["file", "batch", "none"])
def test_every_durability_mode_writes_the_batch(tmp_path: Path, durability: str) -> None:
    local = LocalObjectStore(tmp_path, durability)  # type: ignore[arg-type]
    batch = [NewObject(f"r/{n:02d}", bytes([n]) * 100, days_from_now(1)) for n in range(30)]
    local.put_many(batch)
    assert [local.get(obj.key) for obj in batch] == [obj.data for obj in batch]
    assert len(ledger_lines(tmp_path)) == 30


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="durability"):
        LocalObjectStore(tmp_path, "sometimes")  # type: ignore[arg-type]


def fail_writes(monkeypatch: pytest.MonkeyPatch, *, to_ledger: bool) -> None:
    """The disk fills up: a seam nothing real reaches in a test, so os.write is
    replaced, failing either object data or the ledger append."""
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.endswith("ledger.jsonl") == to_ledger:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_disk_full_while_writing_data_leaves_nothing(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writes(monkeypatch, to_ledger=False)
    batch = [NewObject("records/a.json", b"a", days_from_now(1)), NewObject("records/b", b"b")]
    with pytest.raises(StorageError, match="records/a.json") as caught:
        store.put_many(batch)
    assert "ENOSPC" in str(caught.value)
    monkeypatch.undo()
    assert all_files(store.root) == []
    assert ledger_lines(store.root) == []
    assert not store.exists("records/a.json")


def test_disk_full_while_recording_locks_publishes_nothing(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writes(monkeypatch, to_ledger=True)
    with pytest.raises(StorageError, match="nothing of this batch was stored"):
        store.put("records/a.json", b"a", retain_until=days_from_now(1))
    monkeypatch.undo()
    assert all_files(store.root) == []
    store.put("records/a.json", b"a", retain_until=days_from_now(1))  # the disk has room again
    assert store.lock_state("records/a.json").retain_until is not None


def run_unprivileged(action: Callable[[], str]) -> str:
    """Run `action` where file permissions bind. As root they do not (root
    writes into a 0o555 directory), so root forks a child that drops to
    'nobody' first: the kernel's real permission check, not a mock. Forking
    rather than exec'ing keeps the interpreter we have, which 'nobody' could
    not start from root's home. The action's result comes back as text."""
    if os.geteuid() != 0:
        return action()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_end)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = action()
        except PermissionError as exc:
            result = f"SKIP cannot drop privileges: {exc}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read().decode()
    os.waitpid(pid, 0)
    if output.startswith("SKIP"):
        pytest.skip(output)
    return output


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    # pytest's tmp_path sits under a 0o700 directory that 'nobody' cannot enter.
    path = Path(tempfile.mkdtemp(prefix="archiver-perm-"))
    path.chmod(0o755)
    yield path
    for directory in [path, *path.rglob("*")]:
        if directory.is_dir():
            directory.chmod(0o755)
    shutil.rmtree(path)


def test_permission_denied_is_a_storage_error_naming_the_key(world_readable_dir: Path) -> None:
    root = world_readable_dir / "objects"
    owner = LocalObjectStore(root)
    owner.check()
    owner.put("records/first.json", b"1", retain_until=days_from_now(1))
    (root / LEDGER_PATH).chmod(0o666)  # only the object directory refuses
    (root / "records").chmod(0o555)
    root.chmod(0o555)

    def attempt() -> str:
        outcome = []
        other = LocalObjectStore(root)
        try:
            other.put("records/second.json", b"2")
        except StorageError as exc:
            outcome.append(f"put: {exc}")
        try:
            LocalObjectStore(root / "sub").check()
        except StorageError as exc:
            outcome.append(f"check: {exc}")
        return "\n".join(outcome)

    outcome = run_unprivileged(attempt)
    assert "put: cannot write object 'records/second.json'" in outcome
    assert "EACCES" in outcome
    assert f"check: local object store at {root / 'sub'} is not usable" in outcome
    assert all_files(root) == ["records/first.json"]


def test_check_names_a_path_that_cannot_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    local = LocalObjectStore(tmp_path / "a-file" / "objects")
    with pytest.raises(StorageError, match="a-file/objects") as caught:
        local.check()
    assert "ENOTDIR" in str(caught.value)


def test_a_key_cannot_be_both_an_object_and_a_directory(store: LocalObjectStore) -> None:
    store.put("a/b", b"object")
    with pytest.raises(StorageError, match="directory") as as_directory:
        store.put("a", b"clash")
    assert not isinstance(as_directory.value, ObjectExistsError)
    with pytest.raises(StorageError, match="not a directory"):
        store.put("a/b/c", b"below an object")
    assert store.get("a/b") == b"object" and list(store.keys()) == ["a/b"]


def test_the_ledger_is_shared_by_stores_on_one_directory(tmp_path: Path) -> None:
    writer, reader = LocalObjectStore(tmp_path), LocalObjectStore(tmp_path)
    writer.put("r/1", b"1")
    assert reader.lock_state("r/1") == LockState(None, None, False)  # reader has loaded
    retain_until = days_from_now(1)
    writer.put("r/2", b"2", retain_until=retain_until)
    writer.set_legal_hold("r/1", True)
    assert reader.lock_state("r/2") == LockState(retain_until, "COMPLIANCE", False)
    with pytest.raises(RetentionError, match="legal hold"):
        reader.delete("r/1")
    restarted = LocalObjectStore(tmp_path)
    assert restarted.lock_state("r/1").legal_hold


def test_a_deleted_key_starts_again_without_its_old_lock(tmp_path: Path) -> None:
    now = LocalObjectStore(tmp_path)
    now.put("r/1", b"old", retain_until=days_from_now(1))
    next_week = LocalObjectStore(tmp_path, clock=lambda: datetime.now(UTC) + timedelta(days=7))
    next_week.delete("r/1")  # retention has run out by then
    now.put("r/1", b"new")
    assert now.lock_state("r/1") == LockState(None, None, False)
    assert [line["op"] for line in ledger_lines(tmp_path)] == ["put", "delete"]


def test_a_torn_ledger_line_from_a_crash_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = LocalObjectStore(tmp_path)
    first.put("r/1", b"1", legal_hold=True)
    with open(tmp_path / LEDGER_PATH, "ab") as ledger:
        ledger.write(b'{"op":"put","key":"r/2","ret')  # the crash cut this append short
    second = LocalObjectStore(tmp_path)
    second.put("r/3", b"3", legal_hold=True)
    with caplog.at_level(logging.WARNING):
        assert second.lock_state("r/3").legal_hold and second.lock_state("r/1").legal_hold
    assert "unreadable line" in caplog.text


def test_a_shrunken_ledger_is_refused(tmp_path: Path) -> None:
    local = LocalObjectStore(tmp_path)
    local.put("r/1", b"1", legal_hold=True)
    assert local.lock_state("r/1").legal_hold
    os.truncate(tmp_path / LEDGER_PATH, 0)
    with pytest.raises(StorageError, match="shrank"):
        local.lock_state("r/1")


def test_keys_skip_temp_files_the_ledger_and_foreign_names(store: LocalObjectStore) -> None:
    store.put("records/a.json", b"a", legal_hold=True)
    (store.root / "records" / ".a.json.123-4.tmp").write_bytes(b"debris of a crash")
    (store.root / "records" / "back\\slash").write_bytes(b"not one of ours")
    assert list(store.keys()) == ["records/a.json"]


def race_for_keys(root: str, worker: int, keys: list[str], barrier: object) -> list[bool]:
    """One contender: put each key at the same moment as the other process."""
    local = LocalObjectStore(root, "none")
    won = []
    for key in keys:
        barrier.wait()  # type: ignore[attr-defined]
        try:
            local.put(key, bytes([worker]) * 65536, legal_hold=True)
            won.append(True)
        except ObjectExistsError:
            won.append(False)
    return won


def test_two_processes_putting_one_key_have_exactly_one_winner(tmp_path: Path) -> None:
    keys = [f"race/{n:02d}.bin" for n in range(25)]
    context = multiprocessing.get_context("spawn")  # no threads of ours cross a fork
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        results = pool.starmap(
            race_for_keys, [(str(tmp_path), worker, keys, barrier) for worker in (1, 2)]
        )
    local = LocalObjectStore(tmp_path)
    for index, key in enumerate(keys):
        winners = [worker for worker, won in zip((1, 2), results, strict=True) if won[index]]
        assert len(winners) == 1, key
        assert local.get(key) == bytes(winners) * 65536
        assert local.lock_state(key).legal_hold
    assert all_files(tmp_path) == keys
