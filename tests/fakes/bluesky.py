"""A fake Bluesky service (PDS + AppView + chat proxy) on FakeServer, with mutable state.

Shapes follow the lexicons in tests/fixtures/bluesky/lexicons/ (see SOURCES.md there);
one real post view (thread_view_post_with_embed_media.json) can be added as is.

    with FakeServer() as server:
        sky = FakeBluesky(server)
        first = sky.add_post("hello #archive", tags=["archive"])
        sky.add_reply(first, "a reply")
        sky.edit_post(first, text="hello again")        # same uri, new cid
        sky.delete_post(first, report="notFoundPost")   # how getPostThread reports it
        convo = sky.add_convo("friend.test")
        sky.add_message(convo, "hi", from_account=False)
        sky.rate_limit("app.bsky.feed.getAuthorFeed", reset=clock.epoch(30))

Time is the fake's own: every new post, repost or message is one minute after the last
(from 2025-03-01T12:00Z), so ordering and cursors are deterministic. Secrets are
distinctive strings (APP_PASSWORD, and JWTs containing JWT_MARK) so tests can assert
they appear nowhere they should not.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
APP_PASSWORD = "app-pw-SECRET-q7x2-k9m4-w1z8"
JWT_MARK = "JWTSECRET"
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

Handler = Callable[[RecordedRequest], Reply]


def tid(when: datetime, clock_id: int = 0) -> str:
    """An atproto TID (13 chars, base32-sortable microseconds << 10 | clock id)."""
    number = (int(when.timestamp() * 1_000_000) << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(_B32_SORTABLE[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def fake_cid(payload: Any, prefix: str = "bafyrei") -> str:
    """A CID-shaped string that changes whenever `payload` does (not a real CID)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True).encode()
    digest = base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")
    return prefix + digest[:52]


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def xrpc_error(error: str, message: str, status: int = 400) -> Reply:
    """An XRPC error as Bluesky sends it: HTTP 400 (mostly) and {"error", "message"}."""
    return Reply.json({"error": error, "message": message}, status=status)


@dataclass
class Actor:
    did: str
    handle: str
    display_name: str = ""

    def view(self) -> dict[str, Any]:
        """app.bsky.actor.defs#profileViewBasic."""
        return {
            "did": self.did,
            "handle": self.handle,
            "displayName": self.display_name,
            "viewer": {"muted": False, "blockedBy": False},
            "labels": [],
        }


@dataclass
class Post:
    uri: str
    cid: str
    author: Actor
    record: dict[str, Any]
    indexed_at: str
    embed_view: dict[str, Any] | None = None
    visible: bool = True  # does the AppView show it (getAuthorFeed, getPosts)?
    deleted: str | None = None  # how getPostThread reports it once deleted
    like_count: int = 0

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[1]

    def sort_at(self) -> str:
        return min(self.indexed_at, _norm(self.record.get("createdAt")) or self.indexed_at)


@dataclass
class Repost:
    uri: str
    cid: str
    by: Actor
    subject: str
    indexed_at: str
    deleted: bool = False

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[1]


@dataclass
class Convo:
    id: str
    members: list[Actor]
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    left: bool = False


def _rkey(record: Mapping[str, Any]) -> str:
    return str(record["uri"]).rsplit("/", 1)[1]


def _norm(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return iso(parsed.astimezone(UTC))


class FakeBluesky:
    """Routes /xrpc/* and /img/* on `server`; scenario methods change what they answer."""

    def __init__(
        self,
        server: FakeServer,
        *,
        handle: str = "archivist.test",
        did: str = "did:plc:archivist0000000000000a",
        app_password: str = APP_PASSWORD,
    ) -> None:
        self.server = server
        self.account = Actor(did, handle, "The Archivist")
        self.app_password = app_password
        self.actors: dict[str, Actor] = {did: self.account}
        self.posts: dict[str, Post] = {}
        self.reposts: dict[str, Repost] = {}
        self.convos: dict[str, Convo] = {}
        self.blobs: dict[str, tuple[bytes, str]] = {}  # cid -> (bytes, content type)
        self.sessions_created = 0
        self.refreshes = 0
        self.chat_denied = False
        self._access: dict[str, str] = {}  # token -> "valid" | "expired"
        self._refresh: dict[str, str] = {}
        self._expired_status = 400
        self._tokens = 0
        self._clock = _START
        self._lock = threading.RLock()
        self._handlers: dict[str, Handler] = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
            "app.bsky.feed.getAuthorFeed": self._author_feed,
            "com.atproto.repo.listRecords": self._list_records,
            "com.atproto.repo.getRecord": self._get_record,
            "app.bsky.feed.getPosts": self._get_posts,
            "app.bsky.feed.getPostThread": self._post_thread,
            "com.atproto.sync.getBlob": self._get_blob,
            "chat.bsky.convo.listConvos": self._list_convos,
            "chat.bsky.convo.getMessages": self._get_messages,
        }
        self._broken_pages: dict[str, int] = {}  # nsid -> status for pages after the first
        for nsid in self._handlers:
            method = "POST" if nsid.startswith("com.atproto.server.") else "GET"
            server.add(method, f"/xrpc/{nsid}", self._serve(nsid))
        server.add("GET", re.compile(r"/img/.+"), self._image)

    # -- time and ids -------------------------------------------------------------------------
    def tick(self) -> datetime:
        """The next moment of the fake's clock (one minute on)."""
        with self._lock:
            self._clock += timedelta(minutes=1)
            return self._clock

    def _actor(self, handle: str) -> Actor:
        for actor in self.actors.values():
            if actor.handle == handle:
                return actor
        slug = re.sub(r"[^a-z0-9]", "", handle.lower())[:24].ljust(24, "0")
        actor = Actor(f"did:plc:{slug}", handle, handle.split(".")[0].title())
        self.actors[actor.did] = actor
        return actor

    # -- images -------------------------------------------------------------------------------
    def put_image(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Store image bytes; returns the blob CID. Served at /img/feed_fullsize/plain/<did>/
        <cid>@jpeg (like the CDN) and by com.atproto.sync.getBlob."""
        cid = fake_cid(data, prefix="bafkrei")
        with self._lock:
            self.blobs[cid] = (data, content_type)
        return cid

    def image_url(self, did: str, cid: str, size: str = "feed_fullsize") -> str:
        return self.server.url_for(f"/img/{size}/plain/{did}/{cid}@jpeg")

    # -- posts --------------------------------------------------------------------------------
    def add_post(
        self,
        text: str,
        *,
        author: str | None = None,
        images: Sequence[tuple[bytes, str]] = (),
        facets: list[dict[str, Any]] | None = None,
        tags: list[str] | None = None,
        langs: Sequence[str] = ("en",),
        created_at: str | None = None,
        reply_to: str | None = None,
        visible: bool = True,
    ) -> str:
        """A post by the account (or by `author`, a handle); images are (bytes, alt)."""
        when = self.tick()
        actor = self._actor(author) if author else self.account
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": created_at or iso(when),
            "langs": list(langs),
        }
        if facets:
            record["facets"] = facets
        if tags:
            record["tags"] = tags
        embed_view = None
        if images:
            record["embed"], embed_view = self._image_embed(actor, images)
        if reply_to:
            parent = self.posts[reply_to]
            root = parent.record.get("reply", {}).get("root") or {"uri": parent.uri}
            root_post = self.posts.get(root["uri"], parent)
            record["reply"] = {
                "root": {"uri": root_post.uri, "cid": root_post.cid},
                "parent": {"uri": parent.uri, "cid": parent.cid},
            }
        uri = f"at://{actor.did}/app.bsky.feed.post/{tid(when)}"
        post = Post(uri, fake_cid(record), actor, record, iso(when), embed_view, visible)
        with self._lock:
            self.posts[uri] = post
        return uri

    def add_reply(self, parent_uri: str, text: str, **options: Any) -> str:
        return self.add_post(text, reply_to=parent_uri, **options)

    def add_fixture_post(self) -> str:
        """The real post view of thread_view_post_with_embed_media.json (a foreign post with
        images and a quote, CDN URLs on cdn.bsky.app), exactly as stored."""
        data = json.loads((FIXTURES / "thread_view_post_with_embed_media.json").read_text())
        view = data["thread"]["post"]
        author = view["author"]
        actor = self.actors.setdefault(
            author["did"], Actor(author["did"], author["handle"], author.get("displayName", ""))
        )
        post = Post(
            view["uri"], view["cid"], actor, view["record"], view["indexedAt"], view.get("embed")
        )
        with self._lock:
            self.posts[post.uri] = post
        return post.uri

    def _image_embed(
        self, actor: Actor, images: Sequence[tuple[bytes, str]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        refs, views = [], []
        for data, alt in images:
            cid = self.put_image(data)
            blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/jpeg"}
            refs.append({"alt": alt, "image": {**blob, "size": len(data)}})
            views.append(
                {
                    "thumb": self.image_url(actor.did, cid, "feed_thumbnail"),
                    "fullsize": self.image_url(actor.did, cid),
                    "alt": alt,
                }
            )
        return (
            {"$type": "app.bsky.embed.images", "images": refs},
            {"$type": "app.bsky.embed.images#view", "images": views},
        )

    def edit_post(self, uri: str, *, text: str | None = None, **fields: Any) -> str:
        """Rewrite the record (putRecord): same uri, new cid. Returns the new cid."""
        with self._lock:
            post = self.posts[uri]
            record = copy.deepcopy(post.record)
            if text is not None:
                record["text"] = text
            record.update(fields)
            post.record = record
            post.cid = fake_cid(record)
            return post.cid

    def delete_post(self, uri: str, *, report: str = "RecordNotFound") -> None:
        """Delete a post. Afterwards getPostThread answers `report`: an XRPC error name
        (HTTP 400 {"error": report, ...}) or "notFoundPost" (HTTP 200, a notFoundPost)."""
        with self._lock:
            self.posts[uri].deleted = report

    def hide_from_appview(self, uri: str) -> None:
        """The record stays in the repo (listRecords) but the AppView stops showing it."""
        with self._lock:
            self.posts[uri].visible = False

    def like(self, uri: str, count: int) -> None:
        with self._lock:
            self.posts[uri].like_count = count

    def repost(self, subject_uri: str) -> str:
        """The account reposts `subject_uri`; returns the repost record's uri."""
        when = self.tick()
        uri = f"at://{self.account.did}/app.bsky.feed.repost/{tid(when)}"
        subject = self.posts[subject_uri]
        record = {"subject": {"uri": subject.uri, "cid": subject.cid}, "createdAt": iso(when)}
        with self._lock:
            self.reposts[uri] = Repost(uri, fake_cid(record), self.account, subject_uri, iso(when))
        return uri

    def unrepost(self, repost_uri: str) -> None:
        with self._lock:
            self.reposts[repost_uri].deleted = True

    # -- chat ---------------------------------------------------------------------------------
    def add_convo(self, *others: str) -> str:
        with self._lock:
            convo_id = f"convo{len(self.convos) + 1:04d}"
            members = [self.account, *(self._actor(h) for h in others)]
            self.convos[convo_id] = Convo(convo_id, members)
            return convo_id

    def add_message(
        self,
        convo_id: str,
        text: str,
        *,
        from_account: bool = True,
        facets: list[dict[str, Any]] | None = None,
    ) -> str:
        when = self.tick()
        with self._lock:
            convo = self.convos[convo_id]
            sender = self.account if from_account else convo.members[1]
            message: dict[str, Any] = {
                "$type": "chat.bsky.convo.defs#messageView",
                "id": tid(when, 1),
                "rev": tid(when, 2),
                "text": text,
                "sender": {"did": sender.did},
                "sentAt": iso(when),
            }
            if facets:
                message["facets"] = facets
            convo.messages.append(message)
            return str(message["id"])

    def delete_message(self, convo_id: str, message_id: str) -> None:
        """deleteMessageForSelf: the message becomes a deletedMessageView in getMessages."""
        with self._lock:
            convo = self.convos[convo_id]
            for index, message in enumerate(convo.messages):
                if message["id"] == message_id:
                    convo.messages[index] = {
                        "$type": "chat.bsky.convo.defs#deletedMessageView",
                        "id": message["id"],
                        "rev": tid(self.tick(), 3),
                        "sender": message["sender"],
                        "sentAt": message["sentAt"],
                    }

    def purge_message(self, convo_id: str, message_id: str) -> None:
        """The message disappears from getMessages altogether (no deletedMessageView)."""
        with self._lock:
            convo = self.convos[convo_id]
            convo.messages = [m for m in convo.messages if m["id"] != message_id]

    def leave_convo(self, convo_id: str) -> None:
        with self._lock:
            self.convos[convo_id].left = True

    def deny_chat(self) -> None:
        """The app password lacks DM access: chat calls answer 401 "Bad token scope"."""
        self.chat_denied = True

    # -- failures -----------------------------------------------------------------------------
    def _path(self, nsid: str) -> str:
        return f"/xrpc/{nsid}"

    def _serve(self, nsid: str) -> Handler:
        def serve(request: RecordedRequest) -> Reply:
            status = self._broken_pages.get(nsid)
            if status and request.param("cursor"):
                return xrpc_error("InternalServerError", "Internal Server Error", status)
            return self._handlers[nsid](request)

        return serve

    def _fail_first(self, nsid: str, *replies: Reply) -> None:
        method = "POST" if nsid.startswith("com.atproto.server.") else "GET"
        self.server.script(method, self._path(nsid), *replies, then=self._serve(nsid))

    def break_later_pages(self, nsid: str, status: int = 503) -> None:
        """Every request for a page after the first (one with a cursor) fails with `status`
        until `heal`: a walk broken off half-way."""
        self._broken_pages[nsid] = status

    def heal(self, nsid: str) -> None:
        self._broken_pages.pop(nsid, None)

    def rate_limit(self, nsid: str, *, reset: int, times: int = 1, limit: int = 3000) -> None:
        """`times` 429s with RateLimit-* headers (reset as Unix epoch seconds, as Bluesky
        sends it), then normal answers."""
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{limit};w=300",
        }
        reply = Reply.json(
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, 429, headers
        )
        self._fail_first(nsid, *[reply] * times)

    def server_errors(self, nsid: str, count: int, status: int = 500) -> None:
        reply = xrpc_error("InternalServerError", "Internal Server Error", status)
        self._fail_first(nsid, *[reply] * count)

    def truncate_next(self, nsid: str, *, framed: bool = False) -> None:
        """One cut-off JSON answer: the connection drops before the declared length (a
        transport failure the client retries), or with `framed` a complete body that is
        not valid JSON (which the client hands back as RetriableError at once)."""
        body = b'{"feed": [{"post": {"uri": "at://did:plc:x/app.bsky.feed.post/3' + b"x" * 64
        if framed:
            reply = Reply(200, {"Content-Type": "application/json"}, body[:40])
        else:
            reply = Reply.truncated(body, send_bytes=40)
        self._fail_first(nsid, reply)

    def expire_access_token(self, status: int = 400) -> None:
        """Every issued access JWT expires: XRPC calls answer ExpiredToken with `status`
        (400 from the PDS, 401 from the AppView) until the client refreshes."""
        with self._lock:
            self._expired_status = status
            for token in self._access:
                self._access[token] = "expired"

    def expire_refresh_token(self) -> None:
        with self._lock:
            for token in self._refresh:
                self._refresh[token] = "expired"

    # -- auth ---------------------------------------------------------------------------------
    def _issue(self) -> dict[str, Any]:
        with self._lock:
            self._tokens += 1
            access = f"eyJ0eXAiOiJhdCtqd3QifQ.access-{self._tokens}-{JWT_MARK}.sig"
            refresh = f"eyJ0eXAiOiJyZWZyZXNoK2p3dCJ9.refresh-{self._tokens}-{JWT_MARK}.sig"
            self._access[access] = "valid"
            self._refresh[refresh] = "valid"
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.account.handle,
            "did": self.account.did,
            "active": True,
        }

    def _bearer(self, request: RecordedRequest) -> str | None:
        value = request.headers.get("authorization", "")
        return value[len("Bearer ") :] if value.startswith("Bearer ") else None

    def _auth(self, request: RecordedRequest, *, required: bool = True) -> Reply | None:
        """None when the access JWT is good; else the error the PDS would send."""
        token = self._bearer(request)
        if token is None:
            if not required:
                return None
            return xrpc_error("AuthMissing", "Authentication Required", 401)
        state = self._access.get(token)
        if state == "valid":
            return None
        if state == "expired":
            return xrpc_error("ExpiredToken", "Token has expired", self._expired_status)
        return xrpc_error("InvalidToken", "Token could not be verified")

    def _create_session(self, request: RecordedRequest) -> Reply:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return xrpc_error("InvalidRequest", "Request body must be JSON")
        identifier = body.get("identifier")
        if identifier not in (self.account.handle, self.account.did):
            return xrpc_error("AuthenticationRequired", "Invalid identifier or password", 401)
        if body.get("password") != self.app_password:
            return xrpc_error("AuthenticationRequired", "Invalid identifier or password", 401)
        self.sessions_created += 1
        return Reply.json({**self._issue(), "email": "archivist@example.test"})

    def _refresh_session(self, request: RecordedRequest) -> Reply:
        token = self._bearer(request)
        state = self._refresh.get(token or "")
        if state == "expired":
            return xrpc_error("ExpiredToken", "Token has expired")
        if state != "valid":
            return xrpc_error("InvalidToken", "Token could not be verified")
        with self._lock:
            self._refresh[token or ""] = "expired"  # refresh JWTs are single use
            self.refreshes += 1
        return Reply.json(self._issue())

    # -- views --------------------------------------------------------------------------------
    def _alive(self, uri: str) -> Post | None:
        post = self.posts.get(uri)
        return post if post is not None and post.deleted is None else None

    def post_view(self, post: Post) -> dict[str, Any]:
        """app.bsky.feed.defs#postView."""
        view: dict[str, Any] = {
            "uri": post.uri,
            "cid": post.cid,
            "author": post.author.view(),
            "record": copy.deepcopy(post.record),
        }
        if post.embed_view is not None:
            view["embed"] = copy.deepcopy(post.embed_view)
        reposts = sum(1 for r in self.reposts.values() if r.subject == post.uri and not r.deleted)
        replies = sum(
            1
            for p in self.posts.values()
            if p.deleted is None
            and (p.record.get("reply") or {}).get("parent", {}).get("uri") == post.uri
        )
        view.update(
            {
                "replyCount": replies,
                "repostCount": reposts,
                "likeCount": post.like_count,
                "quoteCount": 0,
                "indexedAt": post.indexed_at,
                "viewer": {},
                "labels": [],
            }
        )
        return view

    def _ref_view(self, uri: str) -> dict[str, Any]:
        post = self._alive(uri)
        if post is None or not post.visible:
            return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": uri, "notFound": True}
        return {"$type": "app.bsky.feed.defs#postView", **self.post_view(post)}

    def _feed_entries(self, actor_did: str) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        entries: list[tuple[tuple[str, str], dict[str, Any]]] = []
        for post in self.posts.values():
            if post.author.did != actor_did or post.deleted is not None or not post.visible:
                continue
            entry: dict[str, Any] = {"post": self.post_view(post)}
            reply = post.record.get("reply")
            if reply:
                entry["reply"] = {
                    "root": self._ref_view(reply["root"]["uri"]),
                    "parent": self._ref_view(reply["parent"]["uri"]),
                }
            entries.append(((post.sort_at(), post.cid), entry))
        for repost in self.reposts.values():
            subject = self._alive(repost.subject)
            if repost.by.did != actor_did or repost.deleted or subject is None:
                continue
            entry = {
                "post": self.post_view(subject),
                "reason": {
                    "$type": "app.bsky.feed.defs#reasonRepost",
                    "by": repost.by.view(),
                    "uri": repost.uri,
                    "cid": repost.cid,
                    "indexedAt": repost.indexed_at,
                },
            }
            entries.append(((repost.indexed_at, repost.cid), entry))
        entries.sort(key=lambda e: e[0], reverse=True)
        return entries

    # -- handlers -----------------------------------------------------------------------------
    def _limit(self, request: RecordedRequest, default: int = 50) -> int:
        try:
            return max(1, min(100, int(request.param("limit") or default)))
        except ValueError:
            return default

    def _resolve(self, repo: str | None) -> Actor | None:
        for actor in self.actors.values():
            if repo in (actor.did, actor.handle):
                return actor
        return None

    def _author_feed(self, request: RecordedRequest) -> Reply:
        with self._lock:
            denied = self._auth(request)
            if denied:
                return denied
            actor = self._resolve(request.param("actor"))
            if actor is None:
                return xrpc_error("InvalidRequest", "Profile not found")
            entries = self._feed_entries(actor.did)
            cursor = request.param("cursor")
            if cursor:
                sort_at, _, cid = cursor.partition("::")
                entries = [e for e in entries if e[0] < (sort_at, cid)]
            page = entries[: self._limit(request)]
            payload: dict[str, Any] = {"feed": [entry for _, entry in page]}
            if len(entries) > len(page):
                payload["cursor"] = "::".join(page[-1][0])
            return Reply.json(payload)

    def _list_records(self, request: RecordedRequest) -> Reply:
        with self._lock:
            denied = self._auth(request, required=False)
            if denied:
                return denied
            actor = self._resolve(request.param("repo"))
            if actor is None:
                return xrpc_error("InvalidRequest", "Could not find repo")
            collection = request.param("collection")
            records = self._records(actor.did, collection or "")
            records.sort(key=_rkey, reverse=True)
            reverse = request.param("reverse") == "true"
            if reverse:
                records.reverse()
            cursor = request.param("cursor")
            if cursor:
                records = [
                    r for r in records if (_rkey(r) > cursor if reverse else _rkey(r) < cursor)
                ]
            page = records[: self._limit(request)]
            payload: dict[str, Any] = {"records": page}
            if len(records) > len(page):
                payload["cursor"] = _rkey(page[-1])
            return Reply.json(payload)

    def _records(self, did: str, collection: str) -> list[dict[str, Any]]:
        if collection == "app.bsky.feed.post":
            return [
                {"uri": p.uri, "cid": p.cid, "value": copy.deepcopy(p.record)}
                for p in self.posts.values()
                if p.author.did == did and p.deleted is None
            ]
        if collection == "app.bsky.feed.repost":
            found = []
            for r in self.reposts.values():
                if r.by.did == did and not r.deleted:
                    subject = self.posts[r.subject]
                    value = {
                        "$type": "app.bsky.feed.repost",
                        "subject": {"uri": subject.uri, "cid": subject.cid},
                        "createdAt": r.indexed_at,
                    }
                    found.append({"uri": r.uri, "cid": r.cid, "value": value})
            return found
        return []

    def _get_record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            actor = self._resolve(request.param("repo"))
            collection, rkey = request.param("collection"), request.param("rkey")
            uri = f"at://{actor.did if actor else request.param('repo')}/{collection}/{rkey}"
            for record in self._records(actor.did, collection or "") if actor else []:
                if record["uri"] == uri:
                    return Reply.json(record)
            return xrpc_error("RecordNotFound", f"Could not locate record: {uri}")

    def _get_posts(self, request: RecordedRequest) -> Reply:
        with self._lock:
            denied = self._auth(request)
            if denied:
                return denied
            uris = request.query.get("uris", [])
            if len(uris) > 25:
                return xrpc_error("InvalidRequest", "uris must not have more than 25 elements")
            posts = []
            for uri in uris:
                post = self._alive(uri)
                if post is not None and post.visible:
                    posts.append(self.post_view(post))
            return Reply.json({"posts": posts})

    def _post_thread(self, request: RecordedRequest) -> Reply:
        with self._lock:
            denied = self._auth(request)
            if denied:
                return denied
            uri = request.param("uri") or ""
            post = self.posts.get(uri)
            if post is None or (post.deleted is None and not post.visible):
                return xrpc_error("NotFound", f"Post not found: {uri}")
            if post.deleted is not None:
                if post.deleted == "notFoundPost":
                    return Reply.json(
                        {
                            "thread": {
                                "$type": "app.bsky.feed.defs#notFoundPost",
                                "uri": uri,
                                "notFound": True,
                            }
                        }
                    )
                return xrpc_error(post.deleted, f"Post not found: {uri}")
            thread = {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": self.post_view(post),
                "replies": [],
            }
            return Reply.json({"thread": thread})

    def _get_blob(self, request: RecordedRequest) -> Reply:
        found = self.blobs.get(request.param("cid") or "")
        if found is None:
            return xrpc_error("BlobNotFound", "Blob not found")
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)

    def _image(self, request: RecordedRequest) -> Reply:
        match = re.fullmatch(r"/img/[a-z_]+/plain/[^/]+/([a-z0-9]+)@jpeg", request.path)
        found = self.blobs.get(match[1]) if match else None
        if found is None:
            return Reply(404, {"Content-Type": "text/plain"}, b"not found")
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)

    def _chat_auth(self, request: RecordedRequest) -> Reply | None:
        if request.headers.get("atproto-proxy") != CHAT_PROXY:
            # The PDS itself implements no chat.bsky.* method.
            return xrpc_error("MethodNotImplemented", "Method Not Implemented", 501)
        denied = self._auth(request)
        if denied:
            return denied
        if self.chat_denied:
            return xrpc_error("InvalidToken", "Bad token scope", 401)
        return None

    def convo_view(self, convo: Convo) -> dict[str, Any]:
        """chat.bsky.convo.defs#convoView."""
        view: dict[str, Any] = {
            "id": convo.id,
            "rev": convo.messages[-1]["rev"] if convo.messages else tid(_START),
            "members": [m.view() for m in convo.members],
            "muted": False,
            "status": "accepted",
            "unreadCount": 0,
        }
        if convo.messages:
            view["lastMessage"] = copy.deepcopy(convo.messages[-1])
        return view

    def _list_convos(self, request: RecordedRequest) -> Reply:
        with self._lock:
            denied = self._chat_auth(request)
            if denied:
                return denied
            convos = [c for c in self.convos.values() if not c.left]
            convos.sort(key=lambda c: c.messages[-1]["sentAt"] if c.messages else "", reverse=True)
            start = int(request.param("cursor") or 0)
            limit = self._limit(request)
            page = convos[start : start + limit]
            payload: dict[str, Any] = {"convos": [self.convo_view(c) for c in page]}
            if start + limit < len(convos):
                payload["cursor"] = str(start + limit)
            return Reply.json(payload)

    def _get_messages(self, request: RecordedRequest) -> Reply:
        with self._lock:
            denied = self._chat_auth(request)
            if denied:
                return denied
            convo = self.convos.get(request.param("convoId") or "")
            if convo is None or convo.left:
                return xrpc_error("InvalidConvo", "Convo not found")
            messages = list(reversed(convo.messages))  # newest first
            cursor = request.param("cursor")
            if cursor:
                messages = [m for m in messages if m["id"] < cursor]
            page = messages[: self._limit(request)]
            payload: dict[str, Any] = {"messages": copy.deepcopy(page)}
            if len(messages) > len(page):
                payload["cursor"] = page[-1]["id"]
            return Reply.json(payload)


def mention_facet(text: str, fragment: str, did: str) -> dict[str, Any]:
    """An app.bsky.richtext.facet#mention over `fragment` of `text` (UTF-8 byte offsets)."""
    return _facet(text, fragment, {"$type": "app.bsky.richtext.facet#mention", "did": did})


def link_facet(text: str, fragment: str, uri: str) -> dict[str, Any]:
    return _facet(text, fragment, {"$type": "app.bsky.richtext.facet#link", "uri": uri})


def tag_facet(text: str, fragment: str) -> dict[str, Any]:
    feature = {"$type": "app.bsky.richtext.facet#tag", "tag": fragment.lstrip("#")}
    return _facet(text, fragment, feature)


def _facet(text: str, fragment: str, feature: Mapping[str, Any]) -> dict[str, Any]:
    start = text.encode("utf-8").index(fragment.encode("utf-8"))
    end = start + len(fragment.encode("utf-8"))
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [dict(feature)]}
