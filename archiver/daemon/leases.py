"""Capture leases: one daemon captures an account at a time, across machines.

A lease is a row (account_id, holder, expires_at). It is taken with one atomic
statement, so two daemons racing for an account cannot both win:

    UPDATE capture_leases SET holder = me, expires_at = now + ttl
     WHERE account_id = :id AND (expires_at < now OR holder = me)

and, when no row exists yet, an INSERT ... ON CONFLICT DO NOTHING (the loser of a
race inserts nothing). The holder renews its leases every ttl/3 while it captures
and deletes them when done; a crashed holder's lease expires and the next daemon
whose schedule fires takes the account over. Times come from the daemon's clock,
so the hosts' clocks must agree to well within the ttl (NTP does).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from archiver.clock import Clock
from archiver.errors import ArchiverError
from storage.catalogue.db import insert_if_absent, write_transaction
from storage.catalogue.scheduling import capture_leases

log = logging.getLogger(__name__)


def default_holder() -> str:
    """This process, by host and pid: what a lease names when no name is configured."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Lease:
    account_id: int
    holder: str
    acquired_at: datetime
    expires_at: datetime


class LeaseManager:
    """The leases one daemon (`holder`) takes, renews and gives back."""

    def __init__(self, engine: Engine, clock: Clock, holder: str, ttl: float) -> None:
        self.engine = engine
        self.clock = clock
        self.holder = holder
        self.ttl = timedelta(seconds=ttl)
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def acquire(self, account_id: int) -> bool:
        """Take the account's lease if it is free, expired or already ours."""
        now = self.clock.now()
        values = {"holder": self.holder, "acquired_at": now, "expires_at": now + self.ttl}
        with write_transaction(self.engine) as conn:
            taken = conn.execute(
                capture_leases.update()
                .where(
                    capture_leases.c.account_id == account_id,
                    (capture_leases.c.expires_at < now) | (capture_leases.c.holder == self.holder),
                )
                .values(**values)
            ).rowcount
            if not taken:
                taken = insert_if_absent(
                    conn, capture_leases, "account_id", account_id=account_id, **values
                )
        if taken:
            with self._lock:
                self._held.add(account_id)
        return bool(taken)

    def renew(self) -> list[int]:
        """Extend every lease held; returns the accounts whose lease was lost (it
        expired and another daemon took it: that one now captures)."""
        with self._lock:
            held = sorted(self._held)
        if not held:
            return []
        now = self.clock.now()
        lost = []
        with write_transaction(self.engine) as conn:
            for account_id in held:
                kept = conn.execute(
                    capture_leases.update()
                    .where(
                        capture_leases.c.account_id == account_id,
                        capture_leases.c.holder == self.holder,
                    )
                    .values(expires_at=now + self.ttl)
                ).rowcount
                if not kept:
                    lost.append(account_id)
        if lost:
            with self._lock:  # released meanwhile is not lost
                lost = [account_id for account_id in lost if account_id in self._held]
                self._held.difference_update(lost)
        if lost:
            log.warning("capture leases lost (expired and taken over): %s", lost)
        return lost

    def release(self, account_id: int) -> None:
        # Forgotten before the row goes, so a renewal racing with this release never
        # mistakes the deleted row for a lost lease.
        with self._lock:
            self._held.discard(account_id)
        with write_transaction(self.engine) as conn:
            conn.execute(
                delete(capture_leases).where(
                    capture_leases.c.account_id == account_id,
                    capture_leases.c.holder == self.holder,
                )
            )

    def release_all(self) -> int:
        with self._lock:
            self._held.clear()
        with write_transaction(self.engine) as conn:
            released = conn.execute(
                delete(capture_leases).where(capture_leases.c.holder == self.holder)
            ).rowcount
        return int(released or 0)

    @property
    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)


@contextmanager
def holding(leases: LeaseManager, account_id: int) -> Iterator[bool]:
    """The account's lease for one capture outside the daemon (`archiver capture`
    run by hand): taken if free, renewed every third of its ttl while the capture
    runs, given back at the end. Yields False, taking nothing, while another
    holder (a daemon) captures the account: two captures of one account would
    each take the other's run for abandoned."""
    if not leases.acquire(account_id):
        yield False
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(leases.ttl.total_seconds() / 3):
            try:
                leases.renew()
            except ArchiverError as exc:  # the capture itself will meet the same outage
                log.error("lease renewal failed: %s", exc)

    heartbeat = threading.Thread(target=renew, name="lease-heartbeat", daemon=True)
    heartbeat.start()
    try:
        yield True
    finally:
        stop.set()
        heartbeat.join()
        leases.release(account_id)


def current_leases(engine: Engine) -> dict[int, Lease]:
    """Every lease row, expired or not (status shows who captures what)."""
    with engine.connect() as conn:
        rows = conn.execute(select(capture_leases)).all()
    return {
        row.account_id: Lease(row.account_id, row.holder, row.acquired_at, row.expires_at)
        for row in rows
    }
