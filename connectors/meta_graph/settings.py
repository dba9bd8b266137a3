"""Settings shared by the Facebook Pages and Instagram connectors (both speak the Graph API)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field

from connectors.base import ConnectorSettings

GRAPH_ROOT = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v19.0"
_VERSION_SEGMENT = re.compile(r"/v\d+\.\d+/?$")


class GraphSettings(ConnectorSettings):
    base_url: str = Field(
        GRAPH_ROOT,
        description="Graph API host (a test server too); a trailing /vNN.N overrides api_version",
    )
    api_version: str = Field(
        DEFAULT_API_VERSION,
        pattern=r"^v\d+\.\d+$",
        description="Graph API version every request is pinned to, e.g. v19.0",
    )
    page_limit: int = Field(25, ge=1, le=100, description="Objects per request (`limit`)")
    capture_comments: bool = Field(True, description="Archive comments and replies")
    capture_dms: bool = Field(True, description="Archive conversations (needs messaging scopes)")
    max_messages_per_conversation: int = Field(
        20,
        ge=1,
        le=100,
        description="Messages read per changed conversation and run (Graph details only the "
        "20 most recent messages of a conversation)",
    )
    usage_slowdown_percent: int = Field(
        80,
        ge=1,
        le=100,
        description="Start pacing requests when Meta's usage headers report this much of the "
        "quota used",
    )
    usage_window_seconds: int = Field(
        3600,
        ge=1,
        description="Meta counts usage over a rolling hour: above the slowdown threshold the "
        "remaining quota is spread over this long",
    )
    dm_token_env: str | None = Field(
        None,
        description="Environment variable holding a Page token for conversations, when "
        "token_env holds a token that cannot read them (Instagram: a User token for media, "
        "a Page token for Direct); default: token_env",
    )
    app_secret_env: str | None = Field(
        None,
        description="Environment variable holding the app secret; when set every request "
        "carries appsecret_proof (required by apps with 'Require App Secret' on)",
    )

    def api_root(self) -> str:
        """The versioned root every request path is appended to."""
        base = self.base_url.rstrip("/")
        if _VERSION_SEGMENT.search(urlsplit(base).path + "/"):
            return base
        return f"{base}/{self.api_version}"
