"""The LinkedIn connector: an organisation's posts and the comments on them.

Every request carries `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version: 2.0.0`
(the versioned /rest APIs refuse requests without them); URNs in paths are
percent-encoded as Rest.li 2.0 requires.

Streams (cursor keys):
  - "posts": the newest lastModifiedAt captured (epoch ms). The Posts API lists an
    author's posts newest-modified first (sortBy=LAST_MODIFIED) with start/count
    paging, so a run walks down from the top until it meets a post no newer than the
    cursor: new posts and edited ones, whose lastModifiedAt moved up. The cursor is set
    once that walk ends (a failed walk is simply walked again: what was archived
    comes back unchanged).
  - "posts_backfill": "<top lastModifiedAt>:<start>", the first run's progress, so a
    failed first walk over a long history resumes where it stopped.
Comments (GET /rest/socialActions/{post}/comments, and the comments on those) are read
for every post the walk yields and, in reconcile, for every archived post still in the
window, which is how comments on older posts are found. A post or comment whose lookup
answers 404 in reconcile becomes a tombstone with the answer as evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote

from pydantic import Field

from archiver.errors import FatalError, RetriableError
from archiver.item import Attachment, CaptureContext, CapturedItem
from connectors.base import (
    Account,
    ArchivedItem,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    CursorUpdate,
)
from connectors.http import HttpResult, HttpStatusError, NotFound, decode_json

from .normalise import (
    comment_id,
    comment_media,
    comment_urn,
    normalise_comment,
    normalise_post,
    post_media,
)

POSTS = "posts"
BACKFILL = "posts_backfill"
RESTLI_PROTOCOL = "2.0.0"
DEFAULT_VERSION = "202601"  # a Marketing API version in its one-year support window
MEDIA_PATHS = {"image": "/rest/images/", "video": "/rest/videos/", "document": "/rest/documents/"}

Output = Iterator[CapturedItem | CursorUpdate]


class LinkedInSettings(ConnectorSettings):
    base_url: str = Field("https://api.linkedin.com", description="API root (any test server too)")
    organization_urn: str | None = Field(
        None,
        pattern=r"^urn:li:organization:\d+$",
        description="The organisation, urn:li:organization:<id>; the account handle when unset",
    )
    api_version: str = Field(
        DEFAULT_VERSION,
        pattern=r"^\d{6}$",
        description="LinkedIn-Version header, YYYYMM; LinkedIn supports each for a year",
    )
    page_size: int = Field(50, ge=1, le=100, description="Posts or comments per request")
    capture_comments: bool = Field(True, description="Archive comments on the posts")


class LinkedInConnector(Connector):
    name = "linkedin"
    version = "1.0.0"
    settings_model = LinkedInSettings

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        super().__init__(account, context)
        self.options: LinkedInSettings = self.settings  # type: ignore[assignment]

    # -- plumbing ---------------------------------------------------------------------
    @property
    def organization(self) -> str:
        urn = self.options.organization_urn or self.account.handle
        if not urn.startswith("urn:li:organization:"):
            raise FatalError(
                f"LinkedIn account {self.account.handle!r} needs organization_urn "
                "(urn:li:organization:<id>) in its settings"
            )
        return urn

    def client_options(self) -> dict[str, Any]:
        """The versioned /rest APIs refuse requests without these two headers."""
        return {
            "headers": {
                "LinkedIn-Version": self.options.api_version,
                "X-Restli-Protocol-Version": RESTLI_PROTOCOL,
            }
        }

    def _page(
        self, path: str, start: int, **params: Any
    ) -> tuple[list[dict[str, Any]], HttpResult]:
        result = self._get(path, params={**params, "start": start, "count": self.options.page_size})
        data = result.data
        if not isinstance(data, dict) or not isinstance(data.get("elements"), list):
            raise RetriableError(f"GET {result.url}: expected a collection, got {data!r:.200}")
        return [e for e in data["elements"] if isinstance(e, dict)], result

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> HttpResult:
        """GET, with LinkedIn's "this version is not served" (426) made a fatal setting
        problem rather than one bad item."""
        try:
            return self.client.get_json(path, params=params)
        except HttpStatusError as exc:
            if exc.status == 426:
                raise FatalError(
                    f"LinkedIn does not serve API version {self.options.api_version} any more "
                    f"({exc}); set a current YYYYMM in the account's api_version setting"
                ) from exc
            raise

    def _collection(self, path: str, **params: Any) -> Iterator[tuple[dict[str, Any], HttpResult]]:
        """Every element of a paged collection (start/count until a short page)."""
        start = 0
        while True:
            elements, result = self._page(path, start, **params)
            for element in elements:
                yield element, result
            if len(elements) < self.options.page_size:
                return
            start += len(elements)

    # -- fetch ------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Output:
        since = int(cursor.get(POSTS) or 0)
        if since:
            yield from self._walk_changes(since)
        else:
            yield from self._backfill(cursor.get(BACKFILL) or "")

    def _posts_page(self, start: int) -> tuple[list[dict[str, Any]], HttpResult]:
        return self._page(
            "/rest/posts", start, q="author", author=self.organization, sortBy="LAST_MODIFIED"
        )

    def _backfill(self, progress: str) -> Output:
        top_text, _, start_text = progress.partition(":")
        top = int(top_text or 0)
        start = int(start_text or 0)
        while True:
            posts, result = self._posts_page(start)
            if not posts:
                break
            top = top or max(_modified(p) for p in posts)
            yield from self._posts(posts, result)
            start += len(posts)
            yield CursorUpdate(BACKFILL, f"{top}:{start}")
            if len(posts) < self.options.page_size:
                break
        if top:
            yield CursorUpdate(POSTS, str(top))

    def _walk_changes(self, since: int) -> Output:
        start, newest = 0, since
        while True:
            posts, result = self._posts_page(start)
            changed = [p for p in posts if _modified(p) > since]
            newest = max([newest, *(_modified(p) for p in changed)])
            yield from self._posts(changed, result)
            if len(changed) < len(posts) or len(posts) < self.options.page_size:
                break
            start += len(posts)
        if newest > since:
            yield CursorUpdate(POSTS, str(newest))

    def _posts(self, posts: list[dict[str, Any]], result: HttpResult) -> Iterator[CapturedItem]:
        for post in reversed(posts):  # newest-modified first: archive oldest first
            yield self._post_item(post, result, with_media=True)
            if self.options.capture_comments:
                yield from self._comments(str(post["id"]))

    def _comments(self, post_urn: str) -> Iterator[CapturedItem]:
        """Comments on the post and, recursively, the comments on those."""
        try:
            for comment, result in self._comment_tree(post_urn):
                yield self._comment_item(comment, post_urn, result)
        except NotFound:
            return  # the post was deleted since it was listed: reconcile records that

    def _comment_tree(
        self, target: str, *, nested: bool = False
    ) -> Iterator[tuple[dict[str, Any], HttpResult]]:
        """NotFound for the post's own listing; a reply listing that 404s (its comment
        was deleted meanwhile) is skipped, so one deletion cannot hide the thread."""
        path = f"/rest/socialActions/{quote(target, safe='')}/comments"
        try:
            for comment, result in self._collection(path):
                yield comment, result
                summary = comment.get("commentsSummary") or {}
                if summary.get("aggregatedTotalComments") or summary.get("totalFirstLevelComments"):
                    yield from self._comment_tree(comment_urn(comment), nested=True)
        except NotFound:
            if not nested:
                raise

    # -- items ------------------------------------------------------------------------
    def _post_item(
        self, post: Mapping[str, Any], result: HttpResult, *, with_media: bool
    ) -> CapturedItem:
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=str(post["id"]),
            kind="post",
            content=normalise_post(post),
            raw=post,
            capture=self._capture(result),
            attachments=self._post_attachments(post) if with_media else (),
        )

    def _comment_item(
        self, comment: Mapping[str, Any], post_urn: str, result: HttpResult
    ) -> CapturedItem:
        found = [m for m in comment_media(comment) if m.get("url")]
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=comment_urn(comment),
            kind="comment",
            content=normalise_comment(comment, post_urn),
            raw=comment,
            capture=self._capture(result),
            attachments=tuple(
                Attachment(str(m["url"]), m["type"] if m["type"] != "document" else "unknown")
                for m in found
            ),
        )

    def _post_attachments(self, post: Mapping[str, Any]) -> tuple[Attachment, ...]:
        """Download URLs for the post's media and article thumbnail, from the media APIs.
        A medium that is gone or not yet processed is left out (its URN stays in content)."""
        wanted = list(post_media(post))
        thumbnail = ((post.get("content") or {}).get("article") or {}).get("thumbnail")
        if isinstance(thumbnail, str):
            wanted.append({"id": thumbnail, "type": "image", "description": "article thumbnail"})
        found = []
        for medium in wanted:
            base = MEDIA_PATHS.get(medium["type"])
            if base is None:
                continue
            try:
                result = self._get(base + quote(medium["id"], safe=""))
            except (NotFound, HttpStatusError):
                continue
            data = result.data if isinstance(result.data, dict) else {}
            url = data.get("downloadUrl")
            if url and data.get("status", "AVAILABLE") == "AVAILABLE":
                kind = medium["type"] if medium["type"] in ("image", "video") else "unknown"
                found.append(Attachment(str(url), kind, medium.get("description")))
        return tuple(found)

    def _capture(self, result: HttpResult) -> CaptureContext:
        return CaptureContext(
            connector=self.name,
            connector_version=self.version,
            request_url=result.url,
            response_headers=result.headers,
        )

    # -- reconcile --------------------------------------------------------------------
    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        """Posts: a lookup each (404: tombstone; else the current state, media resolved
        only when the content changed). Comments: each thread's listing, which also
        brings comments posted since; one that is missing from it is looked up, and a
        404 makes it a tombstone."""
        items = list(archived)
        posts = [a for a in items if a.kind == "post"]
        comments: dict[str, list[ArchivedItem]] = {}
        for item in items:
            if item.kind == "comment":
                comments.setdefault(str(item.content.get("thread_id")), []).append(item)
        gone: dict[str, NotFound] = {}
        for item in posts:
            path = "/rest/posts/" + quote(item.native_id, safe="")
            try:
                result = self._get(path)
            except NotFound as missing:
                gone[item.native_id] = missing
                yield self._tombstone(item, missing)
                continue
            current = self._post_item(result.data, result, with_media=False)
            if dict(current.content) != dict(item.content):
                current = self._post_item(result.data, result, with_media=True)
            yield current
        if not self.options.capture_comments:
            return
        threads = [p.native_id for p in posts if p.native_id not in gone]
        threads += [t for t in comments if t not in threads and t not in gone]
        for post_urn in threads:
            yield from self._reconcile_thread(post_urn, comments.get(post_urn, []))
        for post_urn, answer in gone.items():
            for item in comments.get(post_urn, []):
                yield self._tombstone(item, answer)  # the post's 404 took its comments

    def _reconcile_thread(
        self, post_urn: str, archived: list[ArchivedItem]
    ) -> Iterator[CapturedItem]:
        seen: set[str] = set()
        try:
            for comment, result in self._comment_tree(post_urn):
                seen.add(comment_urn(comment))
                yield self._comment_item(comment, post_urn, result)
        except NotFound as missing:
            for item in archived:
                yield self._tombstone(item, missing)
            return
        for item in archived:
            if item.native_id in seen:
                continue
            parent = str(item.content.get("in_reply_to") or post_urn)
            path = (
                f"/rest/socialActions/{quote(parent, safe='')}/comments/"
                f"{quote(comment_id(item.native_id), safe='')}"
            )
            try:
                result = self._get(path)
            except NotFound as missing:
                yield self._tombstone(item, missing)
                continue
            yield self._comment_item(result.data, post_urn, result)

    def _tombstone(self, item: ArchivedItem, gone: NotFound) -> CapturedItem:
        body = gone.body.decode("utf-8", errors="surrogateescape")
        try:
            raw: Any = decode_json(gone.body)
        except ValueError:
            raw = body
        observed = self.context.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=item.native_id,
            kind=item.kind,
            content={
                "status": gone.status,
                "body": body,
                "observed_at": observed,
                "request_url": gone.url,
            },
            raw=raw,
            capture=CaptureContext(
                connector=self.name, connector_version=self.version, request_url=gone.url
            ),
            deleted=True,
        )


def _modified(post: Mapping[str, Any]) -> int:
    value = post.get("lastModifiedAt") or post.get("createdAt") or 0
    return value if isinstance(value, int) else 0
