"""One capture run of one account: fetch -> media -> ingest -> cursor, then the
reconciliation pass (edits and deletions of recent items).

The cursor is saved only after the items before it are archived, so a crash
re-fetches at most one page: ingest turns those into 'unchanged', giving no
duplicates and no gaps. Errors are sorted by what to do next: a retriable or
fatal error ends this account's run (the daemon backs off or pauses it); a
skippable one (one bad attachment) is recorded and capture carries on.

A run's row says `running` until the run finishes; a run whose process was killed
stays so until `abandon_running_runs` closes it (the daemon calls it once it holds
the account's lease, so nobody else can be capturing that account).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.media import MediaFetcher
from archiver.errors import (
    ArchiverError,
    FatalError,
    RetriableError,
    SkippableError,
    UsageError,
)
from archiver.item import CaptureContext, CapturedItem
from archiver.records import Record, record_key
from connectors.base import Account, ArchivedItem, Connector, ConnectorContext, CursorUpdate
from connectors.exports.registry import load_importer
from connectors.exports.safe_archive import file_sha256, open_export
from connectors.http import HttpClient
from connectors.registry import load_connector
from storage.catalogue.db import write_transaction
from storage.catalogue.models import capture_runs, cursors, items

log = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 50
ABANDONED = "abandoned: the process capturing it stopped (killed or crashed)"


@dataclass
class RunSummary:
    run_id: int
    account: str
    platform: str
    status: str = "running"  # ok | partial | failed | fatal
    counts: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "edited": 0, "deleted": 0, "unchanged": 0, "failed": 0}
    )
    by_kind: dict[str, int] = field(default_factory=dict)
    media: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def add_error(self, stage: str, message: str, native_id: str | None = None) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"stage": stage, "native_id": native_id, "message": message})

    @property
    def seconds(self) -> float:
        if not (self.started_at and self.finished_at):
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()


class CaptureRunner:
    def __init__(self, archive: Archive, http_options: dict[str, Any] | None = None) -> None:
        self.archive = archive
        self.http_options = http_options or {}  # tests inject clock/sleep here

    def run(self, account: Account, reconcile: bool = True) -> RunSummary:
        """Capture new items, then (unless told not to) re-check recent ones for edits and
        deletions; the daemon schedules the two separately."""
        summary = self._start(account)
        connector: Connector | None = None
        try:
            connector = self._connector(account)
            self._capture(connector, account, summary)
            if reconcile:
                self._reconcile(connector, account, summary)
            summary.status = "partial" if summary.counts["failed"] else "ok"
        except FatalError as exc:
            summary.status = "fatal"
            summary.add_error("run", f"{type(exc).__name__}: {exc}")
        except (RetriableError, SkippableError, ArchiverError) as exc:
            summary.status = "failed"
            summary.add_error("run", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the account boundary: a connector bug
            # must not stop the other accounts; it is recorded with its traceback.
            summary.status = "failed"
            summary.add_error("run", f"unexpected {type(exc).__name__}: {exc}")
            log.error("capture of %s crashed:\n%s", account.handle, traceback.format_exc())
        except BaseException as exc:  # Ctrl-C: the run row must not stay running
            summary.status = "failed"
            summary.add_error("run", f"interrupted: {type(exc).__name__}: {exc}")
            raise
        finally:
            if connector is not None:
                connector.close()
            self._finish(summary)
        return summary

    # -- the run row ---------------------------------------------------------
    def _start(self, account: Account, connector: str | None = None) -> RunSummary:
        now = self.archive.clock.now()
        with write_transaction(self.archive.engine) as conn:
            run_id = conn.execute(
                capture_runs.insert().values(
                    account_id=account.id,
                    connector=connector or account.platform,
                    started_at=now,
                    status="running",
                    errors=[],
                )
            ).inserted_primary_key[0]
        return RunSummary(run_id, account.handle, account.platform, started_at=now)

    def _finish(self, summary: RunSummary) -> None:
        summary.finished_at = self.archive.clock.now()
        with write_transaction(self.archive.engine) as conn:
            conn.execute(
                capture_runs.update()
                .where(capture_runs.c.id == summary.run_id)
                .values(
                    finished_at=summary.finished_at,
                    status=summary.status,
                    errors=summary.errors,
                    **summary.counts,
                )
            )
            self.archive.audit.record(
                self.archive.actor,
                "capture",
                {
                    "run_id": summary.run_id,
                    "account": summary.account,
                    "platform": summary.platform,
                    "status": summary.status,
                    **summary.counts,
                },
                conn=conn,
            )

    # -- connector -----------------------------------------------------------
    def _connector(self, account: Account) -> Connector:
        connector_class = load_connector(account.platform)
        settings = account.settings
        token = os.environ.get(settings.token_env) if settings.token_env else None
        secrets = [token] if token else []

        def make_client(**overrides: Any) -> HttpClient:
            options: dict[str, Any] = {
                "base_url": settings.base_url,
                "secrets": secrets,
                "allow_hosts": settings.allow_media_hosts,
                "max_media_bytes": settings.max_media_bytes,
                **self.http_options,
            }
            options.update(overrides)
            return HttpClient(**options)

        context = ConnectorContext(make_client=make_client, now=self.archive.clock.now)
        self._media = MediaFetcher(self.archive.store, make_client(), settings.max_media_bytes)
        return connector_class(account, context)

    def run_import(self, account: Account, format_name: str, path: Path) -> RunSummary:
        """Import an export file into the account: validated and fully parsed first
        (UnsafeArchiveError before anything is written), then archived like a capture.
        Re-importing the same file adds nothing: every item comes out unchanged."""
        importer = load_importer(format_name)
        if importer.platform != account.platform:
            raise UsageError(
                f"a {format_name!r} export holds {importer.platform} items, "
                f"but account {account.handle} is on {account.platform}"
            )
        source = CaptureContext(
            f"import:{format_name}",
            importer.version,
            source="export",
            source_sha256=file_sha256(path),
        )
        with open_export(path) as export:
            parsed = sum(1 for _ in importer.items(export, account, source))
            summary = self._start(account, connector=f"import:{format_name}")
            self._media = MediaFetcher(
                self.archive.store, None, account.settings.max_media_bytes, export
            )
            try:
                self._archive_stream(importer.items(export, account, source), account, summary)
                summary.status = "partial" if summary.counts["failed"] else "ok"
            except ArchiverError as exc:
                summary.status = "failed"
                summary.add_error("import", f"{type(exc).__name__}: {exc}")
            except BaseException as exc:  # a bug or Ctrl-C: the run row must not stay running
                summary.status = "failed"
                summary.add_error("import", f"interrupted: {type(exc).__name__}: {exc}")
                raise
            finally:
                self._finish(summary)
        log.info("imported %s: %d items parsed", path, parsed)
        return summary

    def _archive_stream(
        self, produced: Iterable[CapturedItem], account: Account, summary: RunSummary
    ) -> None:
        page: list[CapturedItem] = []
        for item in produced:
            page.append(item)
            if len(page) >= self.archive.settings.ingest.batch_size:
                self._archive_page(page, account, summary)
                page = []
        self._archive_page(page, account, summary)

    def _capture(self, connector: Connector, account: Account, summary: RunSummary) -> None:
        """Pages are gathered up to the ingest batch size (each batch costs two store
        syncs); cursor updates wait until every item yielded before them is archived."""
        page: list[CapturedItem] = []
        cursors_due: dict[str, CursorUpdate] = {}
        produced_items = iter(connector.fetch(self._load_cursor(account.id)))
        while True:
            try:
                produced = next(produced_items)
            except StopIteration:
                break
            except BaseException:
                # The connector failed part-way: what it yielded so far is good, keep it.
                self._archive_page(page, account, summary)
                self._save_cursors(account.id, cursors_due)
                raise
            if isinstance(produced, CursorUpdate):
                cursors_due[produced.stream] = produced
            else:
                page.append(produced)
            if len(page) >= self.archive.settings.ingest.batch_size:
                self._archive_page(page, account, summary)
                page = []
                self._save_cursors(account.id, cursors_due)
        self._archive_page(page, account, summary)
        self._save_cursors(account.id, cursors_due)

    def _reconcile(self, connector: Connector, account: Account, summary: RunSummary) -> None:
        window = account.settings.reconcile_days
        if window <= 0:
            return
        since = self.archive.clock.now() - timedelta(days=window)
        self._archive_stream(
            connector.reconcile(self._archived_since(account, since)), account, summary
        )

    def _archived_since(self, account: Account, since: datetime) -> Iterator[ArchivedItem]:
        query = (
            select(
                items.c.native_id, items.c.kind, items.c.latest_record_id, items.c.last_changed_at
            )
            .where(
                items.c.platform == account.platform,
                items.c.account == account.handle,
                items.c.deleted.is_(False),
                items.c.last_changed_at >= since,
            )
            .order_by(items.c.id)
        )
        with self.archive.engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            record = Record.from_bytes(self.archive.store.get(record_key(row.latest_record_id)))
            yield ArchivedItem(
                row.native_id, row.kind, record.fields["content"], row.last_changed_at
            )

    # -- archiving a page ----------------------------------------------------
    def _archive_page(
        self, page: list[CapturedItem], account: Account, summary: RunSummary
    ) -> None:
        if not page:
            return
        page = [self._checked(item, account) for item in page]
        changing = self.archive.ingestor.would_change(page)
        ready = [
            self._with_media(item, summary) if change else item
            for item, change in zip(page, changing, strict=True)
        ]
        result = self.archive.ingest(ready, run_id=summary.run_id, audit=False)
        for item, outcome in zip(ready, result.outcomes, strict=True):
            summary.counts[outcome.status] += 1
            label = {"new": item.kind, "edited": "version", "deleted": "tombstone"}.get(
                outcome.status
            )
            if label:
                summary.by_kind[label] = summary.by_kind.get(label, 0) + 1

    @staticmethod
    def _checked(item: CapturedItem, account: Account) -> CapturedItem:
        """A connector may only archive into its own account."""
        if item.platform != account.platform or item.account != account.handle:
            raise FatalError(
                f"connector yielded an item for {item.platform}/{item.account}, "
                f"not {account.platform}/{account.handle}"
            )
        return item

    def _with_media(self, item: CapturedItem, summary: RunSummary) -> CapturedItem:
        if not item.attachments:
            return item
        stored = []
        for attachment in item.attachments:
            try:
                stored.append(self._media.fetch(attachment))
                summary.media += 1
            except SkippableError as exc:
                summary.counts["failed"] += 1
                summary.add_error("media", f"{attachment.url}: {exc}", item.native_id)
        return dataclasses.replace(item, media=tuple(stored))

    # -- cursors -------------------------------------------------------------
    def _load_cursor(self, account_id: int) -> dict[str, str]:
        with self.archive.engine.connect() as conn:
            rows = conn.execute(
                select(cursors.c.stream, cursors.c.value).where(cursors.c.account_id == account_id)
            )
            return {row.stream: row.value for row in rows}

    def _save_cursors(self, account_id: int, due: dict[str, CursorUpdate]) -> None:
        """Save and forget the cursor updates whose items are all archived."""
        if not due:
            return
        now = self.archive.clock.now()
        with write_transaction(self.archive.engine) as conn:
            for update in due.values():
                changed = conn.execute(
                    cursors.update()
                    .where(cursors.c.account_id == account_id, cursors.c.stream == update.stream)
                    .values(value=update.value, updated_at=now)
                ).rowcount
                if not changed:
                    conn.execute(
                        cursors.insert().values(
                            account_id=account_id,
                            stream=update.stream,
                            value=update.value,
                            updated_at=now,
                        )
                    )
        due.clear()


def abandon_running_runs(
    archive: Archive, account_id: int, actor: str, reason: str = ABANDONED
) -> list[int]:
    """Mark the account's runs still `running` as failed, each audited; returns their ids.
    Only for a caller sure that nobody captures the account now (its lease holder):
    a live run in another process looks just the same."""
    left_over = (
        select(capture_runs.c.id)
        .where(capture_runs.c.account_id == account_id, capture_runs.c.status == "running")
        .order_by(capture_runs.c.id)
    )
    with archive.engine.connect() as conn:  # the usual answer, none, without a write lock
        if conn.execute(left_over.limit(1)).first() is None:
            return []
    now = archive.clock.now()
    with write_transaction(archive.engine) as conn:
        run_ids = list(conn.execute(left_over).scalars())
        if run_ids:
            conn.execute(
                capture_runs.update()
                .where(capture_runs.c.id.in_(run_ids))
                .values(
                    status="failed",
                    finished_at=now,
                    errors=[{"stage": "run", "native_id": None, "message": reason}],
                )
            )
        for run_id in run_ids:
            archive.audit.record(
                actor,
                "capture-abandoned",
                {"run_id": run_id, "account_id": account_id, "status": "failed", "reason": reason},
                conn=conn,
            )
    return run_ids


def capture_accounts(runner: CaptureRunner, accounts: Iterable[Account]) -> list[RunSummary]:
    """Capture each account in turn; one failing never stops the others."""
    return [runner.run(account) for account in accounts]
