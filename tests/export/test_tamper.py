"""Tampering: one flipped byte, a removed file, an edited, removed, repeated or
garbled proof line, a stray proof file. Both the Library
of Congress `bagit` validator and `verify-pack` must fail, naming the file; and
when the tamperer also rewrites the manifests (so bagit is satisfied), the
record ids, proofs and signature still give it away."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import bagit
import pytest

from archiver.canonical import canonical_bytes
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
    assert any(
        f.check == "record" and f.path == relative and f.expected == record.stem for f in found
    )
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
    assert [(f.check, f.path) for f in found] == [
        ("record", record.relative_to(pack_copy).as_posix())
    ]


PROOFS = "data/proofs/proofs-00001.jsonl"


def proof_lines(pack: Path) -> list[bytes]:
    return (pack / PROOFS).read_bytes().splitlines(keepends=True)


def write_proof_lines(pack: Path, lines: list[bytes]) -> None:
    (pack / PROOFS).write_bytes(b"".join(lines))


def test_edited_proof_is_named_by_file_and_line(pack_copy: Path) -> None:
    lines = proof_lines(pack_copy)
    proof = json.loads(lines[6])
    first_hash = proof["audit_path"][0]
    edited = ("1" if first_hash[0] != "1" else "2") + first_hash[1:]  # same size: oxum holds
    lines[6] = lines[6].replace(first_hash.encode(), edited.encode())
    write_proof_lines(pack_copy, lines)
    errors = bagit_errors(pack_copy)
    assert any(isinstance(e, bagit.ChecksumMismatch) and e.path == PROOFS for e in errors)
    found = failures(pack_copy)
    assert any(f.check == "manifest" and f.path == PROOFS for f in found)
    rebag(pack_copy)
    [failure] = failures(pack_copy)
    assert (failure.check, failure.path) == ("proof", f"{PROOFS} line 7")
    assert f"record {proof['record_id']}: does not lead to the signed root" in failure.message
    assert failure.line().startswith(f"FAIL [proof] {PROOFS} line 7: record {proof['record_id']}")


def test_removed_proof_line_leaves_its_record_unproven(pack_copy: Path) -> None:
    lines = proof_lines(pack_copy)
    record_id = json.loads(lines.pop(3))["record_id"]
    write_proof_lines(pack_copy, lines)
    rebag(pack_copy)
    found = failures(pack_copy)
    assert [(f.check, f.path, f.message) for f in found] == [
        ("proof", f"data/records/{record_id}.json", "has no inclusion proof in data/proofs/")
    ]


def test_duplicated_proof_line_is_named_where_it_repeats(pack_copy: Path) -> None:
    lines = proof_lines(pack_copy)
    record_id = json.loads(lines[2])["record_id"]
    write_proof_lines(pack_copy, [*lines, lines[2]])
    rebag(pack_copy)
    found = failures(pack_copy)
    assert [(f.check, f.path, f.message) for f in found] == [
        ("proof", f"{PROOFS} line {len(lines) + 1}", f"proves record {record_id} a second time")
    ]


@pytest.mark.parametrize(
    ("garbage", "says"),
    [
        (b"not json at all\n", "not a readable inclusion proof"),
        (b"\xff\xfe\n", "not a readable inclusion proof"),
        (b"[" * 100_000 + b"\n", "not a readable inclusion proof"),
        (b'{"schema": "social-archiver/inclusion-proof/1"}\n', "not in canonical form"),
        (b'["a","list"]\n', "not a JSON object of exactly"),
    ],
)
def test_garbage_proof_line_is_a_named_failure(pack_copy: Path, garbage: bytes, says: str) -> None:
    lines = proof_lines(pack_copy)
    record_id = json.loads(lines[4])["record_id"]
    lines[4] = garbage
    write_proof_lines(pack_copy, lines)
    rebag(pack_copy)
    found = {(f.check, f.path): f.message for f in failures(pack_copy)}
    assert found.keys() == {
        ("proof", f"{PROOFS} line 5"),
        ("proof", f"data/records/{record_id}.json"),
    }
    assert says in found[("proof", f"{PROOFS} line 5")]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("leaf_index", "3", "leaf_index is not a non-negative integer"),
        ("leaf_index", True, "leaf_index is not a non-negative integer"),
        ("tree_size", -1, "tree_size is not a non-negative integer"),
        ("record_id", "AB" * 32, "record_id is not a lower-case hex SHA-256"),
        ("audit_path", ["ab" * 31 + " a"], "audit_path is not a list of lower-case hex"),
        ("audit_path", ["AB" * 32], "audit_path is not a list of lower-case hex"),
        ("audit_path", [7], "audit_path is not a list of hex"),
        ("audit_path", "ab" * 32, "audit_path is not a list of hex"),
        ("schema", "social-archiver/inclusion-proof/2", "schema is"),
        ("extra", 1, "not a JSON object of exactly"),
    ],
)
def test_proof_line_with_wrong_types_is_a_named_failure(
    pack_copy: Path, field: str, value: object, says: str
) -> None:
    lines = proof_lines(pack_copy)
    proof = json.loads(lines[0])
    proof[field] = value
    lines[0] = canonical_bytes(proof) + b"\n"
    write_proof_lines(pack_copy, lines)
    rebag(pack_copy)
    found = [f for f in failures(pack_copy) if f.path == f"{PROOFS} line 1"]
    assert [f.check for f in found] == ["proof"] and says in found[0].message


def test_proofs_file_without_its_last_newline(pack_copy: Path) -> None:
    lines = proof_lines(pack_copy)
    lines[-1] = lines[-1].rstrip(b"\n")
    write_proof_lines(pack_copy, lines)
    rebag(pack_copy)
    found = failures(pack_copy)
    assert [(f.path, f.message) for f in found] == [
        (f"{PROOFS} line {len(lines)}", "the last line does not end with a newline")
    ]


def test_stray_file_among_the_proofs(pack_copy: Path) -> None:
    """A per-record proof file (the old layout) is not a proofs file, even if valid."""
    record_id = json.loads(proof_lines(pack_copy)[0])["record_id"]
    stray = f"data/proofs/{record_id}.json"
    (pack_copy / stray).write_bytes(proof_lines(pack_copy)[0].rstrip(b"\n"))
    rebag(pack_copy)
    found = failures(pack_copy)
    assert [(f.check, f.path, f.message) for f in found] == [
        ("proof", stray, "not a proofs file name (data/proofs/proofs-NNNNN.jsonl)")
    ]


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
    unreached = {
        f.path
        for f in found
        if f.check == "proof" and "does not lead to the signed root" in f.message
    }
    assert unreached == {f"{PROOFS} line {n}" for n in range(1, len(proof_lines(pack_copy)) + 1)}


def test_expected_key_id_is_enforced(pack_copy: Path) -> None:
    assert verify_pack(pack_copy, expect_key_id=verify_pack(pack_copy).key_id).ok
    report = verify_pack(pack_copy, expect_key_id="00" * 32)
    assert [f.message for f in report.failures] == [
        "signed by a different key than the one expected"
    ]


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


@pytest.mark.parametrize("block", [1 << 20, 256], ids=["one-block", "many-blocks"])
def test_a_bad_manifest_line_is_named_by_its_number_among_plain_ones(
    pack_copy: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain manifest lines are matched a block at a time; a block holding a bad
    line, a CRLF line or a blank one is read line by line, and the bad line keeps
    its true number whichever block it falls in."""
    import archiver.verify_pack as verify_module

    monkeypatch.setattr(verify_module, "READ_CHUNK", block)
    manifest = pack_copy / "manifest-sha256.txt"
    lines = manifest.read_text().splitlines()
    bad = len(lines) - 3
    wrong = lines[bad]
    lines[bad] = "not a manifest line"
    lines[2] += "\r"  # still a good line, read the slow way
    manifest.write_text("\n".join(lines[:5] + [""] + lines[5:]) + "\n")
    found = {(f.check, f.path, f.message) for f in failures(pack_copy)}
    message = f"line {bad + 2} is not '<sha256> <path>'"
    assert ("manifest", "manifest-sha256.txt", message) in found
    missing = wrong.split("  ", 1)[1]
    assert ("manifest", missing, "in data/ but not listed in manifest-sha256.txt") in found
    assert all(f[1] in ("manifest-sha256.txt", missing) for f in found), found


def test_strict_mode_also_checks_that_records_are_canonical(tmp_path: Path) -> None:
    """A record whose id matches its bytes but which is not canonical JSON (the
    archive stored it so: not tampering, which the id and its proof would show) is
    reported only in strict mode."""
    from archiver.verify_pack import PassResult, _check_record

    record = {"schema": "social-archiver/record/1", "media": [{"sha256": "ab" * 32}]}
    for data, canonical in ((canonical_bytes(record), True), (json.dumps(record).encode(), False)):
        record_id = hashlib.sha256(data).hexdigest()
        for strict in (False, True):
            result = PassResult()
            _check_record(f"data/records/{record_id}.json", data, record_id, result, strict)
            assert result.records == [record_id]
            messages = [f.message for f in result.failures]
            if strict and not canonical:
                assert len(messages) == 1 and "not canonical JSON" in messages[0]
            else:
                assert messages == [] and result.media_refs == {"ab" * 32}
