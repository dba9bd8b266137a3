"""Structured logs for the daemon: one JSON object per line, to stderr or a file.

Every capture or reconciliation run is one line with event "run" and its counts;
other events (paused, breaker-open, spool-drain, checkpoint, maintenance, lease-lost,
shutdown) have their own names. Ordinary log records become lines too.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENT_LOGGER = "archiver.daemon.events"
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event is not None:
            line["event"] = event
            line.update(getattr(record, "fields", {}))
        else:
            line["message"] = record.getMessage()
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in ("event", "fields") and key not in line:
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, sort_keys=False)


def setup_logging(log_file: Path | None, level: str) -> logging.Handler:
    """Send every log record, as JSON lines, to `log_file` (appended) or stderr."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job start and end at INFO: our run lines say more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: {"event": name, ...fields}."""
    logging.getLogger(EVENT_LOGGER).log(level, name, extra={"event": name, "fields": fields})
