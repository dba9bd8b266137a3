"""Instagram (Graph API for professional accounts): media, Reels, Stories, comments,
Direct messages, edits and deletions; "Download your information" exports via `export`."""

from __future__ import annotations

from .connector import InstagramConnector, InstagramSettings

__all__ = ["InstagramConnector", "InstagramSettings"]
