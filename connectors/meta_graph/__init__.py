"""Graph API helpers shared by the Facebook Pages and Instagram connectors and importers."""

from __future__ import annotations

from .connector import GraphConnector
from .graph import GraphApi, GraphErrorInfo, ObjectGone, Page
from .settings import GraphSettings

__all__ = ["GraphApi", "GraphConnector", "GraphErrorInfo", "GraphSettings", "ObjectGone", "Page"]
