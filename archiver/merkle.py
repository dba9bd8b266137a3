"""An RFC 9162 (Certificate Transparency v2) Merkle tree over archived records.

The archive's append-only log is this tree: a signed tree head commits to every
record so far, an inclusion proof shows one record is in it, and a consistency
proof shows a later head only appended to an earlier one. Following RFC 9162
exactly (rather than a home-grown variant) lets any CT tool check our proofs.

All functions take leaf *hashes* (the output of `leaf_hash`), never raw leaf
data, so callers hash each record once and the tree code never sees records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from archiver.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256

# RFC 9162 2.1.1: domain-separation prefixes, so a leaf can never be passed off
# as an interior node (second-preimage protection).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

HASH_SIZE = 32
"""Bytes in every hash this module produces or accepts (SHA-256)."""

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""RFC 9162 2.1.1: MTH({}) = HASH(), the root of the empty tree."""


def leaf_hash(data: bytes) -> bytes:
    """Hash one leaf's data: SHA-256(0x00 || data) (RFC 9162 2.1.1)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split_point(size: int) -> int:
    """The largest power of two strictly below `size` (RFC 9162 2.1.1's k); size > 1."""
    return 1 << ((size - 1).bit_length() - 1)


def _fold_right(subtree_roots: list[bytes]) -> bytes:
    """Combine perfect-subtree roots (largest first) into the tree's root.

    The RFC's recursive split puts the largest perfect subtree on the left and
    the rest on the right, so the root is a right-to-left fold of the roots.
    Consumes the list.
    """
    if not subtree_roots:
        return EMPTY_ROOT
    pop = subtree_roots.pop
    root = pop()
    while subtree_roots:
        root = _sha256(_NODE_PREFIX + pop() + root).digest()
    return root


def _perfect_subtree_roots(leaf_hashes: Iterable[bytes]) -> tuple[int, list[bytes]]:
    """Fold leaves left to right into the roots of maximal perfect subtrees.

    After the i-th leaf, the stack holds one root per set bit of i, largest
    first; each leaf costs on average one node hash, so the whole tree is O(n)
    hashing with O(log n) working memory. Returns (leaf count, stack).
    """
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    sha256, prefix = _sha256, _NODE_PREFIX
    size = 0
    for size, node in enumerate(leaf_hashes, 1):
        count = size
        # Each trailing zero bit of the new count closes one perfect subtree.
        while not count & 1:
            node = sha256(prefix + pop() + node).digest()
            count >>= 1
        push(node)
    return size, stack


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash (RFC 9162 2.1.1) over already-hashed leaves."""
    return _fold_right(_perfect_subtree_roots(leaf_hashes)[1])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for leaf `index` in the tree of all `leaf_hashes`.

    RFC 9162 2.1.3.1 PATH(m, D[n]), unrolled: walk down from the root, taking
    the sibling subtree's hash at each split; the path lists them leaf first.
    Raises ValueError if `index` is not a leaf of the tree.
    """
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        split = start + _split_point(end - start)
        if index < split:
            siblings.append(root_hash(leaf_hashes[split:end]))
            end = split
        else:
            siblings.append(root_hash(leaf_hashes[start:split]))
            start = split
    siblings.reverse()
    return siblings


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Prove the tree of the first `old_size` leaves is a prefix of all `leaf_hashes`.

    RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), unrolled. The
    proof is empty when old_size equals the new size, and also when old_size is
    0: RFC 9162 defines proofs only for 0 < m, and every tree extends the empty
    tree, so there is nothing to prove (`verify_consistency` accepts only the
    empty proof there). Raises ValueError if old_size is not in 0..len.
    """
    new_size = len(leaf_hashes)
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is outside 0..{new_size} (the new size)")
    if old_size in (0, new_size):
        return []
    outer: list[bytes] = []  # hashes appended after the inner SUBPROOF, outermost first
    start, end, remaining = 0, new_size, old_size
    old_tree_is_whole_subtree = True  # the RFC's flag b
    while remaining != end - start:
        split = start + _split_point(end - start)
        if remaining <= split - start:
            outer.append(root_hash(leaf_hashes[split:end]))
            end = split
        else:
            outer.append(root_hash(leaf_hashes[start:split]))
            remaining -= split - start
            start = split
            old_tree_is_whole_subtree = False
    # SUBPROOF(m, D[m], b): nothing if this subtree is the whole old tree (the
    # verifier already knows its hash), else the subtree's own hash.
    proof = [] if old_tree_is_whole_subtree else [root_hash(leaf_hashes[start:end])]
    proof.extend(reversed(outer))
    return proof


def _check_size(what: str, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer, got {value!r}")


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, a SHA-256 hash is {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _check_hash(f"proof[{position}]", element)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` (a leaf *hash*) sits at `index` in the tree with head `root`.

    Follows RFC 9162 2.1.3.2 step by step. Returns None on success and raises
    ProofError saying what failed otherwise; there is no boolean result to
    forget to check. The proof binds the leaf to `root` only: a neighbouring
    tree size can give the same path shape, so take `tree_size` and `root` from
    the same signed tree head.
    """
    _check_size("leaf index", index)
    _check_size("tree size", tree_size)
    # Step 1: the leaf must lie inside the tree (so nothing is in an empty tree).
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is not below tree size {tree_size}")
    _check_hash("leaf hash", leaf)
    _check_hash("root hash", root)
    _check_proof_hashes(proof)

    fn, sn = index, tree_size - 1  # step 2
    computed = leaf  # step 3
    for sibling in proof:  # step 4
        if sn == 0:
            raise ProofError(
                f"inclusion proof for leaf {index} in a tree of size {tree_size} "
                f"is too long ({len(proof)} hashes)"
            )
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            # On the right edge (fn == sn, fn even) the node has no right
            # sibling on the next levels up; RFC 9162 promotes it unchanged
            # there, so skip those levels.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            computed = node_hash(computed, sibling)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise ProofError(
            f"inclusion proof for leaf {index} in a tree of size {tree_size} "
            f"is too short ({len(proof)} hashes)"
        )
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in a tree of size {tree_size} "
            f"gives root {computed.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check the tree with head `new_root` extends the one with head `old_root`.

    Follows RFC 9162 2.1.4.2. Two cases the RFC leaves out are decided here:
    equal sizes need an empty proof and equal roots, and old_size 0 needs an
    empty proof and old_root == EMPTY_ROOT (every tree extends the empty tree,
    but a size-0 head with any other root is not a valid head). Raises
    ProofError saying what failed; returns None on success.
    """
    _check_size("old size", old_size)
    _check_size("new size", new_size)
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof_hashes(proof)

    if old_size == 0:
        if proof:
            raise ProofError(f"consistency proof from size 0 must be empty, got {len(proof)}")
        if old_root != EMPTY_ROOT:
            raise ProofError(f"a tree of size 0 has root {EMPTY_ROOT.hex()}, got {old_root.hex()}")
        return
    if old_size == new_size:
        if proof:
            raise ProofError(
                f"consistency proof between equal sizes must be empty, got {len(proof)}"
            )
        if old_root != new_root:
            raise ProofError(
                f"trees of equal size {old_size} have different roots "
                f"{old_root.hex()} and {new_root.hex()}"
            )
        return

    # Step 1.
    if not proof:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} is empty")
    path = list(proof)
    # Step 2: a perfect old tree is itself a node of the new tree, so the
    # proof omits its hash; the verifier supplies it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    old_computed = new_computed = path[0]  # step 5
    for sibling in path[1:]:  # step 6
        if sn == 0:
            raise ProofError(
                f"consistency proof from size {old_size} to {new_size} "
                f"is too long ({len(proof)} hashes)"
            )
        if fn & 1 or fn == sn:
            old_computed = node_hash(sibling, old_computed)
            new_computed = node_hash(sibling, new_computed)
            while fn and not fn & 1:  # skip promoted levels, as in verify_inclusion
                fn >>= 1
                sn >>= 1
        else:
            new_computed = node_hash(new_computed, sibling)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} "
            f"is too short ({len(proof)} hashes)"
        )
    if old_computed != old_root:
        raise ProofError(
            f"consistency proof gives old root {old_computed.hex()} for size {old_size}, "
            f"expected {old_root.hex()}"
        )
    if new_computed != new_root:
        raise ProofError(
            f"consistency proof gives new root {new_computed.hex()} for size {new_size}, "
            f"expected {new_root.hex()}"
        )


class CompactRange:
    """The right edge of a growing tree: one root per perfect subtree.

    An ingest process appends leaf hashes here and can produce the current root
    at any time while keeping only O(log n) hashes, never the leaves. Save
    (`size`, `hashes`) and pass them back to the constructor to resume.
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        hashes = list(hashes)
        if size < 0:
            raise ValueError(f"size must be non-negative, got {size}")
        # One perfect subtree per set bit of the size, largest first.
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} perfect subtrees, "
                f"got {len(hashes)} hashes"
            )
        for position, value in enumerate(hashes):
            if len(value) != HASH_SIZE:
                raise ValueError(f"hashes[{position}] is {len(value)} bytes, not {HASH_SIZE}")
        self._size = size
        self._hashes = hashes

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """Build the range for a whole sequence of leaf hashes in one pass."""
        compact = cls()
        compact._size, compact._hashes = _perfect_subtree_roots(leaf_hashes)
        return compact

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash, merging the perfect subtrees it completes."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        node = leaf_hash
        count = self._size
        # Each trailing one bit of the old size is a subtree the new leaf completes.
        while count & 1:
            node = node_hash(self._hashes.pop(), node)
            count >>= 1
        self._hashes.append(node)
        self._size += 1

    def root(self) -> bytes:
        """The Merkle Tree Hash of every leaf appended so far (RFC 9162 2.1.1)."""
        return _fold_right(list(self._hashes))

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
