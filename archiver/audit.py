"""The audit trail: append-only events, each hashed with the one before it, so
editing, deleting or reordering an event breaks the chain (SEC 17a-4 audit-trail
alternative). Checkpoints sign the chain's head, so losing the tail shows too."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from archiver.canonical import canonical_bytes, sha256_hex
from archiver.clock import Clock, format_time
from storage.catalogue.db import advance_chain, lock_chain, write_transaction
from storage.catalogue.models import audit_events

GENESIS = "0" * 64


def event_hash(seq: int, at: datetime, actor: str, action: str, params: str, prev_hash: str) -> str:
    body = {
        "seq": seq,
        "at": format_time(at),
        "actor": actor,
        "action": action,
        "params": params,
        "prev_hash": prev_hash,
    }
    return sha256_hex(canonical_bytes(body))


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    message: str


class AuditTrail:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        actor: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Append one event, inside `conn`'s transaction when given; returns its seq."""
        if conn is not None:
            return self._append(conn, actor, action, params or {})
        with write_transaction(self.engine) as own:
            return self._append(own, actor, action, params or {})

    def _append(self, conn: Connection, actor: str, action: str, params: Mapping[str, Any]) -> int:
        length, head = lock_chain(conn, "audit")
        seq, at = length + 1, self.clock.now()
        encoded = canonical_bytes(dict(params)).decode("utf-8")
        digest = event_hash(seq, at, actor, action, encoded, head or GENESIS)
        conn.execute(
            audit_events.insert().values(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                params=encoded,
                prev_hash=head or GENESIS,
                event_hash=digest,
            )
        )
        advance_chain(conn, "audit", seq, digest)
        return seq

    def events(self, conn: Connection, action: str | None = None) -> Iterator[Any]:
        query = select(audit_events).order_by(audit_events.c.seq)
        if action:
            query = query.where(audit_events.c.action == action)
        yield from conn.execute(query)


def check_chain(rows: Iterator[Any]) -> tuple[int, str, list[ChainProblem]]:
    """Re-derive every hash; returns (length, head hash, problems)."""
    problems: list[ChainProblem] = []
    expected_seq, prev = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            problems.append(ChainProblem(row.seq, f"sequence gap: expected {expected_seq}"))
        if row.prev_hash != prev:
            problems.append(ChainProblem(row.seq, "prev_hash does not match the previous event"))
        digest = event_hash(row.seq, row.at, row.actor, row.action, row.params, row.prev_hash)
        if digest != row.event_hash:
            problems.append(
                ChainProblem(
                    row.seq, f"event edited: sha256 expected {row.event_hash}, found {digest}"
                )
            )
        expected_seq, prev = row.seq + 1, row.event_hash
    return expected_seq - 1, prev, problems
