"""The Archive: one opened archive (settings, catalogue, object store, clock,
actor) and the services every front end (CLI, daemon, web app) calls."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, func, select

from archiver.audit import AuditTrail
from archiver.checkpoints import Checkpoint, checkpoint_row, sign_tree_head
from archiver.clock import Clock, SystemClock
from archiver.holds import HoldService
from archiver.ingest import Ingestor, IngestResult
from archiver.ingest_holds import IngestHolds
from archiver.item import CapturedItem
from archiver.retention import RetentionRules
from archiver.search_service import IndexRun, SearchService
from archiver.signing import Signer, load_signer
from archiver.verify import Progress, Verifier, VerifyReport
from config.settings import Settings
from storage.catalogue.db import open_engine, write_transaction
from storage.catalogue.migrate import require_current
from storage.catalogue.models import checkpoints, records
from storage.objects.base import ObjectStore
from storage.objects.registry import open_object_store

ACTOR_ENV_VAR = "ARCHIVER_ACTOR"
PARALLEL_VERIFY_FROM = 20_000


def default_actor() -> str:
    """Who is acting, for the audit trail: $ARCHIVER_ACTOR, else the OS user."""
    return os.environ.get(ACTOR_ENV_VAR) or f"os:{getpass.getuser()}"


class Archive:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        store: ObjectStore | None = None,
        clock: Clock | None = None,
        actor: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine or open_engine(settings.catalogue_url)
        self.store = store or open_object_store(settings)
        self.clock = clock or SystemClock()
        self.actor = actor or default_actor()
        self.audit = AuditTrail(self.engine, self.clock)

    @classmethod
    def open(cls, settings: Settings, **kwargs: Any) -> Archive:
        """Open an initialised archive; StorageError says what to run if it is not."""
        archive = cls(settings, **kwargs)
        require_current(archive.engine)
        return archive

    @cached_property
    def signer(self) -> Signer:
        return load_signer(self.settings.key_file)

    @cached_property
    def search(self) -> SearchService:
        """Search, index catch-up, reindex and the index check (archiver/search_service.py)."""
        return SearchService(self)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(
            self.engine,
            self.store,
            self.clock,
            self.rules,
            self.settings.ingest.batch_size,
            hold_new=IngestHolds(self),
        )

    @cached_property
    def rules(self) -> RetentionRules:
        return RetentionRules(self.settings.retention)

    def ingest(
        self, captured: Iterable[CapturedItem], run_id: int | None = None, audit: bool = True
    ) -> IngestResult:
        """Archive items; audited as one 'ingest' event unless the caller audits the run."""
        result = self.ingestor.ingest(captured, run_id)
        if audit:
            self.audit.record(self.actor, "ingest", {"run_id": run_id, **result.counts()})
        return result

    def index_and_hold(self, progress: Progress | None = None, **options: Any) -> IndexRun:
        """Index what capture archived, then hold what active matters now cover and do
        not hold yet. Ingest holds new captures itself (archiver/ingest_holds.py); this
        is the safety net for a matter placed while a batch was being ingested."""
        run = self.search.index_pending(progress=progress, **options)
        run.held = HoldService(self).apply_to_new()
        return run

    def checkpoint(self) -> Checkpoint | None:
        """Sign a tree head over the log as it is; None if nothing was added since the last."""
        with write_transaction(self.engine) as conn:
            checkpoint = sign_tree_head(conn, self.signer, self.clock)
            if checkpoint is None:
                return None
            row = checkpoint_row(checkpoint)
            self.store.put(row["object_key"], checkpoint.to_bytes())
            conn.execute(checkpoints.insert().values(**row))
            self.audit.record(
                self.actor,
                "checkpoint",
                {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash},
                conn=conn,
            )
        return checkpoint

    def verify(self, progress: Progress | None = None, workers: int | None = None) -> VerifyReport:
        """Re-derive and check everything (see archiver.verify); audited with its outcome.
        `workers`: processes for the record pass; default one per core from
        PARALLEL_VERIFY_FROM records on (starting workers costs about a second)."""
        with self.engine.connect() as conn:
            if workers is None:
                total = conn.execute(select(func.count()).select_from(records)).scalar_one()
                workers = (os.cpu_count() or 1) if total >= PARALLEL_VERIFY_FROM else 1
            verifier = Verifier(conn, self.store, self.signer.public_raw, progress)
            report = verifier.run(self.settings, workers)
        self.search.check_into(report, progress)  # the index holds exactly the catalogue
        errors = sum(1 for p in report.problems if p.severity == "error")
        self.audit.record(
            self.actor, "verify", {"ok": report.ok, "errors": errors, **report.counts}
        )
        return report

    def close(self) -> None:
        self.store.close()
        self.engine.dispose()
