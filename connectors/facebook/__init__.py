"""Facebook Pages: feed, comments and replies, Page conversations, edits and deletions
over the Graph API; "Download your information" JSON exports through `export`."""

from __future__ import annotations

from .connector import FacebookPagesConnector, FacebookSettings

__all__ = ["FacebookPagesConnector", "FacebookSettings"]
