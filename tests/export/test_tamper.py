"""Tampering: one flipped byte, a removed file, an edited proof. Both the Library
of Congress `bagit` validator and `verify-pack` must fail, naming the file; and
when the tamperer also rewrites the manifests (so bagit is satisfied), the
record ids, proofs and signature still give it away."""

from __future__ import annotations

import json
from pathlib import Path

import bagit
import pytest

from archiver.verify_pack import EXIT_FAILED, Failure, verify_pack


def bagit_errors(path: Path) -> list[bagit.BagValidationError]:
    with pytest.raises(bagit.BagValidationError) as caught:
        bagit.Bag(str(path)).validate()
    return caught.value.details or [caught.value]


def failures(path: Path) -> list[Failure]:
    report = verify_pack(path)
    assert not report.ok and report.exit_code == EXIT_FAILED
    return report.failures


def a_record(pack: Path) -> Path:
    return sorted((pack / "data" / "records").glob("*.json"))[0]


def flip_byte(file: Path, offset: int = 10) -> None:
    data = bytearray(file.read_bytes())
    data[offset] ^= 0x01
    file.chmod(0o644)
    file.write_bytes(bytes(data))


def rebag(path: Path) -> None:
    """What a careful tamperer does next: recompute every manifest and the oxum."""
    bag = bagit.Bag(str(path))
    bag.save(manifests=True)
    bag.validate()


def test_flipped_byte_in_a_record(pack_copy: Path) -> None:
    record = a_record(pack_copy)
    relative = record.relative_to(pack_copy).as_posix()
    flip_byte(record)
    errors = bagit_errors(pack_copy)
    mismatches = [e for e in errors if isinstance(e, bagit.ChecksumMismatch)]
    assert {e.path for e in mismatches} == {relative}
    assert {e.algorithm for e in mismatches} == {"sha256", "sha512"}
    found = failures(pack_copy)
    checksum = [f for f in found if f.check == "manifest" and f.path == relative]
    assert {f.algorithm for f in checksum} == {"sha256", "sha512"}
    sha256 = next(f for f in checksum if f.algorithm == "sha256")
    assert sha256.expected == record.stem and sha256.found != record.stem
    assert any(f.check == "record" and f.path == relative and f.expected == record.stem for f in found)
    assert "expected " + record.stem in sha256.line()


def test_flipped_byte_with_rewritten_manifests_is_still_caught(pack_copy: Path) -> None:
    record = a_record(pack_copy)
    flip_byte(record)
    rebag(pack_copy)  # bagit is now satisfied
    found = failures(pack_copy)
    assert [f.check for f in found] == ["record"] or {f.check for f in found} <= {"record"}
    assert any("re-derived" in f.message for f in found)


def test_removed_file(pack_copy: Path) -> None:
    record = a_record(pack_copy)
    relative = record.relative_to(pack_copy).as_posix()
    record.unlink()
    errors = bagit_errors(pack_copy)  # bagit's first check, the oxum, already fails
    assert any("Payload-Oxum validation failed" in str(e) for e in errors)
    found = failures(pack_copy)
    assert any(f.path == relative and "missing from the pack" in f.message for f in found)
    assert any(f.path == relative and "a proof names this record" in f.message for f in found)
    assert any(f.check == "oxum" for f in found)


def test_removed_file_with_rewritten_manifests_is_still_caught(pack_copy: Path) -> None:
    record = a_record(pack_copy)
    record.unlink()
    rebag(pack_copy)
    found = failures(pack_copy)
    assert [(f.check, f.path) for f in found] == [("record", record.relative_to(pack_copy).as_posix())]


def test_edited_proof(pack_copy: Path) -> None:
    proof_file = sorted((pack_copy / "data" / "proofs").glob("*.json"))[0]
    relative = proof_file.relative_to(pack_copy).as_posix()
    text = proof_file.read_text()
    first_hash = json.loads(text)["audit_path"][0]
    edited = ("1" if first_hash[0] != "1" else "2") + first_hash[1:]  # same size: oxum holds
    proof_file.write_text(text.replace(first_hash, edited))
    errors = bagit_errors(pack_copy)
    assert any(isinstance(e, bagit.ChecksumMismatch) and e.path == relative for e in errors)
    found = failures(pack_copy)
    assert any(f.check == "manifest" and f.path == relative for f in found)
    assert any(f.check == "proof" and f.path == relative and "signed root" in f.message for f in found)
    rebag(pack_copy)
    assert [(f.check, f.path) for f in failures(pack_copy)] == [("proof", relative)]


def test_added_payload_file(pack_copy: Path) -> None:
    (pack_copy / "data" / "records" / "extra.json").write_text("{}")
    errors = bagit_errors(pack_copy)
    assert any("Payload-Oxum validation failed" in str(e) for e in errors)
    found = failures(pack_copy)
    assert any(f.path == "data/records/extra.json" and "not listed" in f.message for f in found)


def test_edited_tag_file(pack_copy: Path) -> None:
    info = pack_copy / "bag-info.txt"
    info.write_text(info.read_text().replace("Harbour", "Harbor"))
    errors = bagit_errors(pack_copy)
    assert any(isinstance(e, bagit.ChecksumMismatch) and e.path == "bag-info.txt" for e in errors)
    found = failures(pack_copy)
    assert {f.algorithm for f in found if f.path == "bag-info.txt"} == {"sha256", "sha512"}


def test_forged_tree_head(pack_copy: Path) -> None:
    """A different root in the checkpoint: the signature fails, and every proof."""
    checkpoint_file = pack_copy / "data/tree-head/checkpoint.json"
    checkpoint = json.loads(checkpoint_file.read_bytes())
    checkpoint["tree_head"]["root_hash"] = "ab" * 32
    checkpoint_file.write_text(json.dumps(checkpoint))
    rebag(pack_copy)
    found = failures(pack_copy)
    assert any(f.check == "tree-head" and "signature" in f.message for f in found)
    assert any(f.check == "tree-head" and f.path.endswith("signed-tree-head.json") for f in found)
    assert sum(f.check == "proof" for f in found) == len(list((pack_copy / "data/proofs").iterdir()))


def test_expected_key_id_is_enforced(pack_copy: Path) -> None:
    assert verify_pack(pack_copy, expect_key_id=verify_pack(pack_copy).key_id).ok
    report = verify_pack(pack_copy, expect_key_id="00" * 32)
    assert [f.message for f in report.failures] == ["signed by a different key than the one expected"]


def test_symlink_inside_the_pack_is_reported_not_followed(pack_copy: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the pack")
    (pack_copy / "data" / "link.txt").symlink_to(secret)
    found = failures(pack_copy)
    assert any(f.path == "data/link.txt" and "symlink" in f.message for f in found)


def test_unsorted_and_duplicated_manifest_lines(pack_copy: Path) -> None:
    """Foreign bags may list files in any order: still checked, only the changed
    tag file is reported; a path listed twice is named."""
    manifest = pack_copy / "manifest-sha256.txt"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(reversed(lines)) + "\n")
    found = failures(pack_copy)
    assert {(f.check, f.path) for f in found} == {("manifest", "manifest-sha256.txt")}
    manifest.write_text("\n".join(lines + lines[:1]) + "\n")
    found = failures(pack_copy)
    assert any("a second time" in f.message and lines[0].split("  ")[1] in f.message for f in found)
