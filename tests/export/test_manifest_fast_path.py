"""verify-pack compares manifests with the files present a block at a time when
both list exactly those files, in order, in plain lines (packs we write do), and
falls back to the line-by-line merge at the first difference. The fast path
must never change a verdict: on every kind of manifest change, with and without
it, the report is the same, and the cases BagIt allows (upper-case digests, one
space or a tab, CRLF, '*', percent-encoded names) still verify."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

import archiver.verify_pack as verify_module
from archiver.verify_pack import PackReport, verify_pack

MANIFEST = "manifest-sha256.txt"


def lines_of(pack: Path, name: str = MANIFEST) -> list[str]:
    return (pack / name).read_bytes().decode("utf-8").split("\n")[:-1]


def write_lines(pack: Path, lines: list[str], name: str = MANIFEST, end: str = "\n") -> None:
    (pack / name).write_bytes("".join(line + end for line in lines).encode("utf-8"))


def retag(pack: Path) -> None:
    """Tag manifests recomputed, so only the change under test is reported."""
    for algorithm in ("sha256", "sha512"):
        tags = ["bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
        digests = [hashlib.new(algorithm, (pack / t).read_bytes()).hexdigest() for t in tags]
        lines = [f"{digest}  {tag}" for digest, tag in zip(digests, tags, strict=True)]
        write_lines(pack, lines, f"tagmanifest-{algorithm}.txt")


def upper_case_digests(pack: Path) -> None:
    write_lines(pack, [line[:64].upper() + line[64:] for line in lines_of(pack)])


def one_space(pack: Path) -> None:
    write_lines(pack, [line.replace("  ", " ", 1) for line in lines_of(pack)])


def a_tab(pack: Path) -> None:
    write_lines(pack, [line.replace("  ", "\t", 1) for line in lines_of(pack)])


def binary_marker(pack: Path) -> None:
    write_lines(pack, [line.replace("  ", " *", 1) for line in lines_of(pack)])


def crlf(pack: Path) -> None:
    write_lines(pack, lines_of(pack), end="\r\n")


def a_blank_line_at_the_end(pack: Path) -> None:
    write_lines(pack, [*lines_of(pack), ""])


def a_percent_in_a_name(pack: Path) -> None:
    """A foreign bag's file named with '%': listed percent-encoded (RFC 8493 2.1.3)."""
    data = b"a note\n"
    (pack / "data" / "notes").mkdir()
    (pack / "data" / "notes" / "50%.txt").write_bytes(data)
    for algorithm in ("sha256", "sha512"):
        name = f"manifest-{algorithm}.txt"
        line = f"{hashlib.new(algorithm, data).hexdigest()}  data/notes/50%25.txt"
        write_lines(pack, sorted([*lines_of(pack, name), line]), name)
    info = (pack / "bag-info.txt").read_text()
    octets, files = info.split("Payload-Oxum: ")[1].split()[0].split(".")
    oxum = f"{int(octets) + len(data)}.{int(files) + 1}"
    (pack / "bag-info.txt").write_text(info.replace(f"{octets}.{files}", oxum))


def a_wrong_digest(pack: Path) -> None:
    lines = lines_of(pack)
    digit = "1" if lines[3][0] == "0" else "0"
    lines[3] = digit + lines[3][1:]
    write_lines(pack, lines)


def a_line_removed(pack: Path) -> None:
    lines = lines_of(pack)
    del lines[5]
    write_lines(pack, lines)


def a_line_repeated(pack: Path) -> None:
    lines = lines_of(pack)
    write_lines(pack, lines[:6] + lines[5:])


def a_line_for_a_missing_file_at_the_end(pack: Path) -> None:
    write_lines(pack, [*lines_of(pack), "0" * 64 + "  data/zzz.txt"])


def lines_reversed(pack: Path) -> None:
    write_lines(pack, lines_of(pack)[::-1])


def a_file_removed(pack: Path) -> None:
    sorted((pack / "data" / "text").iterdir())[0].unlink()


def a_file_added(pack: Path) -> None:
    (pack / "data" / "text" / "zz-extra.txt").write_text("not listed\n")


CHANGES: list[tuple[Callable[[Path], None], bool]] = [  # the change, whether the pack still holds
    (upper_case_digests, True),
    (one_space, True),
    (a_tab, True),
    (binary_marker, True),
    (crlf, True),
    (a_blank_line_at_the_end, True),
    (a_percent_in_a_name, True),
    (a_wrong_digest, False),
    (a_line_removed, False),
    (a_line_repeated, False),
    (a_line_for_a_missing_file_at_the_end, False),
    (lines_reversed, True),
    (a_file_removed, False),
    (a_file_added, False),
]


def careful_only(pack: Path, monkeypatch: pytest.MonkeyPatch) -> PackReport:
    def misaligned(*_: object) -> None:
        raise verify_module._Misaligned

    with monkeypatch.context() as patch:
        patch.setattr(verify_module, "_aligned_tasks", misaligned)
        return verify_pack(pack, workers=1)


def merged_carefully(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs of the careful merge from here on."""
    calls: list[int] = []
    original = verify_module._payload_entries

    def counting(*args: object) -> object:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "_payload_entries", counting)
    return calls


def test_an_intact_pack_is_checked_without_the_careful_merge(
    pack_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    careful = merged_carefully(monkeypatch)
    report = verify_pack(pack_copy, workers=1)
    assert report.ok and report.counts["files"] > 20
    assert careful == []


@pytest.mark.parametrize(("change", "holds"), CHANGES, ids=[c.__name__ for c, _ in CHANGES])
@pytest.mark.parametrize("workers", [1, 2])
def test_the_fast_path_never_changes_the_verdict(
    pack_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Path], None],
    holds: bool,
    workers: int,
) -> None:
    change(pack_copy)
    retag(pack_copy)
    careful = merged_carefully(monkeypatch)
    report = verify_pack(pack_copy, workers=workers)
    fell_back = careful != []
    assert report.ok is holds, report.failures
    assert report.failures == careful_only(pack_copy, monkeypatch).failures
    assert fell_back is (change is not a_wrong_digest)  # the only change the manifests agree on


def test_small_tasks_across_manifest_blocks(
    pack_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks of a few files each take their lines from manifests read in small
    blocks: a task's lines may span blocks."""
    monkeypatch.setattr(verify_module, "TASK_FILES", 3)
    monkeypatch.setattr(verify_module, "READ_CHUNK", 200)
    careful = merged_carefully(monkeypatch)
    assert verify_pack(pack_copy, workers=1).ok and careful == []
    a_wrong_digest(pack_copy)
    found = verify_pack(pack_copy, workers=1).failures
    assert [(f.check, f.algorithm) for f in found if f.path.startswith("data/")] == [
        ("manifest", "sha256")
    ]
