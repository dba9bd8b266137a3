"""The daily maintenance hook runs the tasks registered under the entry-point group
`archiver.maintenance` (a distribution with that entry point is put on sys.path):
each is logged with its result, and one failing does not stop the next."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.daemon import Daemon
from archiver.daemon.maintenance import registered_tasks, run_maintenance
from tests.daemon import maintenance_tasks

TEST_TASKS = ("a_broken", "count")


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[None]:
    site = tmp_path / "site"
    info = site / "archiver_test_maintenance-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: archiver-test-maintenance\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[archiver.maintenance]\n"
        "a_broken = tests.daemon.maintenance_tasks:broken\n"
        "count = tests.daemon.maintenance_tasks:count_records\n"
    )
    sys.path.insert(0, str(site))
    maintenance_tasks.CALLS.clear()
    yield
    sys.path.remove(str(site))


def test_the_archiver_registers_its_daily_retention_task() -> None:
    assert [name for name, _ in registered_tasks()] == ["retention"]


def test_registered_tasks_run_and_a_failure_does_not_stop_the_others(
    registered: None, sqlite_archive: Archive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run = run_maintenance(sqlite_archive)
    ours = [t for t in run.tasks if t.name != "retention"]  # the archiver's own task
    assert [(t.name, t.ok) for t in ours] == [("a_broken", False), ("count", True)]
    assert maintenance_tasks.CALLS == ["broken", "count_records"]
    assert "unavailable" in ours[0].error and ours[1].result == {"records": 0}

    Daemon(sqlite_archive, holder="test-maintenance").maintenance()  # the scheduled job
    logged = [r.fields for r in caplog.records
              if getattr(r, "event", None) == "maintenance-task" and r.fields["task"] in TEST_TASKS]
    assert [(f["task"], f["ok"]) for f in logged if f["task"] != "retention"] == [
        ("a_broken", False), ("count", True)]
