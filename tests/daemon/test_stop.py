"""Stopping a daemon run (SIGTERM): the run ends after the item it is on, not at the
end of its page, keeps what it captured, and the next run resumes with no gap and
no duplicate. In-process, against a fake Mastodon over HTTP."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from archiver.archive import Archive
from archiver.clock import FixedClock
from archiver.daemon.runner import DaemonCaptureRunner
from archiver.setup import initialise
from config.settings import Settings
from tests.conftest import START
from tests.daemon.conftest import (
    Platform,
    add_account,
    archived_versions,
    oracle_ids,
)
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import RecordedRequest, Reply

HANDLE = "@stopped@fake.test"
PAGE = 10


def stop_at_page(fake: FakeMastodon, number: int, stop: threading.Event) -> list[str]:
    """Set `stop` while the platform serves the account's statuses page `number`
    (the operator's SIGTERM arriving then); returns the statuses paths served."""
    served: list[str] = []
    handle = fake._handle

    def serve(request: RecordedRequest) -> Reply:
        served.append(request.path)
        if len(served) == number:
            stop.set()
        return handle(request)

    fake.server.add("GET", re.compile(r"/api/v1/accounts/[^/]+/statuses"), serve)
    return served


def test_a_stop_ends_the_run_after_its_current_item_and_the_next_run_resumes(
    sqlite_daemon_settings: Callable[..., Settings], platform: Platform, tmp_path: Path
) -> None:
    settings = sqlite_daemon_settings()
    assert settings.ingest.batch_size == PAGE
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:officer")
    fake = platform.new(statuses=25)
    expected = oracle_ids(tmp_path, fake, HANDLE)
    account = add_account(archive, fake, HANDLE, page_limit=PAGE)
    stop = threading.Event()
    served = stop_at_page(fake, 2, stop)

    stopped = DaemonCaptureRunner(archive, stop).run(account, reconcile=False)
    assert stopped.status == "failed"
    assert stopped.errors[0]["message"].startswith("ShutdownRequested: daemon shutting down")
    assert len(served) == 2  # no request after the stop
    # Page 1, then the first item of page 2 (a stop at the page's end would give 20).
    assert len(archived_versions(archive, HANDLE)) == PAGE + 1

    resumed = DaemonCaptureRunner(archive, threading.Event()).run(account, reconcile=False)
    assert resumed.status == "ok"
    assert resumed.counts["unchanged"] == 1  # page 2 read again: its first item was archived
    versions = archived_versions(archive, HANDLE)
    assert set(versions) == expected and set(versions.values()) == {1}
    archive.close()
