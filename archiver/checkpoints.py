"""Signed tree heads: checkpoints of the Merkle log, stored as objects.

A checkpoint signs the log's size and root together with the audit chain's
length and head, so truncating either after a checkpoint is detectable.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from archiver.canonical import canonical_bytes
from archiver.clock import Clock, format_time, parse_time
from archiver.merkle import CompactRange
from archiver.signing import Signer, verify_signature
from storage.catalogue.models import chain_heads, checkpoints, log_leaves

SCHEMA = "social-archiver/checkpoint/1"


def checkpoint_key(tree_size: int) -> str:
    return f"checkpoints/{tree_size:020d}.json"


@dataclass(frozen=True)
class Checkpoint:
    tree_head: dict[str, Any]
    signature: str  # base64 Ed25519 over canonical_bytes(tree_head)
    public_key: str  # base64 of the raw 32-byte Ed25519 public key

    @property
    def tree_size(self) -> int:
        return int(self.tree_head["tree_size"])

    @property
    def root_hash(self) -> str:
        return str(self.tree_head["root_hash"])

    def to_bytes(self) -> bytes:
        return canonical_bytes(
            {
                "schema": SCHEMA,
                "tree_head": self.tree_head,
                "signature": self.signature,
                "public_key": self.public_key,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:

        fields = json.loads(data)
        return cls(fields["tree_head"], fields["signature"], fields["public_key"])

    def verify(self, public_raw: bytes) -> None:
        """ProofError unless signed by the given key (pin the key; do not trust the bundled one)."""
        verify_signature(public_raw, canonical_bytes(self.tree_head), self.signature)


def leaf_hashes(conn: Connection, upto: int | None = None) -> list[bytes]:
    query = select(log_leaves.c.leaf_hash).order_by(log_leaves.c.leaf_index)
    if upto is not None:
        query = query.where(log_leaves.c.leaf_index < upto)
    return [bytes.fromhex(h) for (h,) in conn.execute(query)]


def sign_tree_head(conn: Connection, signer: Signer, clock: Clock) -> Checkpoint | None:
    """Sign the log as it is now; None when the latest checkpoint already covers it."""
    heads = {row.name: row for row in conn.execute(select(chain_heads))}
    tree_size = heads["log"].length
    latest = conn.execute(
        select(checkpoints.c.tree_size).order_by(checkpoints.c.tree_size.desc()).limit(1)
    ).scalar()
    audit = heads["audit"]
    if latest is not None and latest == tree_size:
        return None
    frontier = CompactRange.from_leaf_hashes(leaf_hashes(conn, tree_size))
    tree_head = {
        "tree_size": tree_size,
        "root_hash": frontier.root().hex(),
        "audit_length": audit.length,
        "audit_head": audit.head_hash,
        "signed_at": format_time(clock.now()),
        "key_id": signer.key_id,
    }
    signature = base64.b64encode(signer.sign(canonical_bytes(tree_head))).decode("ascii")
    return Checkpoint(tree_head, signature, base64.b64encode(signer.public_raw).decode("ascii"))


def checkpoint_row(checkpoint: Checkpoint) -> dict[str, Any]:
    head = checkpoint.tree_head
    return {
        "tree_size": head["tree_size"],
        "root_hash": head["root_hash"],
        "audit_length": head["audit_length"],
        "audit_head": head["audit_head"],
        "signed_at": parse_time(head["signed_at"]),
        "key_id": head["key_id"],
        "signature": checkpoint.signature,
        "object_key": checkpoint_key(head["tree_size"]),
    }
