"""A third party with standard tools only: the script in docs/evidence-packs.md
(Python, hashlib only), sha256sum/sha512sum -c, and OpenSSL for the signature."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import bagit
import pytest

from tests.export.conftest import Pack

DOC = Path(__file__).parents[2] / "docs" / "evidence-packs.md"


def doc_script(tmp_path: Path) -> Path:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- check_proofs\.py -->\n```python\n(.*?)```", text, re.S)
    assert match, "the doc's proof script is missing"
    script = tmp_path / "check_proofs.py"
    script.write_text(match.group(1), encoding="utf-8")
    imports = set(re.findall(r"^(?:import|from) (\w+)", match.group(1), re.M))
    assert imports <= {"hashlib", "json", "sys", "pathlib"}  # the standard library only
    return script


def run_script(script: Path, pack: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(script), str(pack)], capture_output=True, text=True,
                          cwd=script.parent)  # fmt: skip


def test_the_docs_script_verifies_a_real_pack(pack: Pack, tmp_path: Path) -> None:
    result = run_script(doc_script(tmp_path), pack.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"{pack.result.records} records against tree size {pack.result.tree_size}" in result.stdout
    )
    assert "every proof holds" in result.stdout


def test_the_docs_script_catches_forged_repeated_and_missing_proofs(
    pack_copy: Path, tmp_path: Path
) -> None:
    script = doc_script(tmp_path)
    proofs_file = pack_copy / "data/proofs/proofs-00001.jsonl"
    lines = proofs_file.read_bytes().splitlines()
    forged = json.loads(lines[0])
    forged["audit_path"][-1] = "00" * 32
    dropped = json.loads(lines[2])["record_id"]
    repeated = json.loads(lines[1])["record_id"]
    proofs_file.write_bytes(
        b"\n".join([json.dumps(forged).encode(), lines[1], *lines[3:], lines[1], b"{"]) + b"\n"
    )
    record = pack_copy / "data/records" / f"{json.loads(lines[3])['record_id']}.json"
    record.write_bytes(record.read_bytes() + b" ")
    result = run_script(script, pack_copy)
    assert result.returncode == 1
    assert (
        f"FAIL proofs-00001.jsonl line 1: the proof of {forged['record_id']} does not lead to root"
        in result.stdout
    )
    assert (
        f"FAIL proofs-00001.jsonl line {len(lines)}: a second proof of {repeated}" in result.stdout
    )
    assert f"FAIL proofs-00001.jsonl line {len(lines) + 1}: not a readable proof" in result.stdout
    assert f"FAIL {dropped}.json: no proof" in result.stdout
    assert f"FAIL {record.name}: its SHA-256 is" in result.stdout


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils")
def test_sha256sum_and_sha512sum_check_the_manifests(pack: Pack, pack_copy: Path) -> None:
    for tool, manifest in (("sha256sum", "manifest-sha256.txt"), ("sha512sum", "manifest-sha512.txt"),
                           ("sha256sum", "tagmanifest-sha256.txt")):  # fmt: skip
        result = subprocess.run(
            [tool, "--strict", "-c", manifest], cwd=pack.path, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout[-500:] + result.stderr
    victim = sorted((pack_copy / "data/text").glob("*.txt"))[0]
    victim.write_text("changed")
    result = subprocess.run(["sha256sum", "--quiet", "-c", "manifest-sha256.txt"], cwd=pack_copy,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1 and f"data/text/{victim.name}: FAILED" in result.stdout


def _openssl_has_rawin() -> bool:
    if shutil.which("openssl") is None:
        return False
    help_text = subprocess.run(["openssl", "pkeyutl", "-help"], capture_output=True, text=True)
    return "-rawin" in help_text.stdout + help_text.stderr


@pytest.mark.skipif(not _openssl_has_rawin(), reason="needs OpenSSL 3 (pkeyutl -rawin)")
def test_openssl_checks_the_signature_and_key_id(pack: Pack, pack_copy: Path) -> None:
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "data/tree-head/public-key.pem", "-rawin",
               "-in", "data/tree-head/signed-tree-head.json", "-sigfile", "data/tree-head/signature.bin"]  # fmt: skip
    result = subprocess.run(command, cwd=pack.path, capture_output=True, text=True)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", "data/tree-head/public-key.pem", "-outform", "DER"],
                         cwd=pack.path, capture_output=True, check=True).stdout  # fmt: skip
    assert hashlib.sha256(der[-32:]).hexdigest() == pack.result.key_id
    signed = pack_copy / "data/tree-head/signed-tree-head.json"
    signed.write_bytes(signed.read_bytes().replace(b'"tree_size":', b'"tree_size":1', 1))
    assert subprocess.run(command, cwd=pack_copy, capture_output=True).returncode != 0


def test_bagit_command_line_style_validation_of_every_algorithm(pack: Pack) -> None:
    bag = bagit.Bag(str(pack.path))
    assert bag.is_valid(fast=True) and bag.is_valid()
    files = [p for p in (pack.path / "data").rglob("*") if p.is_file()]
    assert len(bag.payload_entries()) == len(files)
