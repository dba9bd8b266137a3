"""X (Twitter): posts, replies, DMs, edits and deletions over API v2, and the
"Download your archive" export (export.py), through one normaliser (normalise.py)."""

from __future__ import annotations

from .connector import XConnector, XSettings

__all__ = ["XConnector", "XSettings"]
