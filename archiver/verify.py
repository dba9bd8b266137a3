"""`archiver verify`: re-derive everything and report each problem precisely.

Passes, each streaming so memory stays flat:
1. records: catalogue rows and record objects merge-joined by record id (both
   sorted), so missing objects and uncatalogued objects show in one pass; every
   object is re-hashed, decoded and compared field by field with its row;
2. media: every blob re-hashed against its key;
3. log: leaves contiguous, each leaf hash re-derived, every record has its leaf,
   roots recomputed at every checkpoint, signatures checked, consecutive
   checkpoints proven consistent (RFC 9162 2.1.4), checkpoint objects match rows;
4. audit chain re-hashed, and its length and head matched with the checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, true

from archiver.audit import check_chain
from archiver.canonical import canonical_bytes
from archiver.checkpoints import Checkpoint
from archiver.errors import ProofError
from archiver.merkle import CompactRange, consistency_proof, leaf_hash, verify_consistency
from archiver.processes import worker_context
from archiver.records import record_key
from archiver.signing import verify_signature
from config.settings import Settings
from storage.catalogue.db import open_engine
from storage.catalogue.models import audit_events, chain_heads, checkpoints, log_leaves, records
from storage.catalogue.retention import dispositions
from storage.objects.base import ObjectNotFoundError, ObjectStore
from storage.objects.registry import open_object_store

ERROR, NOTE = "error", "note"
RECORDS_PREFIX = "records/sha256/"
SHARD_DIGITS = "0123456789abcdef"
Progress = Callable[[str, int, int], None]

_ROW_FIELDS = (
    "platform",
    "account",
    "native_id",
    "kind",
    "version",
    "prev_record_id",
    "observation",
    "content_sha256",
)


@dataclass(frozen=True)
class Problem:
    check: str  # records | media | log | checkpoints | audit
    kind: str  # e.g. hash-mismatch, missing-object, row-mismatch, root-mismatch
    key: str
    message: str
    algorithm: str | None = None
    expected: str | None = None
    found: str | None = None
    severity: str = ERROR


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts,
            "problems": [asdict(p) for p in self.problems],
        }


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class Verifier:
    def __init__(
        self,
        conn: Connection,
        store: ObjectStore,
        public_raw: bytes,
        progress: Progress | None = None,
    ) -> None:
        self.conn = conn
        self.store = store
        self.public_raw = public_raw
        self.progress = progress or _no_progress
        self.report = VerifyReport()

    def check_dispositions(self) -> None:
        """Each disposition report: stored, hashing to its id, signed by the archive."""
        count = 0
        for row in self.conn.execute(select(dispositions).order_by(dispositions.c.id)):
            count += 1
            try:
                data = self.store.get(row.object_key)
            except ObjectNotFoundError:
                self._problem(
                    "dispositions", "missing-object", row.object_key, "disposition report missing"
                )
                continue
            found = hashlib.sha256(data).hexdigest()
            if found != row.report_id:
                self._problem(
                    "dispositions",
                    "hash-mismatch",
                    row.object_key,
                    "disposition report bytes do not match their id",
                    algorithm="sha256",
                    expected=row.report_id,
                    found=found,
                )
                continue
            stored = json.loads(data)
            try:
                verify_signature(
                    self.public_raw, canonical_bytes(stored["report"]), stored["signature"]
                )
            except ProofError as exc:
                self._problem("dispositions", "bad-signature", row.object_key, str(exc))
        self.report.counts["dispositions"] = count

    def run(self, settings: Settings | None = None, workers: int = 1) -> VerifyReport:
        """With settings and workers > 1 the record pass runs in worker processes, one
        id prefix each (the pass is CPU-bound in Python; threads do not help)."""
        if settings is not None and workers > 1:
            self._check_records_in_parallel(settings, workers)
        else:
            self.check_records()
        self.check_media()
        self.check_dispositions()
        audit_length, audit_head = self.check_audit()
        self.check_log(audit_length, audit_head)
        return self.report

    def _problem(self, check: str, kind: str, key: str, message: str, **extra: Any) -> None:
        self.report.problems.append(Problem(check, kind, key, message, **extra))

    # 1. records -------------------------------------------------------------
    def check_records(self, prefix: str = "") -> None:
        """Records whose id starts with `prefix` (all by default; shards use one hex digit)."""
        in_shard = records.c.record_id.startswith(prefix) if prefix else true()
        total = self.conn.execute(
            select(func.count()).select_from(records).where(in_shard)
        ).scalar_one()
        columns = [
            getattr(records.c, name) for name in ("record_id", "size", "disposed_at", *_ROW_FIELDS)
        ]
        rows = self.conn.execute(
            select(*columns)
            .where(in_shard)
            .order_by(records.c.record_id)
            .execution_options(yield_per=2000)
        )
        stored = self.store.keys(f"{RECORDS_PREFIX}{prefix}")
        next_key = next(stored, None)
        checked = disposed = 0
        for row in rows:
            key = record_key(row.record_id)
            while next_key is not None and next_key < key:
                self._orphan(next_key)
                next_key = next(stored, None)
            present = next_key == key
            if present:
                next_key = next(stored, None)
            checked += 1
            if row.disposed_at is not None:
                disposed += 1
                if present:
                    self._problem("records", "not-disposed", key, "disposed record still stored")
            elif not present:
                self._problem("records", "missing-object", key, "catalogued record has no object")
            else:
                self._check_record(row, key)
            if checked % 1000 == 0:
                self.progress("records", checked, total)
        while next_key is not None:
            self._orphan(next_key)
            next_key = next(stored, None)
        self.progress("records", checked, total)
        self.report.counts.update(records=checked, disposed=disposed)

    def _check_records_in_parallel(self, settings: Settings, workers: int) -> None:
        total = self.conn.execute(select(func.count()).select_from(records)).scalar_one()
        counts = {"records": 0, "disposed": 0}
        with ProcessPoolExecutor(workers, mp_context=worker_context()) as pool:
            shards = [
                pool.submit(verify_record_shard, settings.model_dump(mode="json"), digit)
                for digit in SHARD_DIGITS
            ]
            for shard in as_completed(shards):
                problems, shard_counts = shard.result()
                self.report.problems.extend(problems)
                for name, value in shard_counts.items():
                    counts[name] += value
                self.progress("records", counts["records"], total)
        self.report.problems.sort(key=lambda p: (p.check, p.key))
        self.report.counts.update(counts)

    def _orphan(self, key: str) -> None:
        self._problem(
            "records",
            "uncatalogued-object",
            key,
            "object not in the catalogue (left by an interrupted ingest, or planted)",
            severity=NOTE,
        )

    def _check_record(self, row: Any, key: str) -> None:
        try:
            data = self.store.get(key)
        except ObjectNotFoundError:
            self._problem("records", "missing-object", key, "object vanished during verify")
            return
        found = hashlib.sha256(data).hexdigest()
        if found != row.record_id:
            self._problem(
                "records",
                "hash-mismatch",
                key,
                "record bytes do not match their id",
                algorithm="sha256",
                expected=row.record_id,
                found=found,
            )
            return
        # The bytes hash to an id computed from canonical bytes at ingest, so they are
        # canonical; decoding is only needed to compare the fields with the row.
        try:
            fields = json.loads(data)
        except ValueError as exc:
            self._problem("records", "not-json", key, str(exc))
            return
        for name in _ROW_FIELDS:
            if fields.get(name) != getattr(row, name):
                self._problem(
                    "records",
                    "row-mismatch",
                    key,
                    f"catalogue {name} differs from record",
                    expected=str(fields.get(name)),
                    found=str(getattr(row, name)),
                )
        if len(data) != row.size:
            self._problem(
                "records",
                "row-mismatch",
                key,
                "catalogue size differs from record",
                expected=str(len(data)),
                found=str(row.size),
            )

    # 2. media ---------------------------------------------------------------
    def check_media(self) -> None:
        count = 0
        for key in self.store.keys("media/"):
            expected = key.rsplit("/", 1)[-1].split(".", 1)[0]
            found = hashlib.sha256(self.store.get(key)).hexdigest()
            if found != expected:
                self._problem(
                    "media",
                    "hash-mismatch",
                    key,
                    "media bytes do not match their hash",
                    algorithm="sha256",
                    expected=expected,
                    found=found,
                )
            count += 1
        self.report.counts["media"] = count

    # 3. audit ---------------------------------------------------------------
    def check_audit(self) -> tuple[int, str]:
        rows = self.conn.execute(select(audit_events).order_by(audit_events.c.seq))
        length, head, problems = check_chain(iter(rows))
        for problem in problems:
            self._problem("audit", "chain-broken", f"audit_events/{problem.seq}", problem.message)
        recorded = self.conn.execute(
            select(chain_heads.c.length, chain_heads.c.head_hash).where(
                chain_heads.c.name == "audit"
            )
        ).one()
        if (recorded.length, recorded.head_hash) != (length, head if length else None):
            self._problem(
                "audit",
                "head-mismatch",
                "chain_heads/audit",
                "audit chain length or head differs from the recorded head",
                expected=f"{recorded.length}:{recorded.head_hash}",
                found=f"{length}:{head}",
            )
        self.report.counts["audit_events"] = length
        return length, head

    # 4. log and checkpoints -------------------------------------------------
    def check_log(self, audit_length: int, audit_head: str) -> None:
        heads = self._checkpoints()
        pending = iter(heads)
        target = next(pending, None)
        frontier = CompactRange()
        leaves: list[bytes] = []  # kept for consistency proofs between checkpoints
        expected_index = 0
        joined = (
            select(
                log_leaves,
                records.c.leaf_index.label("record_leaf_index"),
                dispositions.c.leaf_index.label("report_leaf_index"),
            )
            .outerjoin(records, records.c.record_id == log_leaves.c.record_id)
            .outerjoin(dispositions, dispositions.c.report_id == log_leaves.c.record_id)
            .order_by(log_leaves.c.leaf_index)
            .execution_options(yield_per=5000)
        )
        for row in self.conn.execute(joined):
            key = f"log_leaves/{row.leaf_index}"
            if row.leaf_index != expected_index:
                self._problem(
                    "log",
                    "leaf-gap",
                    key,
                    "leaf indexes are not contiguous",
                    expected=str(expected_index),
                    found=str(row.leaf_index),
                )
            expected_index = row.leaf_index + 1
            derived = leaf_hash(bytes.fromhex(row.record_id)).hex()
            if derived != row.leaf_hash:
                self._problem(
                    "log",
                    "leaf-hash-mismatch",
                    key,
                    "leaf hash is not H(0x00 || record id)",
                    algorithm="sha256",
                    expected=derived,
                    found=row.leaf_hash,
                )
            if row.leaf_index not in (row.record_leaf_index, row.report_leaf_index):
                self._problem(
                    "log",
                    "leaf-record-mismatch",
                    key,
                    f"record {row.record_id} is not catalogued at this leaf",
                )
            frontier.append(bytes.fromhex(derived))
            leaves.append(bytes.fromhex(derived))
            while target is not None and frontier.size == target.tree_size:
                self._check_root(target, frontier.root())
                target = next(pending, None)
        unlogged = select(records.c.record_id).where(
            ~select(log_leaves.c.leaf_index)
            .where(log_leaves.c.record_id == records.c.record_id)
            .exists()
        )
        for (record_id,) in self.conn.execute(unlogged):
            self._problem(
                "log",
                "record-without-leaf",
                record_key(record_id),
                "catalogued record is not in the log",
            )
        while target is not None:
            self._problem(
                "checkpoints",
                "log-truncated",
                f"checkpoint/{target.tree_size}",
                f"checkpoint covers {target.tree_size} leaves, the log has {frontier.size}",
            )
            target = next(pending, None)
        self._check_consistency(heads, leaves)
        self._check_audit_anchor(heads, audit_length)
        self.report.counts.update(leaves=frontier.size, checkpoints=len(heads))
        if heads and heads[-1].tree_size < frontier.size:
            self._problem(
                "log",
                "unsigned-tail",
                "log",
                f"{frontier.size - heads[-1].tree_size} leaves after the latest checkpoint "
                "(run `archiver checkpoint`)",
                severity=NOTE,
            )

    def _checkpoints(self) -> list[Checkpoint]:
        verified: list[Checkpoint] = []
        for row in self.conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size)):
            key = row.object_key
            try:
                checkpoint = Checkpoint.from_bytes(self.store.get(key))
            except ObjectNotFoundError:
                self._problem("checkpoints", "missing-object", key, "checkpoint object missing")
                continue
            try:
                checkpoint.verify(self.public_raw)
            except ProofError as exc:
                self._problem("checkpoints", "bad-signature", key, str(exc))
                continue
            if (checkpoint.tree_size, checkpoint.root_hash, checkpoint.signature) != (
                row.tree_size,
                row.root_hash,
                row.signature,
            ):
                self._problem(
                    "checkpoints",
                    "row-mismatch",
                    key,
                    "catalogue checkpoint row differs from the signed object",
                )
            verified.append(checkpoint)
        return verified

    def _check_root(self, checkpoint: Checkpoint, root: bytes) -> None:
        if root.hex() != checkpoint.root_hash:
            self._problem(
                "checkpoints",
                "root-mismatch",
                f"checkpoint/{checkpoint.tree_size}",
                "recomputed Merkle root differs from the signed tree head",
                algorithm="sha256",
                expected=checkpoint.root_hash,
                found=root.hex(),
            )

    def _check_consistency(self, heads: list[Checkpoint], leaves: list[bytes]) -> None:
        for old, new in zip(heads, heads[1:], strict=False):
            if new.tree_size > len(leaves):
                return
            proof = consistency_proof(leaves[: new.tree_size], old.tree_size)
            try:
                verify_consistency(
                    old.tree_size,
                    new.tree_size,
                    bytes.fromhex(old.root_hash),
                    bytes.fromhex(new.root_hash),
                    proof,
                )
            except ProofError as exc:
                self._problem(
                    "checkpoints",
                    "inconsistent",
                    f"checkpoint/{new.tree_size}",
                    f"not an append-only extension of checkpoint {old.tree_size}: {exc}",
                )

    def _check_audit_anchor(self, heads: list[Checkpoint], audit_length: int) -> None:
        heads_by_length = {
            row.seq: row.event_hash
            for row in self.conn.execute(select(audit_events.c.seq, audit_events.c.event_hash))
        }
        for checkpoint in heads:
            signed_length = checkpoint.tree_head["audit_length"]
            signed_head = checkpoint.tree_head["audit_head"]
            key = f"checkpoint/{checkpoint.tree_size}"
            if signed_length > audit_length:
                self._problem(
                    "audit",
                    "truncated",
                    key,
                    f"checkpoint signed {signed_length} audit events, {audit_length} remain",
                )
            elif signed_length and heads_by_length.get(signed_length) != signed_head:
                self._problem(
                    "audit",
                    "head-mismatch",
                    key,
                    "audit event at the signed length differs from the signed head",
                    expected=signed_head,
                    found=str(heads_by_length.get(signed_length)),
                )


def verify_record_shard(settings_json: dict[str, Any], prefix: str) -> tuple[list[Problem], dict]:
    """One worker's share of the record pass, on its own catalogue connection and store."""
    settings = Settings(**settings_json)
    engine = open_engine(settings.catalogue_url)
    store = open_object_store(settings)
    try:
        with engine.connect() as conn:
            verifier = Verifier(conn, store, b"")
            verifier.check_records(prefix)
            return verifier.report.problems, verifier.report.counts
    finally:
        store.close()
        engine.dispose()
