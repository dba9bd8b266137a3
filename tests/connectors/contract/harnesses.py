"""One adapter per platform fake, so the same contract tests drive every connector.

A harness publishes, edits and deletes on its fake platform and injects the
failures the contract needs; capabilities a platform lacks are declared, so a
test runs only where it applies (never a skip that hides a gap).

Listings are read in small pages (as each platform's own capture tests do), so paging
and the cursors, and the token-bearing next-page URLs some platforms send, are part of
every contract run.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar

from tests.capture.conftest import png as _png
from tests.connectors.facebook.support import TOKEN as META_TOKEN
from tests.connectors.linkedin.support import TOKEN as LINKEDIN_TOKEN
from tests.connectors.mastodon.support import TOKEN as MASTODON_TOKEN
from tests.connectors.reddit.support import TOKEN as REDDIT_TOKEN
from tests.connectors.x.support import TOKEN as X_TOKEN
from tests.fakes import FakeClock
from tests.fakes.bluesky import APP_PASSWORD, JWT_MARK, FakeBluesky
from tests.fakes.linkedin import FIRST_IMAGE, FakeLinkedIn
from tests.fakes.linkedin import ORG as LINKEDIN_ORG
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.meta_graph import (
    IG_PAGE_ID,
    IG_USER_ID,
    IG_USERNAME,
    PAGE_ID,
    VERSION,
    FakeGraph,
    error_reply,
)
from tests.fakes.reddit import USERNAME as REDDIT_USERNAME
from tests.fakes.reddit import FakeReddit
from tests.fakes.server import FakeServer
from tests.fakes.x import ORG_ID as X_ORG_ID
from tests.fakes.x import ORG_USERNAME as X_ORG_USERNAME
from tests.fakes.x import FakeX

# Every harness gets the same few images (a pixel bomb takes a second to draw): draw once.
png = functools.lru_cache(maxsize=16)(_png)


class Harness:
    platform: ClassVar[str]
    token_env: ClassVar[str]
    html_content: ClassVar[bool] = False  # text arrives as HTML and is reduced to plain text
    raw_bytes: ClassVar[bool] = False  # the fake can put invalid UTF-8 on the wire (raw_text)
    extra_settings: ClassVar[dict[str, Any]] = {}  # the platform's own account settings

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        self.server = server
        self.clock = clock  # shared with the HTTP client, so rate-limit resets agree

    handle: str
    secrets: tuple[str, ...]
    env_value: str

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "base_url": self.server.url,
            "token_env": self.token_env,
            "allow_media_hosts": ["127.0.0.1"],
            **self.extra_settings,
            **overrides,
        }

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        raise NotImplementedError

    def edit(self, native_id: str, text: str) -> None:
        raise NotImplementedError

    def delete(self, native_id: str) -> None:
        raise NotImplementedError

    def rate_limit_once(self) -> None:
        raise NotImplementedError

    def fail_listing(self, times: int) -> None:
        raise NotImplementedError

    def truncate_listing(self) -> None:
        raise NotImplementedError

    def raw_text(self, raw: Any) -> str:
        """Where the published text sits in an item's raw payload (for raw_bytes checks)."""
        raise NotImplementedError


def wire_text(text: str | bytes) -> str:
    """Bytes are what the fake puts on the wire as they are (invalid UTF-8 included, held
    as lone surrogates that the fakes encode back to the same bytes)."""
    return text.decode("utf-8", errors="surrogateescape") if isinstance(text, bytes) else text


class MastodonHarness(Harness):
    platform = "mastodon"
    token_env = "CONTRACT_MASTODON_TOKEN"
    html_content = True
    raw_bytes = True

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.fake = FakeMastodon(server, MASTODON_TOKEN, clock=clock.now)
        self.handle = "@org@fake.test"
        self.secrets = (MASTODON_TOKEN,)
        self.env_value = MASTODON_TOKEN

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        content = text if isinstance(text, bytes) else f"<p>{text}</p>"
        status_id = str(self.fake.post_status(content)["id"])
        if image is not None:
            self.fake.attach_image(status_id, image)
        return status_id

    def edit(self, native_id: str, text: str) -> None:
        self.fake.edit_status(native_id, content=f"<p>{text}</p>")

    def delete(self, native_id: str) -> None:
        self.fake.delete_status(native_id)

    def rate_limit_once(self) -> None:
        self.fake.rate_limit(1, reset_in=5)

    def fail_listing(self, times: int) -> None:
        self.fake.fail(times, path=r"/api/v1/accounts/[^/]+/statuses")

    def truncate_listing(self) -> None:
        self.fake.truncate(1, path=r"/api/v1/accounts/[^/]+/statuses")

    def raw_text(self, raw: Any) -> str:
        return raw["content"]


FEED = "app.bsky.feed.getAuthorFeed"


class BlueskyHarness(Harness):
    platform = "bluesky"
    token_env = "CONTRACT_BLUESKY_PASSWORD"

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.fake = FakeBluesky(server)
        self.handle = self.fake.account.handle
        self.secrets = (APP_PASSWORD, JWT_MARK)
        self.env_value = APP_PASSWORD

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        assert isinstance(text, str)
        images = [(image, "an image")] if image is not None else []
        return self.fake.add_post(text, images=images)

    def edit(self, native_id: str, text: str) -> None:
        self.fake.edit_post(native_id, text=text)

    def delete(self, native_id: str) -> None:
        self.fake.delete_post(native_id)

    def rate_limit_once(self) -> None:
        self.fake.rate_limit(FEED, reset=int(self.clock.now().timestamp()) + 5)

    def fail_listing(self, times: int) -> None:
        self.fake.server_errors(FEED, times)

    def truncate_listing(self) -> None:
        self.fake.truncate_next(FEED)


X_TIMELINE = r"/2/users/\d+/tweets"


def x_escaped(text: str) -> str:
    """X's API serves text with &, < and > as HTML entities (and nothing else escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class XHarness(Harness):
    """X API v2: plain text (entity-escaped on the wire); an edit is a new post id whose
    edit history names the first, which stays the item's native id."""

    platform = "x"
    token_env = "CONTRACT_X_TOKEN"
    raw_bytes = True
    extra_settings: ClassVar[dict[str, Any]] = {"user_id": X_ORG_ID, "page_size": 5}

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.fake = FakeX(server, X_TOKEN, clock=clock.now)
        self.handle = f"@{X_ORG_USERNAME}"
        self.secrets = (X_TOKEN,)
        self.env_value = X_TOKEN
        self.newest: dict[str, str] = {}  # an edit chain's first id -> its latest version

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        body = wire_text(text) if isinstance(text, bytes) else x_escaped(text)
        return self.fake.post(body, photos=[(image, None)] if image is not None else [])

    def edit(self, native_id: str, text: str) -> None:
        latest = self.newest.get(native_id, native_id)
        self.newest[native_id] = self.fake.edit(latest, x_escaped(text))

    def delete(self, native_id: str) -> None:
        self.fake.delete(self.newest.get(native_id, native_id))

    def rate_limit_once(self) -> None:
        self.fake.rate_limit(1, reset_in=5, path=X_TIMELINE)

    def fail_listing(self, times: int) -> None:
        self.fake.fail(times, status=500, path=X_TIMELINE)

    def truncate_listing(self) -> None:
        self.fake.truncate(1, path=X_TIMELINE)

    def raw_text(self, raw: Any) -> str:
        return raw["data"]["text"]


class GraphHarness(Harness):
    """Facebook Pages and Instagram share the fake Graph API: plain text; Graph throttles
    with an error code and usage headers saying when access returns."""

    throttle_code: ClassVar[int]  # the business use case limit's error code
    listing: ClassVar[str]  # the timeline edge, as the fake's exact path

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.fake = FakeGraph(server, META_TOKEN, clock=clock.now)
        self.secrets = (META_TOKEN,)
        self.env_value = META_TOKEN

    def rate_limit_once(self) -> None:
        self.fake.rate_limit(self.listing, code=self.throttle_code, regain_minutes=1)

    def fail_listing(self, times: int) -> None:
        storm = error_reply(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            500,
            is_transient=True,
        )
        self.fake.fail(self.listing, *[storm] * times)

    def truncate_listing(self) -> None:
        self.fake.truncate(self.listing)

    def delete(self, native_id: str) -> None:
        self.fake.delete(native_id)


class FacebookHarness(GraphHarness):
    platform = "facebook"
    token_env = "CONTRACT_FACEBOOK_TOKEN"
    raw_bytes = True
    throttle_code = 80001  # Pages
    listing = f"/{VERSION}/{PAGE_ID}/feed"
    extra_settings: ClassVar[dict[str, Any]] = {"page_id": PAGE_ID, "page_limit": 2}

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.handle = "@fbdevs"

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        return str(self.fake.add_post(wire_text(text), image=image)["id"])

    def edit(self, native_id: str, text: str) -> None:
        self.fake.edit_post(native_id, text)

    def raw_text(self, raw: Any) -> str:
        return raw["message"]


class InstagramHarness(GraphHarness):
    """Every Instagram post is a picture: one published without an image still has the
    fake's small PNG (an Instagram account cannot post text alone)."""

    platform = "instagram"
    token_env = "CONTRACT_INSTAGRAM_TOKEN"
    raw_bytes = True
    throttle_code = 80002  # Instagram
    listing = f"/{VERSION}/{IG_USER_ID}/media"
    # page_id: the linked Page, so Instagram Direct is captured too
    extra_settings: ClassVar[dict[str, Any]] = {
        "ig_user_id": IG_USER_ID,
        "page_id": IG_PAGE_ID,
        "page_limit": 2,
    }

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.handle = f"@{IG_USERNAME}"

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        return str(self.fake.add_media(wire_text(text), image=image)["id"])

    def edit(self, native_id: str, text: str) -> None:
        self.fake.edit_caption(native_id, text)

    def raw_text(self, raw: Any) -> str:
        return raw["caption"]


_LITTLE_TEXT_RESERVED = re.compile(r"([|{}@\[\]()<>#\\*_~])")


def little_text(text: str) -> str:
    """A commentary in LinkedIn's "little text" format: reserved characters escaped."""
    return _LITTLE_TEXT_RESERVED.sub(r"\\\1", text)


class LinkedInHarness(Harness):
    """LinkedIn's versioned REST API: commentary is "little text" (plain text with
    reserved characters escaped); no quota headers, a 429 with Retry-After."""

    platform = "linkedin"
    token_env = "CONTRACT_LINKEDIN_TOKEN"
    raw_bytes = True
    extra_settings: ClassVar[dict[str, Any]] = {"organization_urn": LINKEDIN_ORG, "page_size": 2}

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.fake = FakeLinkedIn(server, LINKEDIN_TOKEN)
        # The recorded post's image is served as stand-in bytes; make it a real image.
        self.fake.add_asset(FIRST_IMAGE, png(20, 10))
        self.handle = LINKEDIN_ORG
        self.secrets = (LINKEDIN_TOKEN,)
        self.env_value = LINKEDIN_TOKEN

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        commentary = wire_text(text) if isinstance(text, bytes) else little_text(text)
        return str(self.fake.post(commentary, image=image)["id"])

    def edit(self, native_id: str, text: str) -> None:
        self.fake.edit(native_id, little_text(text))

    def delete(self, native_id: str) -> None:
        self.fake.delete(native_id)

    def rate_limit_once(self) -> None:
        self.fake.rate_limit(1, retry_after="5")

    def fail_listing(self, times: int) -> None:
        self.fake.fail(times, path="/rest/posts")

    def truncate_listing(self) -> None:
        self.fake.truncate(1, path="/rest/posts")

    def raw_text(self, raw: Any) -> str:
        return raw["commentary"]


REDDIT_SUBMITTED = r"/user/[^/]+/submitted/?"


class RedditHarness(Harness):
    """Reddit: a post is a self post whose text is its selftext (markdown, plain here);
    one with an image is an image post, which has no selftext."""

    platform = "reddit"
    token_env = "CONTRACT_REDDIT_TOKEN"
    raw_bytes = True
    extra_settings: ClassVar[dict[str, Any]] = {"page_limit": 2}

    def __init__(self, server: FakeServer, clock: FakeClock) -> None:
        super().__init__(server, clock)
        self.fake = FakeReddit(server, REDDIT_TOKEN, clock=clock.now)
        self.handle = f"u/{REDDIT_USERNAME}"
        self.secrets = (REDDIT_TOKEN,)
        self.env_value = REDDIT_TOKEN

    def publish(self, text: str | bytes, image: bytes | None = None) -> str:
        name = str(self.fake.submit("A post from the contract", wire_text(text))["name"])
        if image is not None:
            self.fake.attach_image(name, image)
        return name

    def edit(self, native_id: str, text: str) -> None:
        self.fake.edit(native_id, text)

    def delete(self, native_id: str) -> None:
        self.fake.delete(native_id)

    def rate_limit_once(self) -> None:
        self.fake.rate_limit(1, reset_in=5)

    def fail_listing(self, times: int) -> None:
        self.fake.fail(times, path=REDDIT_SUBMITTED)

    def truncate_listing(self) -> None:
        self.fake.truncate(1, path=REDDIT_SUBMITTED)

    def raw_text(self, raw: Any) -> str:
        return raw["selftext"]


HARNESSES: list[type[Harness]] = [
    MastodonHarness,
    BlueskyHarness,
    XHarness,
    FacebookHarness,
    InstagramHarness,
    LinkedInHarness,
    RedditHarness,
]

__all__ = ["HARNESSES", "Harness", "png"]
