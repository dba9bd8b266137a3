"""The RFC 9162 Merkle tree: published vectors, the RFC's own recursive
definitions as a reference, and exhaustive or sampled proofs for many sizes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.errors import ProofError
from archiver.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# --- Published test vectors -------------------------------------------------
# Leaf inputs, node hashes and roots: transparency-dev/merkle, testonly/constants.go
# (LeafInputs, NodeHashes, RootHashes). The same data appears in RFC 6962-era
# google/certificate-transparency tests.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

# NODE_HASHES[level][index]: every perfect subtree of the 8-leaf tree.
NODE_HASHES = [
    [
        bytes.fromhex(h)
        for h in (
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        )
    ],
    [
        bytes.fromhex(h)
        for h in (
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        )
    ],
    [
        bytes.fromhex(h)
        for h in (
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        )
    ],
    [bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# ROOTS[size] for the first `size` leaf inputs, size 0..8.
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

# Proofs with literal hashes: transparency-dev/merkle, proof/verify_test.go
# (inclusionProofs, consistencyProofs). That file numbers leaves from 1; the
# indices below are converted to 0-based.
PUBLISHED_INCLUSION = [  # (index, tree_size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

PUBLISHED_CONSISTENCY = [  # (old_size, new_size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def _node(level: int, index: int) -> bytes:
    return NODE_HASHES[level][index]


def _ij() -> bytes:
    # transparency-dev/merkle's "rehash" of (j, i): the size-7 tree has no
    # node (1, 3), so leaf 6 (j) is paired with node (1, 2) (i) directly.
    return node_hash(_node(1, 2), _node(0, 6))


# Expected proof node layouts from transparency-dev/merkle, proof/proof_test.go
# (TestInclusion, TestConsistency), given there as (level, index) node ids over
# the same leaves; resolved here to hashes through NODE_HASHES.
NODE_ID_INCLUSION: list[tuple[int, int, Callable[[], list[bytes]]]] = [
    (0, 1, lambda: []),
    (0, 2, lambda: [_node(0, 1)]),
    (1, 2, lambda: [_node(0, 0)]),
    (1, 3, lambda: [_node(0, 0), _node(0, 2)]),
    (0, 7, lambda: [_node(0, 1), _node(1, 1), _ij()]),
    (1, 7, lambda: [_node(0, 0), _node(1, 1), _ij()]),
    (2, 7, lambda: [_node(0, 3), _node(1, 0), _ij()]),
    (3, 7, lambda: [_node(0, 2), _node(1, 0), _ij()]),
    (4, 7, lambda: [_node(0, 5), _node(0, 6), _node(2, 0)]),
    (5, 7, lambda: [_node(0, 4), _node(0, 6), _node(2, 0)]),
    (6, 7, lambda: [_node(1, 2), _node(2, 0)]),
    (2, 4, lambda: [_node(0, 3), _node(1, 0)]),
    (3, 5, lambda: [_node(0, 2), _node(1, 0), _node(0, 4)]),
    (3, 6, lambda: [_node(0, 2), _node(1, 0), _node(1, 2)]),
    (4, 6, lambda: [_node(0, 5), _node(2, 0)]),
]

NODE_ID_CONSISTENCY: list[tuple[int, int, Callable[[], list[bytes]]]] = [
    (1, 2, lambda: [_node(0, 1)]),
    (1, 4, lambda: [_node(0, 1), _node(1, 1)]),
    (1, 6, lambda: [_node(0, 1), _node(1, 1), _node(1, 2)]),
    (2, 3, lambda: [_node(0, 2)]),
    (2, 8, lambda: [_node(1, 1), _node(2, 1)]),
    (3, 7, lambda: [_node(0, 2), _node(0, 3), _node(1, 0), _ij()]),
    (4, 7, lambda: [_ij()]),
    (5, 7, lambda: [_node(0, 4), _node(0, 5), _node(0, 6), _node(2, 0)]),
    (6, 7, lambda: [_node(1, 2), _node(0, 6), _node(2, 0)]),
    (7, 8, lambda: [_node(0, 6), _node(0, 7), _node(1, 2), _node(2, 0)]),
    (2, 4, lambda: [_node(1, 1)]),
    (3, 5, lambda: [_node(0, 2), _node(0, 3), _node(1, 0), _node(0, 4)]),
    (3, 6, lambda: [_node(0, 2), _node(0, 3), _node(1, 0), _node(1, 2)]),
    (4, 6, lambda: [_node(1, 2)]),
    (1, 7, lambda: [_node(0, 1), _node(1, 1), _ij()]),
]

VECTOR_LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]

# --- Reference: RFC 9162 2.1 definitions, transcribed literally ------------


def _k(n: int) -> int:
    """Largest power of two strictly less than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.1 MTH, over already-hashed leaves."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _k(n)
    return hashlib.sha256(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:])).digest()


def reference_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return reference_path(m, leaves[:k]) + [reference_mth(leaves[k:])]
    return reference_path(m - k, leaves[k:]) + [reference_mth(leaves[:k])]


def reference_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [reference_mth(leaves)]
    k = _k(n)
    if m <= k:
        return reference_subproof(m, leaves[:k], b) + [reference_mth(leaves[k:])]
    return reference_subproof(m - k, leaves[k:], False) + [reference_mth(leaves[:k])]


# --- Shared data for property tests ------------------------------------------

MAX_SIZE = 300
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE)]
PREFIX_ROOTS = [reference_mth(LEAVES[:size]) for size in range(MAX_SIZE + 1)]
OTHER_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def flip(proof: Sequence[bytes], position: int, byte: int = 0) -> list[bytes]:
    """A copy of `proof` with one bit of one element flipped."""
    tampered = list(proof)
    element = bytearray(tampered[position])
    element[byte] ^= 0x08
    tampered[position] = bytes(element)
    return tampered


def assert_inclusion_tamper_fails(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    """Every corruption that must break an inclusion proof does (modelled on
    transparency-dev/merkle's corruptInclusionProof)."""
    probes: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (leaf_hash(b"wrong leaf"), index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, OTHER_HASH),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, [*proof, b""], root),
    ]
    if index > 0:
        probes.append((leaf, index - 1, size, proof, root))
    for position in range(len(proof)):
        probes.append((leaf, index, size, flip(proof, position), root))
        probes.append((leaf, index, size, flip(proof, position, byte=31), root))
    if proof:
        probes.append((leaf, index, size, proof[:-1], root))
    if len(proof) > 1:
        probes.append((leaf, index, size, [proof[0], OTHER_HASH, *proof[1:]], root))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_inclusion(*probe)


def assert_consistency_tamper_fails(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    """Every corruption that must break a consistency proof does (modelled on
    transparency-dev/merkle's corruptConsistencyProof)."""
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old_size - 1, new_size, old_root, new_root, proof),
        (old_size + 1, new_size, old_root, new_root, proof),
        (old_size ^ 2, new_size, old_root, new_root, proof),
        (old_size, new_size * 2, old_root, new_root, proof),
        (old_size, new_size // 2, old_root, new_root, proof),
        (old_size, new_size, OTHER_HASH, new_root, proof),
        (old_size, new_size, old_root, OTHER_HASH, proof),
        (old_size, new_size, new_root, old_root, proof),
        (old_size, new_size, old_root, new_root, []),
        (old_size, new_size, old_root, new_root, [*proof, old_root]),
        (old_size, new_size, old_root, new_root, [*proof, new_root]),
        (old_size, new_size, old_root, new_root, [old_root, *proof]),
        (old_size, new_size, old_root, new_root, [new_root, *proof]),
        (old_size, new_size, old_root, new_root, [proof[0], *proof]),
        (old_size, new_size, old_root, new_root, proof[:-1]),
    ]
    for position in range(len(proof)):
        probes.append((old_size, new_size, old_root, new_root, flip(proof, position)))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_consistency(*probe)


# --- Published vectors ---------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert EMPTY_ROOT.hex() == expected
    assert root_hash([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_match_published_vectors() -> None:
    assert VECTOR_LEAVES == NODE_HASHES[0]
    for level in range(1, len(NODE_HASHES)):
        below = NODE_HASHES[level - 1]
        assert NODE_HASHES[level] == [
            node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)
        ]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_published_vectors(size: int) -> None:
    assert root_hash(VECTOR_LEAVES[:size]) == ROOTS[size]
    assert CompactRange.from_leaf_hashes(VECTOR_LEAVES[:size]).root() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof_hex"), PUBLISHED_INCLUSION)
def test_inclusion_matches_published_vectors(index: int, size: int, proof_hex: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in proof_hex]
    assert inclusion_proof(VECTOR_LEAVES[:size], index) == proof
    verify_inclusion(VECTOR_LEAVES[index], index, size, proof, ROOTS[size])
    assert_inclusion_tamper_fails(VECTOR_LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("old_size", "new_size", "proof_hex"), PUBLISHED_CONSISTENCY)
def test_consistency_matches_published_vectors(
    old_size: int, new_size: int, proof_hex: list[str]
) -> None:
    proof = [bytes.fromhex(h) for h in proof_hex]
    assert consistency_proof(VECTOR_LEAVES[:new_size], old_size) == proof
    verify_consistency(old_size, new_size, ROOTS[old_size], ROOTS[new_size], proof)
    if proof:
        assert_consistency_tamper_fails(old_size, new_size, ROOTS[old_size], ROOTS[new_size], proof)


@pytest.mark.parametrize(("index", "size", "expected"), NODE_ID_INCLUSION)
def test_inclusion_matches_published_node_layouts(
    index: int, size: int, expected: Callable[[], list[bytes]]
) -> None:
    proof = inclusion_proof(VECTOR_LEAVES[:size], index)
    assert proof == expected()
    verify_inclusion(VECTOR_LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("old_size", "new_size", "expected"), NODE_ID_CONSISTENCY)
def test_consistency_matches_published_node_layouts(
    old_size: int, new_size: int, expected: Callable[[], list[bytes]]
) -> None:
    proof = consistency_proof(VECTOR_LEAVES[:new_size], old_size)
    assert proof == expected()
    verify_consistency(old_size, new_size, ROOTS[old_size], ROOTS[new_size], proof)


# --- Against the RFC's recursive definitions ---------------------------------


def test_root_hash_matches_reference_for_every_size() -> None:
    for size in range(MAX_SIZE + 1):
        assert root_hash(LEAVES[:size]) == PREFIX_ROOTS[size], size


def test_proofs_match_reference_definitions() -> None:
    for size in range(1, 65):
        leaves = LEAVES[:size]
        for index in range(size):
            assert inclusion_proof(leaves, index) == reference_path(index, leaves), (index, size)
        for old_size in range(1, size + 1):
            expected = reference_subproof(old_size, leaves, True)
            assert consistency_proof(leaves, old_size) == expected, (old_size, size)


# --- Exhaustive and sampled proofs --------------------------------------------


def _sample_indices(size: int) -> list[int]:
    """Every index for small trees; edges, powers of two and a stride otherwise."""
    if size <= 96:
        return list(range(size))
    picks = {0, 1, size // 2, size - 2, size - 1}
    picks.update(p for p in (2**e for e in range(size.bit_length())) if p < size)
    picks.update(p - 1 for p in (2**e for e in range(1, size.bit_length())) if p <= size)
    picks.update(range(3, size, 37))
    return sorted(picks)


def test_inclusion_proofs_verify_and_resist_tampering_for_sizes_up_to_300() -> None:
    for size in range(1, MAX_SIZE + 1):
        leaves = LEAVES[:size]
        root = PREFIX_ROOTS[size]
        for index in _sample_indices(size):
            proof = inclusion_proof(leaves, index)
            verify_inclusion(leaves[index], index, size, proof, root)
            assert_inclusion_tamper_fails(leaves[index], index, size, proof, root)


def test_consistency_proofs_verify_and_resist_tampering_up_to_100() -> None:
    for new_size in range(1, 101):
        leaves = LEAVES[:new_size]
        for old_size in range(0, new_size + 1):
            proof = consistency_proof(leaves, old_size)
            old_root, new_root = PREFIX_ROOTS[old_size], PREFIX_ROOTS[new_size]
            verify_consistency(old_size, new_size, old_root, new_root, proof)
            if old_size in (0, new_size):
                assert proof == []
            else:
                assert_consistency_tamper_fails(old_size, new_size, old_root, new_root, proof)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=4000))
def test_inclusion_proofs_verify_for_sampled_large_trees(data: st.DataObject, size: int) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    root = root_hash(leaves)
    proof = inclusion_proof(leaves, index)
    verify_inclusion(leaves[index], index, size, proof, root)
    assert_inclusion_tamper_fails(leaves[index], index, size, proof, root)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), new_size=st.integers(min_value=2, max_value=4000))
def test_consistency_proofs_verify_for_sampled_large_trees(
    data: st.DataObject, new_size: int
) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(new_size)]
    old_size = data.draw(st.integers(min_value=1, max_value=new_size - 1), label="old_size")
    old_root, new_root = root_hash(leaves[:old_size]), root_hash(leaves)
    proof = consistency_proof(leaves, old_size)
    verify_consistency(old_size, new_size, old_root, new_root, proof)
    assert_consistency_tamper_fails(old_size, new_size, old_root, new_root, proof)


def test_tree_size_is_bound_only_through_the_root() -> None:
    # RFC 9162 proofs do not encode the tree size: leaf 0's path in a tree of 3
    # has the same shape as in a tree of 4, so it also "verifies" at size 4
    # against the size-3 root. Callers must take size and root from one signed
    # tree head; this pins the behaviour so nobody relies on the size check.
    proof = inclusion_proof(VECTOR_LEAVES[:3], 0)
    verify_inclusion(VECTOR_LEAVES[0], 0, 4, proof, ROOTS[3])
    with pytest.raises(ProofError):
        verify_inclusion(VECTOR_LEAVES[0], 0, 4, proof, ROOTS[4])


# --- Edge cases ------------------------------------------------------------------


def test_nothing_is_included_in_an_empty_tree() -> None:
    with pytest.raises(ProofError, match="not below tree size 0"):
        verify_inclusion(leaf_hash(b""), 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ValueError, match="outside a tree of size 0"):
        inclusion_proof([], 0)


def test_single_leaf_tree_has_empty_path_and_root_equal_to_leaf() -> None:
    leaf = leaf_hash(b"data")
    assert inclusion_proof([leaf], 0) == []
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(ProofError, match="gives root"):
        verify_inclusion(leaf, 0, 1, [], OTHER_HASH)
    with pytest.raises(ProofError, match="leaf hash is 0 bytes"):
        verify_inclusion(b"", 0, 1, [], leaf)
    with pytest.raises(ProofError, match="root hash is 0 bytes"):
        verify_inclusion(leaf, 0, 1, [], b"")


@pytest.mark.parametrize("index", [-1, 5, 6])
def test_inclusion_proof_rejects_out_of_range_index(index: int) -> None:
    with pytest.raises(ValueError, match="outside a tree of size 5"):
        inclusion_proof(VECTOR_LEAVES[:5], index)


@pytest.mark.parametrize(("index", "size"), [(-1, 4), (4, 4), (9, 4), (0, -1)])
def test_verify_inclusion_rejects_impossible_positions(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(VECTOR_LEAVES[0], index, size, [], ROOTS[4])


def test_verify_inclusion_names_a_too_long_and_too_short_proof() -> None:
    proof = inclusion_proof(VECTOR_LEAVES, 3)
    with pytest.raises(ProofError, match=r"is too long \(4 hashes\)"):
        verify_inclusion(VECTOR_LEAVES[3], 3, 8, [*proof, OTHER_HASH], ROOTS[8])
    with pytest.raises(ProofError, match="too short"):
        verify_inclusion(VECTOR_LEAVES[3], 3, 8, proof[:-1], ROOTS[8])
    with pytest.raises(ProofError, match=r"proof\[1\] is 31 bytes"):
        verify_inclusion(VECTOR_LEAVES[3], 3, 8, [proof[0], proof[1][:31], proof[2]], ROOTS[8])


@pytest.mark.parametrize("old_size", [-1, 9])
def test_consistency_proof_rejects_out_of_range_old_size(old_size: int) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.8"):
        consistency_proof(VECTOR_LEAVES, old_size)


def test_consistency_between_equal_sizes_needs_empty_proof_and_equal_roots() -> None:
    assert consistency_proof(VECTOR_LEAVES[:5], 5) == []
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[5], [EMPTY_ROOT])


def test_consistency_from_empty_tree_accepts_only_empty_proof_and_empty_root() -> None:
    # RFC 9162 2.1.4 defines proofs only for 0 < old size; our documented rule.
    assert consistency_proof(VECTOR_LEAVES, 0) == []
    verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="from size 0 must be empty"):
        verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [EMPTY_ROOT])
    with pytest.raises(ProofError, match="a tree of size 0 has root"):
        verify_consistency(0, 8, OTHER_HASH, ROOTS[8], [])


def test_consistency_refuses_time_travel_and_empty_proofs() -> None:
    with pytest.raises(ProofError, match="larger than new size"):
        verify_consistency(2, 1, ROOTS[2], ROOTS[1], [])
    with pytest.raises(ProofError, match="from size 1 to 2 is empty"):
        verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])
    with pytest.raises(ProofError, match="new root is 9 bytes"):
        verify_consistency(1, 2, ROOTS[1], b"WrongRoot", [VECTOR_LEAVES[1]])


def test_consistency_error_says_which_root_failed() -> None:
    proof = consistency_proof(VECTOR_LEAVES, 3)
    with pytest.raises(ProofError, match="gives old root"):
        verify_consistency(3, 8, OTHER_HASH, ROOTS[8], proof)
    with pytest.raises(ProofError, match="gives new root"):
        verify_consistency(3, 8, ROOTS[3], OTHER_HASH, proof)


# --- CompactRange --------------------------------------------------------------


def test_compact_range_root_matches_root_hash_for_every_prefix() -> None:
    compact = CompactRange()
    for size, leaf in enumerate(LEAVES, 1):
        compact.append(leaf)
        assert compact.size == size
        assert len(compact.hashes) == size.bit_count()
        assert compact.root() == PREFIX_ROOTS[size], size


def test_compact_range_from_leaf_hashes_equals_appending() -> None:
    for size in range(MAX_SIZE + 1):
        built = CompactRange.from_leaf_hashes(LEAVES[:size])
        assert built.size == size
        assert built.root() == PREFIX_ROOTS[size]
    # Published compact ranges: transparency-dev/merkle testonly/constants.go CompactTrees.
    assert CompactRange.from_leaf_hashes(VECTOR_LEAVES[:7]).hashes == (
        _node(2, 0),
        _node(1, 2),
        _node(0, 6),
    )


def test_compact_range_resumes_from_saved_state() -> None:
    first = CompactRange.from_leaf_hashes(LEAVES[:123])
    resumed = CompactRange(first.size, first.hashes)
    for leaf in LEAVES[123:]:
        resumed.append(leaf)
    assert resumed.root() == PREFIX_ROOTS[MAX_SIZE]
    assert first.root() == PREFIX_ROOTS[123]  # the saved copy is independent


def test_compact_range_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="size 3 has 2 perfect subtrees, got 1"):
        CompactRange(3, [EMPTY_ROOT])
    with pytest.raises(ValueError, match="non-negative"):
        CompactRange(-1, [])
    with pytest.raises(ValueError, match="not 32"):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError, match="leaf hash is 5 bytes"):
        CompactRange().append(b"short")
