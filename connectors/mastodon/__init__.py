"""Mastodon: an account's statuses, replies, DMs, edits and deletions over the REST API."""

from __future__ import annotations

from .connector import MastodonConnector, MastodonSettings

__all__ = ["MastodonConnector", "MastodonSettings"]
