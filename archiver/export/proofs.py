"""Inclusion proofs for many leaves of one tree, in O(n) hashing overall.

`archiver.merkle.inclusion_proof` recomputes subtree roots for each proof
(O(n) per proof); a pack needs a proof for every record, so here the tree's
levels are built once (32 bytes per node in one bytearray per level) and each
proof is read off them in O(log n).

Bottom-up levels give exactly RFC 9162's tree: pairing neighbours and carrying
an odd last node up unchanged is the same as splitting at the largest power of
two below n (2.1.1); the audit path takes each level's sibling where one
exists, which is what PATH(m, D[n]) lists (2.1.3.1). The tests compare every
proof with archiver.merkle's for many tree sizes.

`ProofFiles` writes the proofs as lines of a few JSON Lines files rather than
one file per record: per-file costs (create, open, read, hash, list in both
manifests) are most of what writing and verifying a pack costs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from archiver.canonical import canonical_bytes
from archiver.export import paths
from archiver.export.bag import BagWriter, HashingFile
from archiver.merkle import EMPTY_ROOT, HASH_SIZE

PROOF_SCHEMA = "social-archiver/inclusion-proof/1"


class MerkleLevels:
    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        leaves = bytearray()
        for value in leaf_hashes:
            if len(value) != HASH_SIZE:
                raise ValueError(f"a leaf hash is {len(value)} bytes, not {HASH_SIZE}")
            leaves += value
        self.levels: list[bytes] = [bytes(leaves)]
        sha256 = hashlib.sha256
        while len(self.levels[-1]) > HASH_SIZE:
            below = self.levels[-1]
            count = len(below) // HASH_SIZE
            above = bytearray()
            pairs_end = (count // 2) * 2 * HASH_SIZE
            for offset in range(0, pairs_end, 2 * HASH_SIZE):
                above += sha256(b"\x01" + below[offset : offset + 2 * HASH_SIZE]).digest()
            if count % 2:
                above += below[pairs_end:]  # the odd last node rises unchanged
            self.levels.append(bytes(above))

    @property
    def size(self) -> int:
        return len(self.levels[0]) // HASH_SIZE

    def root(self) -> bytes:
        return self.levels[-1] if self.size else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        self._check(index)
        return self.levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE]

    def path(self, index: int) -> list[bytes]:
        """The audit path of leaf `index`, leaf side first (RFC 9162 2.1.3.1)."""
        self._check(index)
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling * HASH_SIZE < len(level):
                path.append(level[sibling * HASH_SIZE : (sibling + 1) * HASH_SIZE])
            index >>= 1
        return path

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of size {self.size}")


def proof_document(levels: MerkleLevels, record_id: str, leaf_index: int) -> bytes:
    """One record's proof: canonical JSON, so it hashes the same anywhere."""
    document: dict[str, Any] = {
        "schema": PROOF_SCHEMA,
        "record_id": record_id,
        "leaf_index": leaf_index,
        "leaf_hash": levels.leaf(leaf_index).hex(),
        "tree_size": levels.size,
        "root_hash": levels.root().hex(),
        "audit_path": [node.hex() for node in levels.path(leaf_index)],
    }
    return canonical_bytes(document)


class ProofFiles:
    """Each record's proof as one line of data/proofs/proofs-NNNNN.jsonl, in the
    order added, `per_file` lines a file. One file is open at a time and hashed
    as it is written (a bag payload file like any other), so memory does not
    grow with the pack. Closed on leaving a `with` block; an error aborts the
    open file (the bag writer then removes the whole pack)."""

    def __init__(
        self, writer: BagWriter, levels: MerkleLevels, per_file: int = paths.PROOFS_PER_FILE
    ) -> None:
        self._writer = writer
        self._levels = levels
        self._per_file = per_file
        self._file: HashingFile | None = None
        self._number = 0
        self._lines = 0

    def add(self, record_id: str, leaf_index: int) -> tuple[str, int]:
        """Write the record's proof; (file, line number) say where, for the report."""
        handle = self._file
        if handle is None or self._lines == self._per_file:
            handle = self._next_file()
        handle.write(proof_document(self._levels, record_id, leaf_index) + b"\n")
        self._lines += 1
        return handle.path, self._lines

    def _next_file(self) -> HashingFile:
        self._close()
        self._number += 1
        self._file = self._writer.create(paths.proofs_path(self._number))
        self._lines = 0
        return self._file

    def _close(self) -> None:
        if self._file is not None:
            self._writer.register(self._file.close())
            self._file = None

    def __enter__(self) -> ProofFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self._close()
        elif self._file is not None:
            self._file.abort()
