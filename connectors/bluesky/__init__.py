"""Bluesky (AT Protocol): posts, replies, reposts and DMs of an account, with an app password.

See connector.py for the streams and cursors, xrpc.py for the session and the chat
proxy header, normalise.py for what goes into normalised content.
"""

from __future__ import annotations

from .connector import BlueskyConnector, BlueskySettings
from .xrpc import CHAT_PROXY, LoginError

__all__ = ["CHAT_PROXY", "BlueskyConnector", "BlueskySettings", "LoginError"]
