"""Pure parts: the pack's Merkle levels give exactly archiver.merkle's proofs and
roots for every tree size, and the bag writer's manifest spool sorts like a list."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.export import bag as bag_module
from archiver.export.bag import FileDigest, ManifestSpool
from archiver.export.proofs import MerkleLevels
from archiver.merkle import EMPTY_ROOT, inclusion_proof, leaf_hash, root_hash, verify_inclusion


def test_every_proof_matches_the_reference_for_sizes_up_to_70() -> None:
    for size in range(1, 71):
        leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
        levels = MerkleLevels(leaves)
        assert levels.root() == root_hash(leaves)
        for index in range(size):
            assert levels.path(index) == inclusion_proof(leaves, index)
            verify_inclusion(leaves[index], index, size, levels.path(index), levels.root())


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 3000), data=st.data())
def test_random_sizes_and_leaves(size: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
    levels = MerkleLevels(leaves)
    index = data.draw(st.integers(0, size - 1))
    assert levels.path(index) == inclusion_proof(leaves, index)
    assert levels.leaf(index) == leaves[index]


def test_empty_tree_root() -> None:
    assert MerkleLevels([]).root() == EMPTY_ROOT


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.from_regex(r"data/[a-z0-9]{1,6}(/[a-z0-9.]{1,6})?", fullmatch=True), unique=True))
def test_manifest_spool_sorts_by_path_across_chunks(names: list[str], tmp_path_factory) -> None:  # noqa: ANN001
    work = Path(tmp_path_factory.mktemp("spool"))
    original = bag_module.SORT_CHUNK_LINES
    bag_module.SORT_CHUNK_LINES = 3  # force several sorted chunks and a merge
    try:
        spool = ManifestSpool(work)
        for name in names:
            spool.add(FileDigest(name, 1, "a" * 64, "b" * 128))
        assert [path for path, _, _ in spool.sorted_entries()] == sorted(names)
    finally:
        bag_module.SORT_CHUNK_LINES = original


def test_the_verifiers_fast_path_agrees_with_the_reference() -> None:
    """verify_pack follows each proof with an inlined RFC 9162 loop and asks
    archiver.merkle only on a mismatch; they must agree on every proof."""
    from archiver.errors import ProofError
    from archiver.verify_pack import _root_from_path

    for size in range(1, 40):
        leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
        levels = MerkleLevels(leaves)
        for index in range(size):
            path = levels.path(index)
            assert _root_from_path(leaves[index], index, size, path) == levels.root()
            variants = [path + [leaves[0]], path[:-1], [b"\0" * 32] + path[1:], path]
            for variant, wrong_index in zip(variants, [index, index, index, size], strict=True):
                fast = _root_from_path(leaves[index], wrong_index, size, variant) == levels.root()
                try:
                    verify_inclusion(leaves[index], wrong_index, size, variant, levels.root())
                    reference = True
                except ProofError:
                    reference = False
                assert fast == reference, (size, index, len(variant))
