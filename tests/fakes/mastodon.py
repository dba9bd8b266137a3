"""A fake Mastodon instance on FakeServer, serving real recorded payloads as mutable state.

The starting state is built from tests/fixtures/mastodon/ (recorded from a Mastodon 4.x
dev server, see SOURCES.md): the account `mastodonpy_test` (the archived organisation),
its ten "Toot number N!" statuses, the status later edited in the recording (unedited
at first), the account `admin`, and two direct conversations between them.

Served (GET only, bearer token required on /api/, 401 as Mastodon words it otherwise):
  /api/v1/accounts/verify_credentials
  /api/v1/accounts/:id/statuses   max_id / since_id / min_id / limit, Link header
  /api/v1/conversations           paged by last_status id, Link header
  /api/v1/statuses/:id            404 {"error": "Record not found"} once deleted
  /api/v1/statuses/:id/context    ancestors / descendants from in_reply_to_id
  /api/v1/statuses/:id/history    [] until edited (as the recorded server did)
  /media/<file>                   bytes given by the test (no auth, like a CDN)

Pagination follows Mastodon's controllers: newest first; with min_id, the `limit`
items just above it (still listed newest first); rel="next" (max_id = oldest listed)
only while a page is full, rel="prev" (min_id = newest listed) whenever it is not empty.

Scenario API: post_status, boost, add_reply, add_dm, edit_status, apply_recorded_edit,
delete_status, attach_image, rate_limit, fail, truncate. Strings holding lone surrogates
U+DC80..U+DCFF (what `bytes.decode("utf-8", "surrogateescape")` produces) go out as the
raw bytes they stand for, so `post_status(content=b"...\\xe9...")` serves invalid UTF-8.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import FakeServer, RecordedRequest, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mastodon"
INSTANCE = "http://localhost:3000"  # the recorded server's own URLs, kept in statuses
FIRST_NEW_STATUS_AT = datetime(2022, 12, 2, tzinfo=UTC)  # after every recorded status
DEFAULT_LIMIT = 20  # Mastodon's DEFAULT_STATUSES_LIMIT
MAX_LIMIT = 40
EDITED_ID = "109440147874866834"  # the status edited in the status_edit recording
RATE_LIMIT = 300
_API = re.compile(r"/api/v1/(?P<rest>.+)")
_STATUS_PATH = re.compile(r"statuses/(?P<id>[^/]+)(?:/(?P<sub>context|history))?")
_ACCOUNT_STATUSES = re.compile(r"accounts/(?P<id>[^/]+)/statuses")


def load_fixture(relative: str) -> Any:
    """The recorded response body of one cassette file under tests/fixtures/mastodon/."""
    recorded = json.loads((FIXTURES / relative).read_text(encoding="utf-8"))
    return recorded["response"]["json"]


def _iso(moment: datetime) -> str:
    """Mastodon's timestamp format: milliseconds and a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", errors="surrogateescape")
    merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return Reply(status, merged, body)


@dataclass
class _Fault:
    path: re.Pattern[str]
    kind: str  # "rate_limit" | "error" | "truncate"
    remaining: int
    status: int = 500
    reset_in: float = 30.0


class FakeMastodon:
    """Mastodon's read API for one organisation account, over real HTTP."""

    def __init__(
        self,
        server: FakeServer,
        token: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.server = server
        self.token = token
        self.clock = clock  # for X-RateLimit-Reset: give it the client's fake clock
        self._lock = threading.RLock()
        self._ticks = 0
        self._faults: list[_Fault] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.org: dict[str, Any] = load_fixture(
            "fetch_next_previous/01-get-accounts-verify-credentials.json"
        )
        self.statuses: dict[str, dict[str, Any]] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        for name in ("12-get-accounts-id-statuses.json", "13-get-accounts-id-statuses.json"):
            for status in load_fixture(f"fetch_next_previous/{name}"):
                self.statuses[status["id"]] = status
        original = load_fixture("status_edit/01-post-statuses.json")
        self.statuses[original["id"]] = original
        recorded = load_fixture("conversations/03-get-conversations.json")
        # The recording was made as `admin`; seen from the organisation, the other
        # participant is admin, whose account JSON is in the second conversation.
        self.other: dict[str, Any] = copy.deepcopy(recorded[1]["last_status"]["account"])
        for conversation in recorded:
            last = conversation["last_status"]
            self.statuses[last["id"]] = last
            self.conversations[conversation["id"]] = {
                "id": conversation["id"],
                "unread": conversation["unread"],
                "accounts": [self.other],
                "last_status_id": last["id"],
            }
        self._template = copy.deepcopy(self.statuses["109440145510747169"])  # "Toot number 9!"
        server.add("GET", re.compile(r"/api/.*"), self._handle)
        server.add("GET", re.compile(r"/media/.*"), self._serve_media)

    # -- scenario API -----------------------------------------------------------------
    def org_statuses(self) -> list[dict[str, Any]]:
        """The organisation's statuses as the API lists them (newest first)."""
        with self._lock:
            own = [s for s in self.statuses.values() if s["account"]["id"] == self.org["id"]]
            return sorted(own, key=lambda s: int(s["id"]), reverse=True)

    def post_status(
        self,
        content: str | bytes = "<p>hello</p>",
        *,
        author: dict[str, Any] | None = None,
        visibility: str = "public",
        spoiler_text: str = "",
        sensitive: bool = False,
        in_reply_to: str | None = None,
        mentions: Sequence[dict[str, Any]] = (),
        poll: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A new status (by the organisation unless `author` is given); returns it."""
        if isinstance(content, bytes):
            content = content.decode("utf-8", errors="surrogateescape")
        account = author or self.org
        with self._lock:
            status_id, created_at = self._next_id()
            status = copy.deepcopy(self._template)
            status.pop("pinned", None)
            status.update(
                id=status_id,
                created_at=created_at,
                in_reply_to_id=None,
                in_reply_to_account_id=None,
                sensitive=sensitive,
                spoiler_text=spoiler_text,
                visibility=visibility,
                uri=f"{INSTANCE}/users/{account['username']}/statuses/{status_id}",
                url=f"{INSTANCE}/@{account['acct']}/{status_id}",
                replies_count=0,
                edited_at=None,
                content=content,
                account=copy.deepcopy(account),
                mentions=[self._mention(a) for a in mentions],
                poll=self._poll(poll) if poll else None,
            )
            if in_reply_to is not None:
                parent = self.statuses[in_reply_to]
                status["in_reply_to_id"] = parent["id"]
                status["in_reply_to_account_id"] = parent["account"]["id"]
                replier, parent_author = account["id"], parent["account"]["id"]
                already = any(m["id"] == parent_author for m in status["mentions"])
                if parent_author != replier and not already:
                    status["mentions"].insert(0, self._mention(parent["account"]))
                parent["replies_count"] += 1
            status["content"] = self._with_mentions(status["content"], status["mentions"])
            self.statuses[status_id] = status
            return status

    def boost(self, status_id: str) -> dict[str, Any]:
        """The organisation reblogs `status_id`; returns the reblog wrapper status."""
        with self._lock:
            target = copy.deepcopy(self.statuses[status_id])
            wrapper = self.post_status("", visibility=target["visibility"])
            activity = f"{INSTANCE}/users/{self.org['username']}/statuses/{wrapper['id']}/activity"
            wrapper.update(
                uri=activity, url=activity, reblog=target, language=None,
                mentions=[], media_attachments=[],
            )
            return wrapper

    def add_reply(
        self,
        to_id: str,
        content: str = "<p>a reply</p>",
        *,
        author: dict[str, Any] | None = None,
        visibility: str = "public",
    ) -> dict[str, Any]:
        """Someone (default: admin) replies to `to_id`; the parent's replies_count grows."""
        return self.post_status(
            content, author=author or self.other, visibility=visibility, in_reply_to=to_id
        )

    def add_dm(
        self,
        content: str = "<p>a private word</p>",
        *,
        sender: dict[str, Any] | None = None,
        in_reply_to: str | None = None,
        conversation_id: str | None = None,
    ) -> dict[str, Any]:
        """A direct message between admin (default sender) and the organisation; it
        becomes the last status of `conversation_id`, or of a new conversation."""
        sender = sender or self.other
        recipient = self.org if sender["id"] != self.org["id"] else self.other
        with self._lock:
            status = self.post_status(
                content, author=sender, visibility="direct", mentions=[recipient],
                in_reply_to=in_reply_to,
            )
            if conversation_id is None:
                conversation_id = str(max(int(c) for c in self.conversations) + 1)
                self.conversations[conversation_id] = {
                    "id": conversation_id, "unread": True, "accounts": [self.other],
                }
            conversation = self.conversations[conversation_id]
            conversation["last_status_id"] = status["id"]
            conversation["unread"] = sender["id"] != self.org["id"]
            return status

    def edit_status(
        self,
        status_id: str,
        *,
        content: str | None = None,
        spoiler_text: str | None = None,
        sensitive: bool | None = None,
        poll: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Edit as Mastodon does: snapshot the original first, bump edited_at, and
        append the new version to the history (StatusEdit created at edited_at)."""
        with self._lock:
            status = self.statuses[status_id]
            history = self.histories.setdefault(status_id, [])
            if not history:
                history.append(self._snapshot(status, status["created_at"]))
            if content is not None:
                status["content"] = content
            if spoiler_text is not None:
                status["spoiler_text"] = spoiler_text
            if sensitive is not None:
                status["sensitive"] = sensitive
            if poll is not None:
                status["poll"] = self._poll(poll)
            _, edited_at = self._next_id()
            status["edited_at"] = edited_at
            history.append(self._snapshot(status, edited_at))
            return status

    def apply_recorded_edit(self) -> dict[str, Any]:
        """The recorded edit of EDITED_ID: its state and history after the edit, verbatim."""
        with self._lock:
            self.statuses[EDITED_ID] = load_fixture("status_edit/04-get-statuses-id.json")
            self.histories[EDITED_ID] = load_fixture("status_edit/05-get-statuses-id-history.json")
            return self.statuses[EDITED_ID]

    def delete_status(self, status_id: str) -> None:
        """Gone: 404 from now on, and out of every listing."""
        with self._lock:
            status = self.statuses.pop(status_id)
            self.histories.pop(status_id, None)
            parent = self.statuses.get(status.get("in_reply_to_id") or "")
            if parent is not None:
                parent["replies_count"] = max(0, parent["replies_count"] - 1)
            for key, conversation in list(self.conversations.items()):
                if conversation.get("last_status_id") == status_id:
                    del self.conversations[key]

    def attach_image(
        self,
        status_id: str,
        data: bytes,
        *,
        content_type: str = "image/png",
        description: str | None = None,
        media_type: str = "image",
    ) -> str:
        """Give the status a media attachment (as if posted with it) whose file this
        server serves under /media/; returns the file's URL."""
        with self._lock:
            media_id = str(100000 + len(self.media))
            extension = content_type.rsplit("/", 1)[-1]
            path = f"/media/{media_id}/original.{extension}"
            self.media[path] = (data, content_type)
            attachment = {
                "id": media_id,
                "type": media_type,
                "url": self.server.url_for(path),
                "preview_url": self.server.url_for(f"/media/{media_id}/small.{extension}"),
                "remote_url": None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": {
                    "original": {"width": 64, "height": 48, "size": "64x48", "aspect": 1.3333},
                    "small": {"width": 64, "height": 48, "size": "64x48", "aspect": 1.3333},
                },
                "description": description,
                "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
            }
            self.statuses[status_id]["media_attachments"].append(attachment)
            return str(attachment["url"])

    def rate_limit(self, times: int = 1, *, reset_in: float = 30.0, path: str = r"/api/.*") -> None:
        """The next `times` matching requests get Mastodon's 429 (Rack::Attack's reply:
        X-RateLimit-Limit/Remaining 0/Reset as ISO 8601, reset_in seconds from clock())."""
        self._add_fault(_Fault(re.compile(path), "rate_limit", times, 429, reset_in))

    def fail(self, times: int, *, status: int = 500, path: str = r"/api/.*") -> None:
        """A storm: the next `times` matching requests get `status` with an HTML page."""
        self._add_fault(_Fault(re.compile(path), "error", times, status))

    def truncate(self, times: int = 1, *, path: str = r"/api/.*") -> None:
        """The next `times` matching replies declare their length but stop halfway."""
        self._add_fault(_Fault(re.compile(path), "truncate", times))

    # -- serving ----------------------------------------------------------------------
    def _handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            fault = self._take_fault(request.path)
            if fault is not None and fault.kind != "truncate":
                return self._fault_reply(fault)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _json_reply(
                    {"error": "The access token is invalid"},
                    401,
                    {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token", '
                     'error_description="The access token is invalid"'},
                )
            reply = self._route(request)
            reply.headers = {**reply.headers, **self._rate_headers(RATE_LIMIT - 1)}
            if fault is not None:  # truncate: the real reply, cut off
                reply.send_bytes = len(reply.body) // 2
            return reply

    def _route(self, request: RecordedRequest) -> Reply:
        match = _API.fullmatch(request.path)
        rest = match["rest"] if match else ""
        if rest == "accounts/verify_credentials":
            return _json_reply(self.org)
        if rest.rstrip("/") == "conversations":
            return self._list_conversations(request)
        found = _ACCOUNT_STATUSES.fullmatch(rest)
        if found:
            return self._list_statuses(request, found["id"])
        found = _STATUS_PATH.fullmatch(rest)
        if found:
            status = self.statuses.get(found["id"])
            if status is None or not self._visible(status):
                return _json_reply(load_fixture("status_missing/01-get-statuses-0.json"), 404)
            if found["sub"] == "context":
                return _json_reply(self._context(status))
            if found["sub"] == "history":
                return _json_reply(self.histories.get(status["id"], []))
            return _json_reply(status)
        return _json_reply({"error": "Record not found"}, 404)

    def _list_statuses(self, request: RecordedRequest, account_id: str) -> Reply:
        own = [s for s in self.statuses.values() if s["account"]["id"] == account_id]
        page = self._paginate(own, request, lambda s: int(s["id"]))
        return _json_reply(page, headers=self._link(request, page, lambda s: s["id"]))

    def _list_conversations(self, request: RecordedRequest) -> Reply:
        listed = []
        for conversation in self.conversations.values():
            last = self.statuses.get(conversation.get("last_status_id") or "")
            if last is None:
                continue
            shown = {k: v for k, v in conversation.items() if k != "last_status_id"}
            shown["last_status"] = last
            listed.append(shown)
        page = self._paginate(listed, request, lambda c: int(c["last_status"]["id"]))
        return _json_reply(page, headers=self._link(request, page, lambda c: c["last_status"]["id"]))

    def _paginate(
        self, items: list[dict[str, Any]], request: RecordedRequest, key: Callable[[Any], int]
    ) -> list[dict[str, Any]]:
        """Mastodon's paginate_by_id: min_id pages upwards (then reversed), else downwards."""
        limit = self._limit(request)
        max_id, since_id, min_id = (request.param(n) for n in ("max_id", "since_id", "min_id"))
        below = [i for i in items if max_id is None or key(i) < int(max_id)]
        if min_id is not None:
            chosen = sorted((i for i in below if key(i) > int(min_id)), key=key)[:limit]
            return list(reversed(chosen))
        above = [i for i in below if since_id is None or key(i) > int(since_id)]
        return sorted(above, key=key, reverse=True)[:limit]

    def _link(
        self, request: RecordedRequest, page: list[dict[str, Any]], key: Callable[[Any], str]
    ) -> dict[str, str]:
        kept = [(k, v) for k, values in request.query.items() for v in values
                if k not in ("max_id", "since_id", "min_id")]
        base = self.server.url_for(request.path)
        links = []
        if page and len(page) == self._limit(request):
            links.append(f'<{base}?{urlencode([*kept, ("max_id", key(page[-1]))])}>; rel="next"')
        if page:
            links.append(f'<{base}?{urlencode([*kept, ("min_id", key(page[0]))])}>; rel="prev"')
        return {"Link": ", ".join(links)} if links else {}

    @staticmethod
    def _limit(request: RecordedRequest) -> int:
        raw = request.param("limit")
        return max(1, min(int(raw), MAX_LIMIT)) if raw else DEFAULT_LIMIT

    def _context(self, status: dict[str, Any]) -> dict[str, Any]:
        ancestors: list[dict[str, Any]] = []
        parent = self.statuses.get(status.get("in_reply_to_id") or "")
        while parent is not None:
            if self._visible(parent):
                ancestors.insert(0, parent)
            parent = self.statuses.get(parent.get("in_reply_to_id") or "")
        descendants: list[dict[str, Any]] = []

        def walk(of: str) -> None:
            children = [s for s in self.statuses.values() if s.get("in_reply_to_id") == of]
            for child in sorted(children, key=lambda s: int(s["id"])):
                if self._visible(child):
                    descendants.append(child)
                walk(child["id"])

        walk(status["id"])
        return {"ancestors": ancestors, "descendants": descendants}

    def _visible(self, status: dict[str, Any]) -> bool:
        """What the organisation may see: a DM only if it wrote it or is mentioned."""
        if status.get("visibility") != "direct":
            return True
        org = self.org["id"]
        return status["account"]["id"] == org or any(m["id"] == org for m in status["mentions"])

    def _serve_media(self, request: RecordedRequest) -> Reply:
        with self._lock:
            found = self.media.get(request.path)
        if found is None:
            return _json_reply({"error": "Record not found"}, 404)
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)

    # -- faults -----------------------------------------------------------------------
    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.path.fullmatch(path):
                fault.remaining -= 1
                return fault
        return None

    def _fault_reply(self, fault: _Fault) -> Reply:
        if fault.kind == "rate_limit":
            return _json_reply(
                {"error": "Too many requests"}, 429, self._rate_headers(0, fault.reset_in)
            )
        page = b"<html><body><h1>We're sorry, but something went wrong.</h1></body></html>"
        return Reply(fault.status, {"Content-Type": "text/html; charset=utf-8"}, page)

    def _rate_headers(self, remaining: int, reset_in: float = 300.0) -> dict[str, str]:
        reset = self.clock() + timedelta(seconds=reset_in)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    # -- building blocks --------------------------------------------------------------
    def _next_id(self) -> tuple[str, str]:
        """A snowflake id (milliseconds << 16, as Mastodon makes them) and its time."""
        self._ticks += 1
        moment = FIRST_NEW_STATUS_AT + timedelta(seconds=self._ticks)
        return str(int(moment.timestamp() * 1000) << 16), _iso(moment)

    @staticmethod
    def _with_mentions(content: str, mentions: list[dict[str, Any]]) -> str:
        """Lead the first paragraph with Mastodon's h-card markup for each mention the
        HTML does not link yet (what the server renders for "@user ...")."""
        cards = "".join(
            f'<span class="h-card"><a href="{m["url"]}" class="u-url mention">'
            f'@<span>{m["username"]}</span></a></span> '
            for m in mentions
            if m["url"] not in content
        )
        if not cards or not content.startswith("<p>"):
            return content
        return "<p>" + cards + content[len("<p>"):]

    @staticmethod
    def _mention(account: dict[str, Any]) -> dict[str, Any]:
        return {k: account[k] for k in ("id", "username", "url", "acct")}

    def _poll(self, options: Sequence[str]) -> dict[str, Any]:
        poll_id, _ = self._next_id()
        return {
            "id": poll_id[-6:],
            "expires_at": "2022-12-09T00:00:00.000Z",
            "expired": False,
            "multiple": False,
            "votes_count": 0,
            "voters_count": 0,
            "voted": True,
            "own_votes": [],
            "options": [{"title": title, "votes_count": 0} for title in options],
            "emojis": [],
        }

    @staticmethod
    def _snapshot(status: dict[str, Any], at: str) -> dict[str, Any]:
        """A history entry, shaped like the recorded ones (StatusEditSerializer)."""
        entry = {
            "content": status["content"],
            "spoiler_text": status["spoiler_text"],
            "sensitive": status["sensitive"],
            "created_at": at,
            "account": copy.deepcopy(status["account"]),
            "media_attachments": copy.deepcopy(status["media_attachments"]),
            "emojis": copy.deepcopy(status["emojis"]),
        }
        if status.get("poll"):
            entry["poll"] = {"options": [{"title": o["title"]} for o in status["poll"]["options"]]}
        return entry
