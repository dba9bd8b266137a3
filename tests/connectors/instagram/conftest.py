"""A fake Graph API over real HTTP and Instagram connectors aimed at it."""

from __future__ import annotations

from connectors.instagram import InstagramConnector
from tests.connectors.facebook.support import connector_fixture, graph, run  # noqa: F401
from tests.fakes.meta_graph import IG_USER_ID

make_connector = connector_fixture(
    InstagramConnector, "instagram", "@example_org", {"ig_user_id": IG_USER_ID, "page_limit": 2}
)
