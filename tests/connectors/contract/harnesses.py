"""One adapter per platform fake, so the same contract tests drive every connector.

A harness publishes, edits and deletes on its fake platform and injects the
failures the contract needs; capabilities a platform lacks are declared, so a
test runs only where it applies (never a skip that hides a gap).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tests.capture.conftest import png
from tests.connectors.mastodon.support import TOKEN as MASTODON_TOKEN
from tests.fakes import FakeClock
from tests.fakes.bluesky import APP_PASSWORD, JWT_MARK, FakeBluesky
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer


class Harness:
    platform: ClassVar[str]
    token_env: ClassVar[str]
    html_content: ClassVar[bool] = False  # text arrives as HTML and is reduced to plain text
    raw_bytes: ClassVar[bool] = False  # the fake can put invalid UTF-8 on the wire

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


HARNESSES: list[type[Harness]] = [MastodonHarness, BlueskyHarness]

__all__ = ["HARNESSES", "Harness", "png"]
