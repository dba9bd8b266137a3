"""The daily maintenance hook: tasks registered by packages under the entry-point
group `archiver.maintenance` (retention and disposition will register theirs).

A task is a callable taking the opened Archive and returning a JSON-able summary
(or None); it must be safe to run again, since two daemons may both run it. One
task failing is logged and does not stop the others.

    [project.entry-points."archiver.maintenance"]
    dispose = "mypackage.tasks:dispose_expired"
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from archiver.archive import Archive
from archiver.errors import ArchiverError

ENTRY_POINT_GROUP = "archiver.maintenance"
log = logging.getLogger(__name__)

MaintenanceTask = Callable[[Archive], Any]


@dataclass
class TaskResult:
    name: str
    ok: bool
    seconds: float
    result: Any = None
    error: str | None = None


@dataclass
class MaintenanceRun:
    tasks: list[TaskResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(task.ok for task in self.tasks)


def registered_tasks() -> list[tuple[str, Callable[[], MaintenanceTask]]]:
    """(name, loader) for every registered task, sorted by name."""
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name)
    return [(entry.name, entry.load) for entry in found]


def run_maintenance(archive: Archive) -> MaintenanceRun:
    run = MaintenanceRun()
    for name, load in registered_tasks():
        started = time.perf_counter()
        try:
            task = load()
            result = task(archive)
            run.tasks.append(TaskResult(name, True, time.perf_counter() - started, result))
        except ArchiverError as exc:
            run.tasks.append(
                TaskResult(name, False, time.perf_counter() - started, error=f"{exc}")
            )
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the others
            log.error("maintenance task %s crashed:\n%s", name, traceback.format_exc())
            run.tasks.append(
                TaskResult(
                    name,
                    False,
                    time.perf_counter() - started,
                    error=f"unexpected {type(exc).__name__}: {exc}",
                )
            )
    return run
