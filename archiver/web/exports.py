"""Evidence-pack exports started from the web: one at a time on a background thread,
followed by polling, downloaded when done.

The ExportService (archiver/export) writes the zipped BagIt bag and audits the
export under the user who asked. Each job's state is a small JSON file beside
its pack (<exports dir>/<job id>/job.json), so finished packs are still listed
and downloadable after a restart; a job a restart interrupted is marked failed.
Downloads are found by job id (32 hex digits) only: no path comes from a client.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.canonical import sha256_hex
from archiver.clock import format_time
from archiver.errors import ArchiverError, UsageError
from archiver.holds import HoldService
from archiver.web.records_view import NotFoundError
from search.query import QuerySyntaxError, parse_query

log = logging.getLogger(__name__)
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
ACTIVE = ("queued", "running")


class ExportNotFound(NotFoundError):
    """No export with this id (a 404)."""


@dataclass
class ExportJob:
    id: str
    created_at: str
    created_by: str
    query: str | None
    matter: str | None
    reason: str
    status: str = "queued"  # queued | running | done | failed
    phase: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    finished_at: str | None = None
    file_name: str | None = None  # inside the job's directory, made here from the id
    size: int | None = None
    sha256: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["download"] = (f"/api/v1/exports/{self.id}/download"
                            if self.status == "done" else None)
        return data

    @property
    def label(self) -> str:
        return f"matter {self.matter}" if self.matter else f"query {self.query}"


class ExportRunner:
    """Runs the web's exports; one worker, so a pack never competes with another."""

    def __init__(self, archive: Archive, root: Path) -> None:
        self.archive = archive
        self.root = root
        self._lock = threading.Lock()
        self._jobs: dict[str, ExportJob] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")
        self._load()

    # -- state on disk -------------------------------------------------------------------------
    def _job_dir(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise ExportNotFound(job_id)
        return self.root / job_id

    def _load(self) -> None:
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.iterdir()):
            if not JOB_ID.match(entry.name) or not (entry / "job.json").is_file():
                continue
            try:
                job = ExportJob(**json.loads((entry / "job.json").read_text("utf-8")))
            except (ValueError, TypeError) as exc:
                log.warning("ignoring unreadable export state %s: %s", entry, exc)
                continue
            if job.status in ACTIVE:
                job.status, job.message = "failed", "interrupted by a restart of the web app"
                self._save(job)
            self._jobs[job.id] = job

    def _save(self, job: ExportJob) -> None:
        directory = self._job_dir(job.id)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / "job.json.tmp"
        temporary.write_text(json.dumps(asdict(job), sort_keys=True), "utf-8")
        os.replace(temporary, directory / "job.json")

    # -- jobs -----------------------------------------------------------------------------------
    def jobs(self) -> list[ExportJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def get(self, job_id: str) -> ExportJob:
        with self._lock:
            job = self._jobs.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise ExportNotFound(f"no export {job_id}")
        return job

    def start(self, acting: Archive, *, query: str | None, matter: str | None,
              reason: str = "") -> ExportJob:
        """Check the request now (a bad query or unknown matter is a UsageError), then
        queue it. A query export holds every version and tombstone it matches."""
        query = query.strip() if query else None
        matter = matter.strip() if matter else None
        if (query is None) == (matter is None):
            raise UsageError("export either a query or a matter")
        if query is not None:
            try:
                parse_query(query)
            except QuerySyntaxError as exc:
                raise UsageError(str(exc)) from None
        else:
            HoldService(acting).show(matter or "")  # UsageError if there is no such matter
        now = acting.clock.now()
        job = ExportJob(id=secrets.token_hex(16), created_at=format_time(now),
                        created_by=acting.actor, query=query, matter=matter,
                        reason=reason.strip())
        job.file_name = f"evidence-pack-{now:%Y%m%d}-{job.id[:8]}.zip"
        with self._lock:
            self._jobs[job.id] = job
            self._save(job)
        self._pool.submit(self._run, acting, job)
        return job

    def _run(self, acting: Archive, job: ExportJob) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            with self._lock:
                job.phase, job.done, job.total = phase, done, total
                job.message = f"{phase}: {done} of {total}"

        with self._lock:
            job.status, job.message = "running", "selecting records"
            self._save(job)
        assert job.file_name is not None
        out = self._job_dir(job.id) / job.file_name
        try:
            from archiver.export.service import ExportRequest, ExportService

            result = ExportService(acting).export(
                ExportRequest(out=out, matter=job.matter, query=job.query, as_zip=True,
                              reason=job.reason or None),
                progress,
            )
            digest = sha256_hex(out.read_bytes())
        except (ArchiverError, OSError, ValueError) as exc:
            with self._lock:
                job.status, job.message = "failed", str(exc)
                job.finished_at = format_time(acting.clock.now())
                self._save(job)
            return
        except BaseException as exc:  # a bug: record it on the job, log it, let it surface
            log.exception("export %s failed", job.id)
            with self._lock:
                job.status, job.message = "failed", f"internal error: {exc!r}"
                job.finished_at = format_time(acting.clock.now())
                self._save(job)
            raise
        with self._lock:
            job.status = "done"
            job.message = (f"{result.records} records ({result.matched} matched), "
                           f"{result.media} media")
            job.size, job.sha256 = out.stat().st_size, digest
            job.result = result.as_json()
            job.result.pop("path", None)
            job.finished_at = format_time(acting.clock.now())
            self._save(job)

    def pack_path(self, job_id: str) -> tuple[ExportJob, Path]:
        """The finished pack of a job: the path is made here from the job id and the
        name this runner chose, and must stay inside the exports directory."""
        job = self.get(job_id)
        if job.status != "done" or not job.file_name:
            raise ExportNotFound(f"export {job_id} is not finished")
        path = (self._job_dir(job.id) / job.file_name).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise ExportNotFound(f"export {job_id} has no pack")
        return job, path

    def wait(self, job_id: str, timeout: float = 60.0) -> ExportJob:
        """Block until a job finishes (tests and scripts)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(job_id)
            if job.status not in ACTIVE:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"export {job_id} still running after {timeout} s")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
