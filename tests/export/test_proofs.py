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
@given(
    names=st.lists(
        st.from_regex(r"data/[a-z0-9]{1,6}(/[a-z0-9.]{1,6})?", fullmatch=True), unique=True
    )
)
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
    """verify_pack follows each proof with an inlined RFC 9162 loop that reuses
    the last accepted proof's upper path, and asks archiver.merkle only on a
    mismatch; they must agree on every proof, tampered ones included, whatever
    was accepted just before (one follower walks all of a tree's proofs)."""
    from archiver.errors import ProofError
    from archiver.verify_pack import PathFollower

    for size in range(1, 40):
        leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
        levels = MerkleLevels(leaves)
        follower = PathFollower(size, levels.root())
        for index in range(size):
            path = levels.path(index)
            assert follower.leads_to_root(leaves[index], index, b"".join(path))
            assert not follower.leads_to_root(leaves[index], index, b"".join(path) + b"\0")
            variants = [
                path + [leaves[0]],
                path[:-1],
                [b"\0" * 32] + path[1:],
                path[:-1] + [b"\0" * 32],
                path,
                path,
            ]
            wrong = [index, index, index, index, size, (index + 1) % size]
            for variant, wrong_index in zip(variants, wrong, strict=True):
                fast = follower.leads_to_root(leaves[index], wrong_index, b"".join(variant))
                try:
                    verify_inclusion(leaves[index], wrong_index, size, variant, levels.root())
                    reference = True
                except ProofError:
                    reference = False
                assert fast == reference, (size, index, len(variant))


def _proof_line(index: int, size: int, levels: MerkleLevels, record_id: bytes) -> bytes:
    from archiver.canonical import canonical_bytes
    from archiver.verify_pack import PROOF_SCHEMA

    return canonical_bytes(
        {
            "schema": PROOF_SCHEMA,
            "record_id": record_id.hex(),
            "leaf_index": index,
            "leaf_hash": leaf_hash(record_id).hex(),
            "tree_size": size,
            "root_hash": levels.root().hex(),
            "audit_path": [h.hex() for h in levels.path(index)],
        }
    )


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 40), data=st.data())
def test_the_proof_line_pattern_agrees_with_the_full_parser(size: int, data: st.DataObject) -> None:
    """Proof lines are matched by one pattern and only the lines it refuses are
    parsed as JSON: on any line, canonical or mutated, both must give the same
    proof or both refuse it."""
    import pytest

    from archiver.verify_pack import _parse_proof, _parse_proof_slowly

    record_ids = [n.to_bytes(32, "big") for n in range(size)]
    levels = MerkleLevels([leaf_hash(r) for r in record_ids])
    index = data.draw(st.integers(0, size - 1))
    line = _proof_line(index, size, levels, record_ids[index])
    position = data.draw(st.integers(0, len(line) - 1))
    mutation = data.draw(st.sampled_from([b"", b"0", b"A", b" ", b",", b'"', b"-", b"1"]))
    mutated = data.draw(
        st.sampled_from(
            [
                line,
                line[:position] + mutation + line[position + 1 :],
                line[:position] + mutation + line[position:],
            ]
        )
    )
    try:
        slow = _parse_proof_slowly(mutated)
    except (ValueError, RecursionError):
        with pytest.raises(ValueError):
            _parse_proof(mutated)
    else:
        assert _parse_proof(mutated) == slow


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab.-_/0Z%é \r", max_size=12), min_size=1, max_size=6))
def test_manifest_blocks_are_plain_exactly_when_every_line_is(paths: list[str]) -> None:
    """verify-pack takes a block of manifest lines at once only if each line would
    pass the one-line rule (a plain path: no empty segment, no segment starting
    with a dot, no trailing slash), and reads it line by line otherwise."""
    from archiver.verify_pack import _plain_line, _plain_lines, _plain_paths

    lines = ["a" * 64 + "  data/" + path for path in paths]
    block = "\n".join(lines)
    at_once = len(_plain_lines(64).findall(block)) == len(lines) and _plain_paths(block)
    assert at_once == all(_plain_line(64, True).fullmatch(line) for line in lines)
