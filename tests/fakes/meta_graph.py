"""A fake Graph API (Facebook Pages and Instagram) on FakeServer, serving the real
recorded payloads in tests/fixtures/facebook and tests/fixtures/instagram as mutable state.

Starting state (see the fixtures' SOURCES.md for what is recorded and what constructed):
  Facebook Page 19292868552: the five recorded feed posts plus the post the recorded
  comments belong to (constructed around their permalinks), those comments and replies
  (ids and parents derived from the permalinks), and the recorded conversations and
  messages. Instagram user 17841406338772941: the two recorded media, a constructed
  carousel, Reel and live Story, the recorded comments (on the second media) with a
  constructed reply, and one constructed Instagram Direct conversation.

Served under /{version}/ (GET; a bearer token or access_token is required, else
Graph's 400 OAuthException code 190):
  /{id}                       any object; 400 code 100 subcode 33 once deleted / unknown
  /{page}/feed                newest first; since, limit, after (cursor = last id)
  /{post}/comments            filter=stream: comments and replies, chronological
  /{page}/conversations       platform=messenger | instagram, most recently updated first
  /{conversation}/messages    newest first
  /{ig-user}/media, /{ig-user}/stories, /{media}/comments (replies inline),
  /{comment}/replies
  /cdn/<host>/<path>          media bytes (no auth, like Meta's CDNs)
Every answer carries x-app-usage and x-business-use-case-usage (see `set_usage`); every
`paging.next` is a graph.facebook.com URL holding the access token, as Graph writes them.
Signed CDN URLs are re-signed (`oe=`) on every `rotate_cdn()`. Text holding lone
surrogates (bytes decoded with errors="surrogateescape") goes on the wire as those
bytes, so a test can serve invalid UTF-8.

Faults: `fail` scripts answers for one path, `rate_limit` answers with Graph's throttling
error and usage headers saying when access returns, `truncate` cuts real answers short.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from PIL import Image

from tests.fakes.server import FakeServer, RecordedRequest, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERSION = "v19.0"
PAGE_ID = "19292868552"
PAGE_NAME = "Facebook for Developers"
COMMENTED_POST = "19292868552_10158407654328553"  # the post comments_p1.json belongs to
CONVERSATION_ID = "t_587956915396498"  # the recorded messages are in this thread
IG_USER_ID = "17841406338772941"
IG_USERNAME = "example_org"
IG_PAGE_ID = "2121008874780932"  # the Page the recorded messages were sent to
IG_COMMENTED_MEDIA = "17896622936197745"
CDN_HOSTS = ("fbcdn.net", "cdninstagram.com")
_VERSIONED = re.compile(r"/(?P<version>v\d+\.\d+)/(?P<rest>.+)")


def load(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / name).read_text(encoding="utf-8"))


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_graph_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def png_bytes(width: int = 16, height: int = 12) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def gone_body(object_id: str) -> dict[str, Any]:
    """Graph's answer for a deleted (or never visible) object, as documented by Meta."""
    return {
        "error": {
            "message": f"Unsupported get request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": "AGc4Z1kKX9fAKE",
        }
    }


def error_reply(code: int, message: str, status: int = 400, **extra: Any) -> Reply:
    error = {"message": message, "type": "OAuthException", "code": code,
             "fbtrace_id": "AGc4Z1kKX9fAKE", **extra}
    return Reply.json({"error": error}, status)


class FakeGraph:
    """Graph API state for one Facebook Page and one Instagram user, over real HTTP."""

    def __init__(
        self,
        server: FakeServer,
        token: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        version: str = VERSION,
    ) -> None:
        self.server = server
        self.token = token
        self.tokens = {token}  # every token Graph accepts (add a Page token for Direct)
        self.clock = clock
        self.version = version
        self._lock = threading.RLock()
        self._last_time = datetime(2021, 9, 1, tzinfo=UTC)  # after every recorded object
        self._serial = 0
        self.cdn_generation = 0
        self.usage_percent = 1
        self.regain_minutes = 0
        self.page_access = True
        self.reply_inline_limit = 25
        self.cdn_requests: list[str] = []
        self.png = png_bytes()
        self.cdn_files: dict[str, tuple[bytes, str]] = {}  # CDN path -> bytes given by a test
        self.objects: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.feed: list[str] = []  # post ids
        self.comments: dict[str, list[str]] = {}  # post id -> comment ids (chronological)
        self.comment_post: dict[str, str] = {}
        self.conversations: dict[str, dict[str, list[str]]] = {"messenger": {}, "instagram": {}}
        self.ig_media: list[str] = []
        self.ig_stories: list[str] = []
        self.ig_comments: dict[str, list[str]] = {}  # media id -> top-level comment ids
        self.ig_replies: dict[str, list[str]] = {}  # comment id -> reply ids
        self.objects[PAGE_ID] = {"id": PAGE_ID, "name": PAGE_NAME}
        self.objects[IG_USER_ID] = {"id": IG_USER_ID, "username": IG_USERNAME}
        self.objects[IG_PAGE_ID] = {"id": IG_PAGE_ID, "name": "MyLife"}
        self._load_facebook()
        self._load_instagram()
        server.add("GET", _VERSIONED, self._handle)
        server.add("GET", re.compile(r"/cdn/.+"), self._serve_cdn)

    # -- loading the recorded state ---------------------------------------------------
    def _cdn_url(self, value: Any) -> Any:
        """Point Meta CDN URLs at this server, keeping host, path and query."""
        if isinstance(value, str):
            parts = urlsplit(value)
            if parts.scheme == "https" and parts.netloc.endswith(CDN_HOSTS):
                return f"{self.server.url}/cdn/{parts.netloc}{parts.path}?{parts.query}"
            return value
        if isinstance(value, list):
            return [self._cdn_url(v) for v in value]
        if isinstance(value, dict):
            return {k: self._cdn_url(v) for k, v in value.items()}
        return value

    def _load_facebook(self) -> None:
        author = {"name": PAGE_NAME, "id": PAGE_ID}
        posts = self._cdn_url(load("facebook", "feeds_default_fields_p1.json")["data"])
        constructed = copy.deepcopy(posts[0])
        constructed.update(
            id=COMMENTED_POST,
            created_time="2021-08-10T18:00:00+0000",
            updated_time="2021-08-12T18:30:51+0000",
            message="Ask us anything about your Page in the comments.",
            permalink_url="https://www.facebook.com/19292868552/posts/10158407654328553/",
            status_type="mobile_status_update",
            message_tags=[],
            comments={"data": [], "summary": {"order": "chronological", "total_count": 10,
                                              "can_comment": True}},
        )
        for key in ("attachments", "full_picture", "picture"):
            constructed.pop(key)
        for post in [constructed, *posts]:
            post["from"] = dict(author)
            self.objects[post["id"]] = post
            self.feed.append(post["id"])
            self.comments[post["id"]] = []
        object_id = COMMENTED_POST.split("_", 1)[1]
        for comment in load("facebook", "comments_p1.json")["data"]:
            query = dict(parse_qsl(urlsplit(comment["permalink_url"]).query))
            own = query.get("reply_comment_id") or query["comment_id"]
            comment = {"id": f"{object_id}_{own}", **comment}
            if "reply_comment_id" in query:
                comment["parent"] = {"id": f"{object_id}_{query['comment_id']}"}
            if comment["message"].startswith("Hi,"):
                comment["from"] = dict(author)  # the Page's own answers
            comment["is_hidden"] = False
            self._store_comment(COMMENTED_POST, comment)
        participants = {"data": [
            {"name": "Kun Liu", "email": "2711636948859886@facebook.com", "id": "2711636948859886"},
            {"name": "MyLife", "email": "2121008874780932@facebook.com", "id": IG_PAGE_ID},
        ]}
        for conversation in load("facebook", "cvses_info.json").values():
            conversation["participants"] = copy.deepcopy(participants)
            self.objects[conversation["id"]] = conversation
            self.conversations["messenger"][conversation["id"]] = []
        messages = self._cdn_url(list(load("facebook", "messages_info.json").values()))
        for message in sorted(messages, key=lambda m: m["created_time"], reverse=True):
            self.objects[message["id"]] = message
            self.conversations["messenger"][CONVERSATION_ID].append(message["id"])

    def _load_instagram(self) -> None:
        for media in self._cdn_url(load("instagram", "medias_p1.json")["data"]):
            media["username"] = IG_USERNAME
            self.objects[media["id"]] = media
            self.ig_media.append(media["id"])
            self.ig_comments[media["id"]] = []
        for comment in load("instagram", "comments_p1.json")["data"]:
            comment.update(username="ig_fan", like_count=0, hidden=False,
                           **{"from": {"id": "17841400000000001", "username": "ig_fan"}})
            self._store_ig_comment(IG_COMMENTED_MEDIA, comment)
        first = self.ig_comments[IG_COMMENTED_MEDIA][0]
        self.add_ig_comment(IG_COMMENTED_MEDIA, "Thank you! 🙏", parent=first,
                            username=IG_USERNAME)
        self.carousel = self.add_media("Three views of the harbour #harbour @ig_fan",
                                       children=("IMAGE", "VIDEO", "IMAGE"))
        self.reel = self.add_media("Our first reel 🎬", product_type="REELS",
                                   media_type="VIDEO")
        self.story = self.add_story()
        conversation = "aWdfZAG06MTpJR01lc3NhZA2VUaHJlYWQ6MTc4NDE0MDYzMzg3NzI5NDE"
        self.objects[conversation] = {
            "id": conversation,
            "updated_time": graph_time(self._tick()),
            "participants": {"data": [
                {"username": IG_USERNAME, "id": IG_USER_ID},
                {"username": "ig_fan", "id": "17841400000000001"},
            ]},
        }
        self.conversations["instagram"][conversation] = []
        self.ig_conversation = conversation
        self.add_message(conversation, "Hi! Is the shop open on Sunday?",
                         sender={"username": "ig_fan", "id": "17841400000000001"})
        self.add_message(conversation, "Yes, 10:00-16:00 ☀️",
                         sender={"username": IG_USERNAME, "id": IG_USER_ID})

    # -- scenario API: Facebook ---------------------------------------------------------
    def _tick(self) -> datetime:
        with self._lock:
            moment = max(self.clock().replace(microsecond=0), self._last_time + timedelta(seconds=1))
            self._last_time = moment
            return moment

    def _new_id(self, prefix: str = "") -> str:
        with self._lock:
            self._serial += 1
            return f"{prefix}9{self._serial:015d}"

    def page_posts(self) -> list[dict[str, Any]]:
        """The feed as Graph lists it: newest first, deleted posts gone."""
        with self._lock:
            live = [self.objects[i] for i in self.feed if i not in self.deleted]
            return sorted(live, key=lambda p: p["created_time"], reverse=True)

    def add_post(
        self, message: str, *, photo: bool = False, image: bytes | None = None
    ) -> dict[str, Any]:
        """A new Page post; with `image` (or `photo`) a photo post whose CDN file is
        `image` (default: a small PNG)."""
        photo = photo or image is not None
        with self._lock:
            moment = graph_time(self._tick())
            post_id = f"{PAGE_ID}_{self._new_id()}"
            post: dict[str, Any] = {
                "id": post_id,
                "created_time": moment,
                "updated_time": moment,
                "from": {"name": PAGE_NAME, "id": PAGE_ID},
                "message": message,
                "permalink_url": f"https://www.facebook.com/{PAGE_ID}/posts/{post_id.split('_')[1]}/",
                "status_type": "added_photos" if photo else "mobile_status_update",
                "comments": {"data": [], "summary": {"total_count": 0}},
                "reactions": {"data": [], "summary": {"total_count": 0}},
            }
            if photo:
                photo_id = self._new_id()
                src = f"{self.server.url}/cdn/scontent.xx.fbcdn.net/v/{photo_id}_n.jpg?oh=abc"
                post["attachments"] = {"data": [{
                    "media": {"image": {"height": 12, "width": 16, "src": src}},
                    "media_type": "photo",
                    "target": {"id": photo_id,
                               "url": f"https://www.facebook.com/photo.php?fbid={photo_id}"},
                    "type": "photo",
                    "url": f"https://www.facebook.com/photo.php?fbid={photo_id}",
                }]}
                post["full_picture"] = src
                if image is not None:
                    self.cdn_files[urlsplit(src).path] = (image, "image/png")
            self.objects[post_id] = post
            self.feed.append(post_id)
            self.comments[post_id] = []
            return post

    def edit_post(self, post_id: str, message: str) -> None:
        """An edit by the Page: new text, and updated_time moves."""
        with self._lock:
            post = self.objects[post_id]
            post["message"] = message
            post["updated_time"] = graph_time(self._tick())

    def touch_post(self, post_id: str) -> None:
        """Activity that is not an edit (Graph moves updated_time for new comments too)."""
        with self._lock:
            self.objects[post_id]["updated_time"] = graph_time(self._tick())

    def react(self, post_id: str, count: int = 1) -> None:
        with self._lock:
            post = self.objects[post_id]
            summary = post.setdefault("reactions", {"data": []}).setdefault("summary", {})
            summary["total_count"] = summary.get("total_count", 0) + count
            post.setdefault("shares", {"count": 0})["count"] += count

    def delete(self, object_id: str) -> None:
        """Delete any object; a post's or media's comments (and their replies) go with it."""
        with self._lock:
            self.deleted.add(object_id)
            for comment_id in self.comments.get(object_id, []) + self.ig_comments.get(
                object_id, []
            ):
                self.deleted.add(comment_id)
                self.deleted.update(self.ig_replies.get(comment_id, []))

    def _store_comment(self, post_id: str, comment: dict[str, Any]) -> None:
        self.objects[comment["id"]] = comment
        self.comments[post_id].append(comment["id"])
        self.comment_post[comment["id"]] = post_id

    def add_comment(
        self,
        post_id: str,
        message: str,
        *,
        parent: str | None = None,
        hidden: bool = False,
        author: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            object_id = post_id.split("_", 1)[-1]
            comment_id = f"{object_id}_{self._new_id()}"
            own = comment_id.split("_", 1)[1]
            link = f"https://www.facebook.com/{PAGE_ID}/posts/{object_id}/?comment_id="
            link += f"{parent.split('_')[-1]}&reply_comment_id={own}" if parent else own
            comment: dict[str, Any] = {
                "id": comment_id,
                "created_time": graph_time(self._tick()),
                "from": author or {"name": "Ada Visitor", "id": "100000000000001"},
                "message": message,
                "permalink_url": link,
                "is_hidden": hidden,
                "like_count": 0,
                "comment_count": 0,
            }
            if parent:
                comment["parent"] = {"id": parent}
            self._store_comment(post_id, comment)
            self.touch_post(post_id)
            summary = self.objects[post_id].setdefault("comments", {}).setdefault("summary", {})
            summary["total_count"] = summary.get("total_count", 0) + 1
            return comment

    def hide_comment(self, comment_id: str, hidden: bool = True) -> None:
        with self._lock:
            self.objects[comment_id]["is_hidden"] = hidden

    def add_message(
        self, conversation_id: str, text: str, *, sender: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A message in a conversation, which moves to the top of the inbox."""
        with self._lock:
            platform = next(p for p, c in self.conversations.items() if conversation_id in c)
            moment = graph_time(self._tick())
            sender = sender or {"name": "Kun Liu", "email": "2711636948859886@facebook.com",
                                "id": "2711636948859886"}
            participants = self.objects[conversation_id]["participants"]["data"]
            to = [p for p in participants if p["id"] != sender["id"]]
            message = {
                "id": ("m_" if platform == "messenger" else "aWdfZAG1faXRlbTo")
                + self._new_id(),
                "created_time": moment,
                "from": sender,
                "to": {"data": to},
                "message": text,
            }
            self.objects[message["id"]] = message
            self.conversations[platform][conversation_id].insert(0, message["id"])
            self.objects[conversation_id]["updated_time"] = moment
            return message

    # -- scenario API: Instagram ------------------------------------------------------
    def ig_media_list(self) -> list[dict[str, Any]]:
        with self._lock:
            live = [self.objects[i] for i in self.ig_media if i not in self.deleted]
            return sorted(live, key=lambda m: m["timestamp"], reverse=True)

    def _media_url(self, kind: str) -> str:
        suffix = "mp4" if kind == "VIDEO" else "jpg"
        name = f"{self._new_id()}_n.{suffix}"
        return f"{self.server.url}/cdn/scontent.cdninstagram.com/v/t51/{name}?oh=abc&oe=0"

    def add_media(
        self,
        caption: str,
        *,
        product_type: str = "FEED",
        media_type: str = "IMAGE",
        children: tuple[str, ...] = (),
        image: bytes | None = None,
    ) -> dict[str, Any]:
        """New media; `image` is the file served for a single IMAGE's media_url."""
        with self._lock:
            media_id = self._new_id("1")
            moment = graph_time(self._tick())
            media: dict[str, Any] = {
                "id": media_id,
                "caption": caption,
                "media_type": "CAROUSEL_ALBUM" if children else media_type,
                "media_product_type": product_type,
                "permalink": f"https://www.instagram.com/p/C{media_id[-10:]}/",
                "shortcode": f"C{media_id[-10:]}",
                "timestamp": moment,
                "username": IG_USERNAME,
                "comments_count": 0,
                "like_count": 0,
                "is_comment_enabled": True,
            }
            if children:
                media["children"] = {"data": [
                    {"id": self._new_id("1"), "media_type": kind, "media_url": self._media_url(kind),
                     "timestamp": moment}
                    for kind in children
                ]}
                media["media_url"] = media["children"]["data"][0]["media_url"]
            else:
                media["media_url"] = self._media_url(media_type)
                if image is not None and media_type == "IMAGE":
                    self.cdn_files[urlsplit(media["media_url"]).path] = (image, "image/png")
                if media_type == "VIDEO":
                    media["thumbnail_url"] = self._media_url("IMAGE")
            self.objects[media_id] = media
            self.ig_media.append(media_id)
            self.ig_comments[media_id] = []
            return media

    def add_story(self, media_type: str = "IMAGE") -> dict[str, Any]:
        with self._lock:
            story_id = self._new_id("1")
            self.objects[story_id] = {
                "id": story_id,
                "media_type": media_type,
                "media_product_type": "STORY",
                "media_url": self._media_url(media_type),
                "permalink": f"https://www.instagram.com/stories/{IG_USERNAME}/{story_id}/",
                "timestamp": graph_time(self._tick()),
                "username": IG_USERNAME,
            }
            self.ig_stories.append(story_id)
            return self.objects[story_id]

    def expire_story(self, story_id: str) -> None:
        """24 hours later: out of /stories, and Graph no longer serves it by id."""
        with self._lock:
            self.ig_stories.remove(story_id)
            self.deleted.add(story_id)

    def edit_caption(self, media_id: str, caption: str) -> None:
        with self._lock:
            self.objects[media_id]["caption"] = caption

    def _store_ig_comment(self, media_id: str, comment: dict[str, Any],
                          parent: str | None = None) -> None:
        self.objects[comment["id"]] = comment
        if parent:
            self.ig_replies.setdefault(parent, []).append(comment["id"])
        else:
            self.ig_comments[media_id].append(comment["id"])
        self.comment_post[comment["id"]] = media_id

    def add_ig_comment(
        self,
        media_id: str,
        text: str,
        *,
        parent: str | None = None,
        hidden: bool = False,
        username: str = "ig_fan",
    ) -> dict[str, Any]:
        with self._lock:
            comment: dict[str, Any] = {
                "id": self._new_id("178"),
                "text": text,
                "timestamp": graph_time(self._tick()),
                "username": username,
                "from": {"id": IG_USER_ID if username == IG_USERNAME else "17841400000000001",
                         "username": username},
                "like_count": 0,
                "hidden": hidden,
            }
            if parent:
                comment["parent_id"] = parent
            self._store_ig_comment(media_id, comment, parent)
            self.objects[media_id]["comments_count"] = self.objects[media_id].get(
                "comments_count", 0) + 1
            return comment

    def hide_ig_comment(self, comment_id: str, hidden: bool = True) -> None:
        with self._lock:
            self.objects[comment_id]["hidden"] = hidden

    # -- scenario API: the platform ---------------------------------------------------
    def set_usage(self, percent: int, regain_minutes: int = 0) -> None:
        """What the usage headers report from now on."""
        self.usage_percent = percent
        self.regain_minutes = regain_minutes

    def rotate_cdn(self) -> None:
        """Meta re-signs CDN URLs (new `oe`/`oh`) from one request to the next."""
        self.cdn_generation += 1

    def revoke_page_access(self) -> None:
        """The token no longer sees the Page: Graph answers 100/33 for everything."""
        self.page_access = False

    def fail(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to exactly `path` (e.g. "/v19.0/me/feed") with `replies`."""
        self.server.script("GET", path, *replies, then=self._handle)

    def rate_limit(
        self, path: str, *, code: int = 80001, regain_minutes: int = 1, times: int = 1
    ) -> None:
        """The next `times` requests to exactly `path` are throttled as Graph throttles:
        HTTP 400 with a rate-limit error code, and usage headers saying access is blocked
        for `regain_minutes` (estimated_time_to_regain_access)."""
        business = {PAGE_ID: [{
            "type": "pages", "call_count": 100, "total_cputime": 20, "total_time": 20,
            "estimated_time_to_regain_access": regain_minutes,
        }]}
        headers = {
            **self._usage_headers(),
            "x-business-use-case-usage": json.dumps(business, separators=(",", ":")),
        }
        error = {
            "message": f"(#{code}) There have been too many calls to this Page account. Wait a "
            "bit and try again. For more info, please refer to "
            "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            "type": "OAuthException", "code": code, "fbtrace_id": "AGc4Z1kKX9fAKE",
        }
        reply = Reply.json({"error": error}, 400, headers)
        self.fail(path, *[reply] * times)

    def truncate(self, path: str, times: int = 1) -> None:
        """The next `times` answers to exactly `path` are the real ones, declaring their full
        length but cut off halfway."""
        left = [times]

        def cut(request: RecordedRequest) -> Reply:
            reply = self._handle(request)
            if left[0] > 0:
                left[0] -= 1
                reply.send_bytes = len(reply.body) // 2
            return reply

        self.server.add("GET", path, cut)

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        return [r for r in self.server.requests if r.path.endswith(suffix)]

    # -- serving ----------------------------------------------------------------------
    def _usage_headers(self) -> dict[str, str]:
        pct = self.usage_percent
        business = {PAGE_ID: [{
            "type": "pages", "call_count": pct, "total_cputime": max(1, pct // 2),
            "total_time": max(1, pct // 2),
            "estimated_time_to_regain_access": self.regain_minutes,
        }]}
        app = {"call_count": max(1, pct // 4), "total_cputime": 1, "total_time": 1}
        return {
            "x-app-usage": json.dumps(app, separators=(",", ":")),
            "x-business-use-case-usage": json.dumps(business, separators=(",", ":")),
            "x-fb-trace-id": "AGc4Z1kKX9f",
            "x-fb-rev": "1009876543",
        }

    def _reply(self, payload: Any, status: int = 200) -> Reply:
        text = json.dumps(self._signed(payload), ensure_ascii=False)
        body = text.encode("utf-8", errors="surrogateescape")
        headers = {"Content-Type": "application/json; charset=UTF-8", **self._usage_headers()}
        return Reply(status, headers, body)

    def _signed(self, value: Any) -> Any:
        if isinstance(value, str):
            prefix = f"{self.server.url}/cdn/"
            if value.startswith(prefix):
                parts = urlsplit(value)
                query = [(k, v) for k, v in parse_qsl(parts.query) if k != "oe"]
                query.append(("oe", f"{0x61000000 + self.cdn_generation:08X}"))
                return urlunsplit(parts._replace(query=urlencode(query)))
            return value
        if isinstance(value, list):
            return [self._signed(v) for v in value]
        if isinstance(value, dict):
            return {k: self._signed(v) for k, v in value.items()}
        return value

    def _authorised(self, request: RecordedRequest) -> bool:
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        return (given or request.param("access_token")) in self.tokens

    def _handle(self, request: RecordedRequest) -> Reply:
        match = _VERSIONED.fullmatch(request.path)
        if match is None:
            return Reply.json({"error": "no route"}, 404)
        if not self._authorised(request):
            return error_reply(190, "Invalid OAuth access token - Cannot parse access token")
        parts = match["rest"].split("/")
        with self._lock:
            if not self.page_access:
                return self._reply(gone_body(parts[0]), 400)
            if parts[0] == "me":
                parts[0] = PAGE_ID
            if len(parts) == 1:
                return self._object(parts[0])
            if len(parts) == 2:
                return self._edge(parts[0], parts[1], request)
        return self._reply(gone_body(match["rest"]), 400)

    def _object(self, object_id: str) -> Reply:
        found = self.objects.get(object_id)
        if found is None or object_id in self.deleted:
            return self._reply(gone_body(object_id), 400)
        shown = copy.deepcopy(found)
        if object_id in self.comment_post and "text" in shown:  # an Instagram comment
            shown["media"] = {"id": self.comment_post[object_id]}
        return self._reply(shown)

    def _edge(self, owner: str, edge: str, request: RecordedRequest) -> Reply:
        if owner in self.deleted or owner not in self.objects:
            return self._reply(gone_body(owner), 400)
        if edge == "feed" and owner == PAGE_ID:
            ids = [p["id"] for p in self.page_posts()]
            return self._paged(request, ids, "created_time")
        if edge == "comments" and owner in self.comments:
            ids = [i for i in self.comments[owner] if i not in self.deleted]
            if request.param("filter") != "stream":
                ids = [i for i in ids if "parent" not in self.objects[i]]
            return self._paged(request, ids)
        if edge == "conversations":
            platform = request.param("platform") or "messenger"
            convs = [self.objects[c] for c in self.conversations.get(platform, {})]
            convs.sort(key=lambda c: c["updated_time"], reverse=True)
            return self._paged(request, [c["id"] for c in convs])
        if edge == "messages":
            for threads in self.conversations.values():
                if owner in threads:
                    return self._paged(request, list(threads[owner]))
        if edge == "media" and owner == IG_USER_ID:
            return self._paged(request, [m["id"] for m in self.ig_media_list()], "timestamp")
        if edge == "stories" and owner == IG_USER_ID:
            live = [s for s in self.ig_stories if s not in self.deleted]
            return self._paged(request, list(reversed(live)))
        if edge == "comments" and owner in self.ig_comments:
            ids = [i for i in self.ig_comments[owner] if i not in self.deleted]
            return self._paged(request, ids, render=self._with_replies)
        if edge == "replies" and owner in self.objects:
            ids = [i for i in self.ig_replies.get(owner, []) if i not in self.deleted]
            return self._paged(request, ids)
        return error_reply(100, f"(#100) Tried accessing nonexisting field ({edge})")

    def _with_replies(self, comment: dict[str, Any]) -> dict[str, Any]:
        replies = [i for i in self.ig_replies.get(comment["id"], []) if i not in self.deleted]
        if not replies:
            return comment
        shown = replies[: self.reply_inline_limit]
        edge: dict[str, Any] = {"data": [copy.deepcopy(self.objects[i]) for i in shown]}
        if len(replies) > len(shown):
            edge["paging"] = {
                "cursors": {"after": _cursor(shown[-1])},
                "next": self._next_url(f"/{comment['id']}/replies", {"after": _cursor(shown[-1])}),
            }
        return {**comment, "replies": edge}

    def _paged(
        self,
        request: RecordedRequest,
        ids: list[str],
        time_key: str | None = None,
        render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Reply:
        since = request.param("since")
        if since and time_key:
            floor = datetime.fromtimestamp(int(since), UTC)
            ids = [i for i in ids if parse_graph_time(self.objects[i][time_key]) >= floor]
        start = 0
        after = request.param("after")
        if after:
            last = _uncursor(after)
            if last not in ids:
                return error_reply(100, "(#100) The after cursor is invalid")
            start = ids.index(last) + 1
        limit = int(request.param("limit") or 25)
        shown = ids[start : start + limit]
        data = [copy.deepcopy(self.objects[i]) for i in shown]
        if render is not None:
            data = [render(d) for d in data]
        payload: dict[str, Any] = {"data": data}
        if shown:
            paging: dict[str, Any] = {
                "cursors": {"before": _cursor(shown[0]), "after": _cursor(shown[-1])}
            }
            if start + limit < len(ids):
                params = {k: v[0] for k, v in request.query.items() if k != "access_token"}
                params["after"] = _cursor(shown[-1])
                paging["next"] = self._next_url(request.path.split("/", 2)[2], params)
            payload["paging"] = paging
        return self._reply(payload)

    def _next_url(self, path: str, params: dict[str, str]) -> str:
        """As Graph writes it: on graph.facebook.com, with the caller's access token."""
        query = urlencode({"access_token": self.token, **params})
        return f"https://graph.facebook.com/{self.version}/{path.lstrip('/')}?{query}"

    def _serve_cdn(self, request: RecordedRequest) -> Reply:
        self.cdn_requests.append(request.path)
        given = self.cdn_files.get(request.path)
        if given is not None:
            return Reply(200, {"Content-Type": given[1]}, given[0])
        if request.path.endswith(".mp4"):
            return Reply(200, {"Content-Type": "video/mp4"}, b"\x00\x00\x00\x18ftypmp42fake-video")
        return Reply(200, {"Content-Type": "image/png"}, self.png)


def _cursor(object_id: str) -> str:
    return base64.urlsafe_b64encode(object_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except ValueError:
        return ""
