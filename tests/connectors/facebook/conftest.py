"""A fake Graph API over real HTTP and Facebook Pages connectors aimed at it."""

from __future__ import annotations

from connectors.facebook import FacebookPagesConnector
from tests.connectors.facebook.support import connector_fixture, graph, run  # noqa: F401
from tests.fakes.meta_graph import PAGE_ID

make_connector = connector_fixture(
    FacebookPagesConnector, "facebook", "@fbdevs", {"page_id": PAGE_ID, "page_limit": 3}
)
