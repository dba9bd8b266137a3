"""Capture runs the daemon can stop cleanly: at SIGTERM a run ends after the item it
is on. The capture framework archives what was yielded so far and saves the cursors
whose items are all archived, so the next run re-reads at most the page it was on
(ingest finds those items unchanged): no gap, no duplicate.

The stop is raised as ShutdownRequested (a RetriableError) from inside the
connector's item stream, which is the framework's own path for "the connector
failed part-way: keep what it yielded". Waits inside the HTTP client (backoff,
rate limits) are cut short too. A reconciliation stopped part-way keeps nothing of
its unfinished batch; the next one checks those items again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from archiver.archive import Archive
from archiver.capture.run import CaptureRunner
from archiver.errors import RetriableError
from archiver.item import CapturedItem
from connectors.base import Account, ArchivedItem, Connector, CursorUpdate

MAX_RATE_LIMIT_WAIT = 60.0  # longer waits go back to the scheduler as a retriable failure


Produced = TypeVar("Produced")


class ShutdownRequested(RetriableError):
    """The daemon is stopping; what was captured so far is archived."""


class StoppableConnector:
    """Wraps a connector so its item streams end when `stop` is set."""

    def __init__(self, inner: Connector, stop: threading.Event) -> None:
        self.inner = inner
        self.stop = stop

    def fetch(self, cursor: Mapping[str, str]) -> Iterator[CapturedItem | CursorUpdate]:
        return self._until_stopped(self.inner.fetch(cursor))

    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        return self._until_stopped(self.inner.reconcile(archived))

    def _until_stopped(self, produced: Iterable[Produced]) -> Iterator[Produced]:
        """Each item handed on, then the stream ends if the daemon is stopping: the
        connector never starts on the next one (its requests included)."""
        for item in produced:
            yield item
            if self.stop.is_set():
                raise ShutdownRequested("daemon shutting down: stopped after the current item")

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class DaemonCaptureRunner(CaptureRunner):
    """A CaptureRunner whose connectors stop after their current item when `stop` is set.
    One per run: the runner keeps per-run state (the media fetcher)."""

    def __init__(
        self,
        archive: Archive,
        stop: threading.Event,
        http_options: dict[str, Any] | None = None,
    ) -> None:
        options = {"sleep": self._sleep, "max_rate_limit_wait": MAX_RATE_LIMIT_WAIT}
        options.update(http_options or {})
        super().__init__(archive, http_options=options)
        self.stop = stop

    def _connector(self, account: Account) -> Connector:
        # CaptureRunner has no public hook for this yet; the wrapper is all we add.
        return StoppableConnector(super()._connector(account), self.stop)  # type: ignore[return-value]

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise ShutdownRequested("daemon shutting down: wait cut short")
