"""The scheduled capture daemon (`archiver daemon`): APScheduler jobs per account,
backoff and pauses, leases for several daemons, the spool drain, and housekeeping
(checkpoints, index catch-up, daily maintenance tasks). See docs/daemon.md."""

from __future__ import annotations

from archiver.daemon.service import Daemon, SyncReport

__all__ = ["Daemon", "SyncReport"]
