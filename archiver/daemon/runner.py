"""Capture runs the daemon can stop cleanly: at SIGTERM a run ends at the next page
boundary (a CursorUpdate), after the capture framework has archived that page and
saved its cursor, so the next run resumes exactly there: no gap, no duplicate.

The stop is raised as ShutdownRequested (a RetriableError) from inside the
connector's item stream, which is the framework's own path for "the connector
failed part-way: keep what it yielded". Waits inside the HTTP client (backoff,
rate limits) are cut short too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from archiver.archive import Archive
from archiver.capture.run import CaptureRunner
from archiver.errors import RetriableError
from archiver.item import CapturedItem
from connectors.base import Account, ArchivedItem, Connector, CursorUpdate

RECONCILE_CHECK_EVERY = 50  # items between stop checks while reconciling
MAX_RATE_LIMIT_WAIT = 60.0  # longer waits go back to the scheduler as a retriable failure


class ShutdownRequested(RetriableError):
    """The daemon is stopping; what was captured so far is archived."""


class StoppableConnector:
    """Wraps a connector so its item streams end when `stop` is set."""

    def __init__(self, inner: Connector, stop: threading.Event) -> None:
        self.inner = inner
        self.stop = stop

    def fetch(self, cursor: Mapping[str, str]) -> Iterator[CapturedItem | CursorUpdate]:
        for produced in self.inner.fetch(cursor):
            yield produced
            if isinstance(produced, CursorUpdate) and self.stop.is_set():
                raise ShutdownRequested("daemon shutting down: stopped after a page")

    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        for count, item in enumerate(self.inner.reconcile(archived), start=1):
            yield item
            if count % RECONCILE_CHECK_EVERY == 0 and self.stop.is_set():
                raise ShutdownRequested("daemon shutting down: reconciliation interrupted")
        if self.stop.is_set():
            raise ShutdownRequested("daemon shutting down")

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class DaemonCaptureRunner(CaptureRunner):
    """A CaptureRunner whose connectors stop at page boundaries when `stop` is set.
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
