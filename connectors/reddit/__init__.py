"""Reddit: the account's submissions, comments and private messages, edits and deletions
over the OAuth API."""

from __future__ import annotations

from .connector import RedditConnector, RedditSettings

__all__ = ["RedditConnector", "RedditSettings"]
