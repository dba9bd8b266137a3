"""An object-store outage in the middle of a scheduled capture: moto's S3 server
(over HTTP) is stopped while the fake platform is half-way through serving, and
started again on the same port. Nothing captured is lost or duplicated: records
wait in the spool (verify passes while they do), drain in order, and the archive
then holds every item the platform served exactly once, all of it in S3."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from archiver.archive import Archive
from archiver.cli.daemon import open_daemon_store
from archiver.clock import FixedClock
from archiver.daemon import Daemon
from archiver.daemon.status import spool_status
from archiver.daemon.store import spooling_store
from archiver.records import record_key
from archiver.setup import initialise
from config.settings import Settings
from storage.catalogue.models import records
from tests.conftest import START
from tests.daemon.conftest import FAST_DAEMON, Platform, add_account, archived_versions, oracle_ids
from tests.fakes.server import RecordedRequest, Reply
from tests.support.s3 import fake_aws_environment, unique_bucket_name


class RestartableS3:
    """moto's threaded server, stopped and started again on the same port (its state
    lives in the process, so the bucket and objects survive)."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        self.host, self.port = self.server.get_host_and_port()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()


@pytest.fixture
def s3() -> Iterator[RestartableS3]:
    with fake_aws_environment():
        server = RestartableS3()
        yield server
        server.stop()


def s3_archive_settings(endpoint: str, root: Path) -> Settings:
    s3: dict[str, Any] = {
        "bucket": unique_bucket_name("spool"),
        "endpoint_url": endpoint,
        "create_bucket": True,
        "connect_timeout": 0.5,
        "max_attempts": 1,
    }
    return Settings(
        archive={"dir": root / "archive"},
        storage={"backend": "s3", "s3": s3, "spool": {"retry_interval": 0.2}},
        ingest={"batch_size": 10},
        daemon=FAST_DAEMON,
    )


def stop_store_at(fake: Any, s3: RestartableS3, request_number: int) -> None:
    """Stop the S3 server when the platform is asked for its `request_number`th page."""
    handle, seen = fake._handle, []

    def handler(request: RecordedRequest) -> Reply:
        if request.path.endswith("/statuses"):
            seen.append(request)
            if len(seen) == request_number:
                s3.stop()
        return handle(request)

    fake.server.add("GET", re.compile(r"/api/.*"), handler)


def test_an_outage_mid_run_loses_and_duplicates_nothing(
    s3: RestartableS3, platform: Platform, tmp_path: Path
) -> None:
    settings = s3_archive_settings(s3.endpoint, tmp_path)
    initialise(settings)
    archive = Archive.open(settings, store=open_daemon_store(settings), clock=FixedClock(START))
    fake = platform.new(statuses=100)
    handle = "@outage@fake.test"
    expected = oracle_ids(tmp_path, fake, handle)
    account = add_account(archive, fake, handle, page_limit=20)
    stop_store_at(fake, s3, request_number=3)
    daemon = Daemon(archive, holder="test-outage")

    summary = daemon.run_account(account.id)
    assert summary is not None and summary.status == "ok", summary.errors
    spool = spooling_store(archive.store)
    assert spool is not None
    waiting = spool_status(archive)
    assert waiting["objects"] > 0 and waiting["store_reachable"] is False

    s3.start()
    in_s3_before = set(spool.inner.keys("records/"))
    assert in_s3_before  # the first pages reached S3 before the outage
    report = archive.verify()  # objects in the spool are present, through the wrapper
    assert report.ok, [p for p in report.problems if p.severity == "error"]

    daemon.drain_spool()  # the scheduled drain job
    assert spool_status(archive)["objects"] == 0
    assert in_s3_before < set(spool.inner.keys("records/"))
    with archive.engine.connect() as conn:
        catalogued = {record_key(r) for r in conn.execute(select(records.c.record_id)).scalars()}
    assert set(spool.inner.keys("records/")) == catalogued  # all of it in S3 now
    versions = archived_versions(archive, handle)
    assert set(versions) == expected and set(versions.values()) == {1}
    archive.checkpoint()
    assert archive.verify().ok

    # The next scheduled run finds everything archived: nothing new, nothing twice.
    again = daemon.run_account(account.id)
    assert again is not None and again.counts["new"] == 0 and again.status == "ok"
    archive.close()
