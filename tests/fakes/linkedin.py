"""A fake LinkedIn versioned REST API on FakeServer: one organisation's posts, comments and
media as mutable state.

Built from tests/fixtures/linkedin/ (see SOURCES.md): the organisation and its first
post are the Posts API element quoted in a public write-up of the versioned API; new
posts copy it, comments copy the documented comment shape, media answers copy the
Images API shape with download URLs on this server.

Served (GET only). Every /rest request needs `Authorization: Bearer <token>` (401),
`LinkedIn-Version: YYYYMM` (400 VERSION_MISSING; 426 NONEXISTENT_VERSION for one
before 202401) and `X-Restli-Protocol-Version: 2.0.0` (400). URNs in paths are
percent-encoded (Rest.li 2.0):
  /rest/posts?q=author&author=<urn>&start=&count=&sortBy=LAST_MODIFIED|CREATED
  /rest/posts/<urn>                               404 once deleted
  /rest/socialActions/<post or comment urn>/comments?start=&count=
  /rest/socialActions/<urn>/comments/<comment id>
  /rest/images/<urn>, /rest/videos/<urn>, /rest/documents/<urn>
  /media/<file>                                   bytes (no auth, like media.licdn.com)

LinkedIn publishes no quota headers: throttled requests get 429 (optionally with
Retry-After), which `rate_limit` scripts; `fail` scripts server errors and `truncate`
cuts real answers short. Text holding lone surrogates (bytes decoded with
errors="surrogateescape") goes on the wire as those bytes, so a test can serve invalid
UTF-8.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes.server import FakeServer, RecordedRequest, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "linkedin"
ORG = "urn:li:organization:2414183"
FIRST_POST = "urn:li:share:7045020441609936898"
FIRST_IMAGE = "urn:li:image:D4E10AQE71V5w_-aalA"
MEMBER = "urn:li:person:Ylpq-RobP9"
START_MS = 1679663764133  # the recorded post's lastModifiedAt
_COMMENTS = re.compile(r"/rest/socialActions/(?P<target>[^/]+)/comments(?:/(?P<id>[^/]+))?")
_MEDIA = re.compile(r"/rest/(?P<kind>images|videos|documents)/(?P<urn>[^/]+)")


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["json"]


ERRORS = load_fixture("errors.json")


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """JSON as LinkedIn sends it; lone surrogates in text go out as the bytes they stand for."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", errors="surrogateescape")
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, body)


def _error(status: int, headers: dict[str, str] | None = None) -> Reply:
    return _json(ERRORS[str(status)], status, headers)


@dataclass
class _Fault:
    path: re.Pattern[str]
    kind: str  # "error" | "truncate"
    remaining: int
    status: int = 500


class FakeLinkedIn:
    def __init__(self, server: FakeServer, token: str, *, org: str = ORG) -> None:
        self.server = server
        self.token = token
        self.org = org
        self._lock = threading.RLock()
        self._ms = START_MS
        self._next_id = int(FIRST_POST.rsplit(":", 1)[1])
        self.posts: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}  # target urn -> comments
        self.assets: dict[str, dict[str, Any]] = {}  # media urn -> Images API answer
        self.files: dict[str, tuple[bytes, str]] = {}
        self._limited: list[str | None] = []  # scripted 429s and their Retry-After
        self._faults: list[_Fault] = []
        self._template = load_fixture("post_image.json")
        self._comment_template = load_fixture("comment.json")
        first = copy.deepcopy(self._template)
        self.posts[first["id"]] = first
        self.add_asset(FIRST_IMAGE, b"\x89PNG recorded image")
        server.add("GET", re.compile(r"/rest/.*"), self._handle)
        server.add("GET", re.compile(r"/media/.*"), self._serve_file)

    # -- scenario API -----------------------------------------------------------------
    def post(
        self,
        commentary: str = "hello",
        *,
        image: bytes | None = None,
        article: dict[str, Any] | None = None,
        images: list[bytes] | None = None,
    ) -> dict[str, Any]:
        """A new organisation post (created, published and last modified now)."""
        with self._lock:
            now = self._tick()
            self._next_id += 1 << 22
            post = copy.deepcopy(self._template)
            post.update(
                id=f"urn:li:share:{self._next_id}", author=self.org, commentary=commentary,
                createdAt=now - 5, publishedAt=now - 1, lastModifiedAt=now, content={},
                lifecycleStateInfo={"isEditedByAuthor": False},
            )
            if image is not None:
                urn = self.add_asset(f"urn:li:image:IMG{self._next_id}", image)
                post["content"] = {"media": {"id": urn, "altText": "an image"}}
            if images:
                urns = [self.add_asset(f"urn:li:image:MULTI{self._next_id}x{n}", data)
                        for n, data in enumerate(images)]
                post["content"] = {"multiImage": {"images": [
                    {"id": urn, "altText": f"image {n}"} for n, urn in enumerate(urns)
                ]}}
            if article is not None:
                post["content"] = {"article": article}
            if not post["content"]:
                del post["content"]
            self.posts[post["id"]] = post
            return post

    def edit(self, urn: str, commentary: str) -> dict[str, Any]:
        """The author edits the commentary: lastModifiedAt moves, isEditedByAuthor is set."""
        with self._lock:
            post = self.posts[urn]
            post.update(commentary=commentary, lastModifiedAt=self._tick(),
                        lifecycleStateInfo={"isEditedByAuthor": True})
            return post

    def delete(self, urn: str) -> None:
        """Gone: 404 for the post and its comments, and out of the author listing."""
        with self._lock:
            self.posts.pop(urn)

    def comment(
        self, target: str, text: str = "nice post", *, actor: str = MEMBER,
        image: bytes | None = None,
    ) -> dict[str, Any]:
        """A comment on a post, or a reply when `target` is a comment URN."""
        with self._lock:
            now = self._tick()
            self._next_id += 1
            comment = copy.deepcopy(self._comment_template)
            post = target if not target.startswith("urn:li:comment:") else self._post_of(target)
            comment_id = str(self._next_id)
            comment.update(
                actor=actor, id=comment_id, object=post,
                created={"actor": actor, "time": now},
                lastModified={"actor": actor, "time": now},
                message={"attributes": [], "text": text},
                commentUrn=f"urn:li:comment:({post},{comment_id})",
            )
            if target.startswith("urn:li:comment:"):
                comment["parentComment"] = target
                parent = self._find_comment(target)
                summary = parent["commentsSummary"]
                summary["totalFirstLevelComments"] += 1
                summary["aggregatedTotalComments"] += 1
            if image is not None:
                urn = self.add_asset(f"urn:li:image:C{comment_id}", image)
                comment["content"] = [{"type": "IMAGE", "url": self.assets[urn]["downloadUrl"],
                                       "entity": {"image": urn}}]
            self.comments.setdefault(target, []).append(comment)
            return comment

    def edit_comment(self, urn: str, text: str) -> dict[str, Any]:
        with self._lock:
            comment = self._find_comment(urn)
            comment["message"]["text"] = text
            comment["lastModified"]["time"] = self._tick()
            return comment

    def delete_comment(self, urn: str) -> None:
        with self._lock:
            for listing in self.comments.values():
                listing[:] = [c for c in listing if c["commentUrn"] != urn]

    def add_asset(self, urn: str, data: bytes, content_type: str = "image/png") -> str:
        """A medium the Images (or Videos/Documents) API describes, served under /media/."""
        with self._lock:
            path = f"/media/{urn.rsplit(':', 1)[1]}"
            self.files[path] = (data, content_type)
            self.assets[urn] = {
                "owner": self.org, "status": "AVAILABLE", "id": urn,
                "downloadUrlExpiresAt": self._ms + 86_400_000,
                "downloadUrl": f"{self.server.url_for(path)}?e=1&v=beta&t=sig{len(self.files)}",
            }
            return urn

    def rate_limit(self, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` /rest requests get 429 (LinkedIn sends no quota headers)."""
        with self._lock:
            self._limited.extend([retry_after] * times)

    def fail(self, times: int, *, status: int = 500, path: str = r"/rest/.*") -> None:
        """The next `times` matching /rest requests get `status` (a server error)."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "error", times, status))

    def truncate(self, times: int = 1, *, path: str = r"/rest/.*") -> None:
        """The next `times` matching replies declare their full length but stop halfway."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "truncate", times))

    def listed(self) -> list[dict[str, Any]]:
        """The organisation's posts as the author finder lists them: newest change first."""
        with self._lock:
            own = [p for p in self.posts.values() if p["author"] == self.org]
            return sorted(own, key=lambda p: p["lastModifiedAt"], reverse=True)

    # -- serving ----------------------------------------------------------------------
    def _handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._limited:
                retry_after = self._limited.pop(0)
                return _error(429, {"Retry-After": retry_after} if retry_after else None)
            fault = self._take_fault(request.path)
            if fault is not None and fault.kind == "error":
                return _json({"status": fault.status, "code": "INTERNAL_SERVER_ERROR",
                              "message": "Internal Server Error"}, fault.status)
            reply = self._checked(request)
            if fault is not None:  # truncate: the real reply, cut off
                reply.send_bytes = len(reply.body) // 2
            return reply

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.path.fullmatch(path):
                fault.remaining -= 1
                return fault
        return None

    def _checked(self, request: RecordedRequest) -> Reply:
        """The headers every /rest request needs, then the route."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401)
        version = request.headers.get("linkedin-version")
        if not version:
            return _error(400)
        if not re.fullmatch(r"\d{6}", version) or version < "202401":
            return _error(426)
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return _json({"status": 400, "code": "ILLEGAL_ARGUMENT",
                          "message": "Rest.li protocol 2.0.0 required"}, 400)
        return self._route(request)

    def _route(self, request: RecordedRequest) -> Reply:
        path = request.path
        if path == "/rest/posts":
            return self._by_author(request)
        if path.startswith("/rest/posts/"):
            post = self.posts.get(unquote(path[len("/rest/posts/"):]))
            return _json(post) if post is not None else _error(404)
        found = _COMMENTS.fullmatch(path)
        if found:
            return self._comments(request, unquote(found["target"]), found["id"])
        found = _MEDIA.fullmatch(path)
        if found:
            asset = self.assets.get(unquote(found["urn"]))
            return _json(asset) if asset is not None else _error(404)
        return _error(404)

    def _by_author(self, request: RecordedRequest) -> Reply:
        if request.param("q") != "author" or request.param("author") != self.org:
            return _json({"status": 400, "code": "ILLEGAL_ARGUMENT",
                          "message": "q=author&author=<organization urn> expected"}, 400)
        posts = self.listed()
        if request.param("sortBy") == "CREATED":
            posts.sort(key=lambda p: p["createdAt"], reverse=True)
        return _json(self._paged(request, posts, "/rest/posts"))

    def _comments(self, request: RecordedRequest, target: str, comment_id: str | None) -> Reply:
        post = target if not target.startswith("urn:li:comment:") else self._post_of(target)
        if post not in self.posts:
            return _error(404)
        listing = self.comments.get(target, [])
        if comment_id is not None:
            match = next((c for c in listing if c["id"] == unquote(comment_id)), None)
            return _json(match) if match is not None else _error(404)
        if target.startswith("urn:li:comment:") and self._find_comment(target) is None:
            return _error(404)
        return _json(self._paged(request, listing, request.path))

    def _paged(self, request: RecordedRequest, elements: list[dict[str, Any]], path: str
               ) -> dict[str, Any]:
        start = int(request.param("start") or 0)
        count = max(1, min(int(request.param("count") or 10), 100))
        page = elements[start : start + count]
        links = []
        if start + count < len(elements):
            links.append({"type": "application/json", "rel": "next",
                          "href": f"{path}?start={start + count}&count={count}"})
        return {"paging": {"start": start, "count": count, "links": links,
                           "total": len(elements)},
                "elements": copy.deepcopy(page)}

    def _serve_file(self, request: RecordedRequest) -> Reply:
        with self._lock:
            found = self.files.get(request.path)
        if found is None:
            return _error(404)
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)

    # -- helpers ----------------------------------------------------------------------
    def _tick(self) -> int:
        self._ms += 60_000
        return self._ms

    def _find_comment(self, urn: str) -> dict[str, Any] | None:
        for listing in self.comments.values():
            for comment in listing:
                if comment["commentUrn"] == urn:
                    return comment
        return None

    @staticmethod
    def _post_of(comment_urn: str) -> str:
        return comment_urn[len("urn:li:comment:("):].rsplit(",", 1)[0]
