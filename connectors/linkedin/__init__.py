"""LinkedIn: an organisation's posts and comments, edits and deletions over the Posts API."""

from __future__ import annotations

from .connector import LinkedInConnector, LinkedInSettings

__all__ = ["LinkedInConnector", "LinkedInSettings"]
