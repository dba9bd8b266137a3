"""Daily maintenance the daemon runs (entry points `archiver.maintenance`).

Disposition itself is deliberately not automatic: deleting records is an act a
records manager approves. The daily task extends locks to today's policies,
writes the dry-run of what may now be disposed to the audit trail (where an
officer reviews it before running `archiver retention dispose`), and carries out
erasure requests that no retention period or hold blocks any more (GDPR Art. 17
wants that done without undue delay).
"""

from __future__ import annotations

from typing import Any

from archiver.archive import Archive
from archiver.disposition import DispositionService
from archiver.erasure import ErasureService
from archiver.retention_service import RetentionService


def daily_retention(archive: Archive) -> dict[str, Any]:
    applied = RetentionService(archive).apply()
    decided = ErasureService(archive).process()  # first: the dry run then shows what is left
    due = DispositionService(archive).dispose(dry_run=True)
    return {
        "locks_extended": applied.extended,
        "disposable_records": len(due.plan.records),
        "disposable_media": len(due.plan.media),
        "erasure_requests": {d["id"]: d["status"] for d in decided},
        "warnings": applied.warnings or [],
    }
