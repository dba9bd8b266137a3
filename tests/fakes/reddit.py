"""A fake Reddit OAuth API on FakeServer: one account's submissions, comments and private
messages as mutable state, served with Reddit's listing paging and rate-limit headers.

Things are built from payloads recorded by PRAW's test suite (tests/fixtures/reddit/,
see SOURCES.md): new submissions copy the recorded self post, new comments the recorded
edited comment, new messages the recorded reply from /message/sent, with ids, times,
author, recipient and text replaced.

Served (GET only; `Authorization: bearer <token>` required, 401 as Reddit words it):
  /user/<name>/submitted, /user/<name>/comments   sort=new, limit (default 25, max 100),
      after=/before= fullnames. after=X: the things after X; before=X: the `limit`
      things just newer than X (still newest first). An anchor not in the listing gives
      an empty page, as Reddit does. `after` in the answer names the last thing while
      older ones exist, `before` the first while newer ones exist.
  /api/info?id=t3_..,t1_..   the named things that exist (deleted ones as [deleted]);
      never messages, as on Reddit
  /message/inbox, /message/sent   the account's received / sent messages (t4), newest
      first, paged as above; the inbox also lists comment replies to the account (t1,
      was_comment true). Unless mark=false, reading the inbox marks its messages read
      (`new` false). 403 insufficient_scope without the privatemessages scope.
  /media/<file>              bytes given by the test (no auth, like i.redd.it)

Every API answer carries x-ratelimit-used / -remaining ("599.0", a float as Reddit
sends it) / -reset (seconds left in the 600 s window, from `clock`).

Scenario API: submit, comment, edit, delete (by the author: [deleted], gone from the
user's listings), remove (by moderators: [removed], still listed), purge (gone from
everything), attach_image, attach_gallery, send_message, receive_message,
reply_message, delete_message (gone from the account's inbox), throttle, rate_limit,
fail (server errors), truncate (real answers cut short). Text holding lone surrogates (bytes decoded with
errors="surrogateescape") goes on the wire as those bytes, so a test can serve invalid
UTF-8.
"""

from __future__ import annotations

import copy
import html
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reddit"
USERNAME = "archiver_test"
SUBREDDIT = "archiver_testing"
WINDOW = 600  # seconds: Reddit's rate-limit window
QUOTA = 1000  # requests per window (100 per minute averaged over ten minutes)
FIRST_CREATED = 1_700_000_000  # 2023-11-14T22:13:20Z
_USER_LISTING = re.compile(r"/user/(?P<name>[^/]+)/(?P<which>submitted|comments)/?")
_MESSAGE_LISTING = re.compile(r"/message/(?P<which>inbox|sent)/?")
ALL_SCOPES = frozenset({"history", "read", "privatemessages"})
_LINK_FIELDS = ("link_title", "link_author", "link_permalink", "link_url", "num_comments",
                "over_18")


def load_fixture(name: str) -> Any:
    """The recorded response body of one fixture file."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["response"]["json"]


def _thing_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", errors="surrogateescape")
    return Reply(status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
                 body)


@dataclass
class _Fault:
    path: re.Pattern[str]
    kind: str  # "error" | "truncate"
    remaining: int
    status: int = 500


class FakeReddit:
    def __init__(
        self,
        server: FakeServer,
        token: str,
        *,
        username: str = USERNAME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        scopes: frozenset[str] = ALL_SCOPES,
    ) -> None:
        self.server = server
        self.token = token
        self.username = username
        self.clock = clock
        self.scopes = scopes
        self._lock = threading.RLock()
        self._ticks = 0
        self.things: dict[str, dict[str, Any]] = {}
        self.unlisted: set[str] = set()  # deleted by the author: not in the user's listings
        self.messages: dict[str, dict[str, Any]] = {}  # t4s: never in /api/info
        self.inbox_replies: dict[str, dict[str, Any]] = {}  # t1s shown in the inbox
        self.deleted_messages: set[str] = set()  # deleted from the account's inbox
        self.media: dict[str, tuple[bytes, str]] = {}
        self._window_start: datetime | None = None
        self._used = 0
        self._throttled: list[tuple[int, float]] = []  # (remaining, reset) for next replies
        self._limited: list[float] = []  # 429s to send, with their reset
        self._faults: list[_Fault] = []
        recorded = load_fixture("submission_self.json")[0]["data"]["children"][0]["data"]
        self._submission_template = recorded
        edited = load_fixture("comment_edited.json")["json"]["data"]["things"][0]["data"]
        self._comment_template = edited
        sent = load_fixture("message_sent.json")["data"]["children"]
        self._message_template = next(c["data"] for c in sent if c["data"]["parent_id"])
        self._next36 = {"t3": int("52o2fl", 36), "t1": int("d1616q2", 36),
                        "t4": int("4h2ej0", 36)}
        server.add("GET", re.compile(r"/(user|api|message)/.*"), self._handle)
        server.add("GET", re.compile(r"/media/.*"), self._serve_media)

    # -- scenario API -----------------------------------------------------------------
    def submit(
        self, title: str = "hello", selftext: str = "", *, link_url: str | None = None
    ) -> dict[str, Any]:
        """A submission by the account (a self post unless `link_url`); returns it."""
        with self._lock:
            thing_id, created = self._next("t3")
            thing = copy.deepcopy(self._submission_template)
            slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:40] or "post"
            permalink = f"/r/{SUBREDDIT}/comments/{thing_id}/{slug}/"
            thing.update(
                id=thing_id,
                name=f"t3_{thing_id}",
                author=self.username,
                title=title,
                selftext=selftext if link_url is None else "",
                selftext_html=None,
                is_self=link_url is None,
                url=link_url or f"https://www.reddit.com{permalink}",
                domain=f"self.{SUBREDDIT}" if link_url is None else "example.com",
                permalink=permalink,
                subreddit=SUBREDDIT,
                subreddit_id="t5_archtst",
                created=float(created),
                created_utc=float(created),
                num_comments=0,
                edited=False,
                removed_by_category=None,
            )
            self.things[thing["name"]] = thing
            return thing

    def comment(
        self, parent: str, body: str = "a comment", *, author: str | None = None
    ) -> dict[str, Any]:
        """A comment answering `parent` (a t3 or t1 fullname), by the account unless
        `author` is someone else: then it answers the account in its inbox."""
        with self._lock:
            thing_id, created = self._next("t1")
            parent_thing = self.things[parent]
            link = parent if parent.startswith("t3_") else parent_thing["link_id"]
            submission = self.things[link]
            thing = copy.deepcopy(self._comment_template)
            thing.update(
                id=thing_id,
                name=f"t1_{thing_id}",
                author=author or self.username,
                body=body,
                body_html=None,
                edited=False,
                parent_id=parent,
                link_id=link,
                subreddit=SUBREDDIT,
                subreddit_id="t5_archtst",
                permalink=f"{submission['permalink']}{thing_id}/",
                created=float(created),
                created_utc=float(created),
                likes=None,
            )
            submission["num_comments"] += 1
            self.things[thing["name"]] = thing
            if author and author != self.username:
                self.inbox_replies[thing["name"]] = self._inbox_reply(thing, parent_thing)
            return thing

    def send_message(self, to: str, subject: str, body: str) -> dict[str, Any]:
        """The account starts a conversation with `to` (a username, or "#subreddit" to
        write to a subreddit's moderators)."""
        return self._message(self.username, to, subject, body)

    def receive_message(self, sender: str, subject: str, body: str) -> dict[str, Any]:
        """Someone starts a conversation with the account."""
        return self._message(sender, self.username, subject, body)

    def reply_message(self, parent: str, body: str) -> dict[str, Any]:
        """The recipient of `parent` answers it, in its thread."""
        with self._lock:
            before = self.messages[parent]
            root = before["first_message_name"] or parent
            subject = self.messages[root]["subject"]
            return self._message(before["dest"], before["author"], f"re: {subject}", body,
                                 parent=parent, root=root)

    def delete_message(self, name: str) -> None:
        """The account deletes a message from its inbox (POST /api/del_msg)."""
        with self._lock:
            self.deleted_messages.add(name)

    def edit(self, name: str, text: str) -> dict[str, Any]:
        """The author edits the text: Reddit sets `edited` to the edit's epoch float."""
        with self._lock:
            thing = self.things[name]
            thing["selftext" if name.startswith("t3_") else "body"] = text
            _, moment = self._next(None)
            thing["edited"] = float(moment) + 0.5  # Reddit's floats are not whole
            return thing

    def delete(self, name: str) -> None:
        """The author deletes it: text and author become [deleted], listings drop it."""
        with self._lock:
            thing = self.things[name]
            thing["author"] = "[deleted]"
            thing["selftext" if name.startswith("t3_") else "body"] = "[deleted]"
            if name.startswith("t3_"):
                thing["removed_by_category"] = "deleted"
            self.unlisted.add(name)

    def remove(self, name: str) -> None:
        """A moderator removes it: the text becomes [removed]; it stays listed."""
        with self._lock:
            thing = self.things[name]
            thing["selftext" if name.startswith("t3_") else "body"] = "[removed]"
            if name.startswith("t3_"):
                thing["removed_by_category"] = "moderator"

    def purge(self, name: str) -> None:
        """Gone from everything, /api/info included (e.g. a suspended subreddit)."""
        with self._lock:
            self.things.pop(name, None)
            self.unlisted.discard(name)

    def attach_image(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Make a submission an image post whose file this server serves; returns its URL."""
        with self._lock:
            file_name = f"/media/{name}.{content_type.rsplit('/', 1)[-1]}"
            self.media[file_name] = (data, content_type)
            url = self.server.url_for(file_name)
            self.things[name].update(
                post_hint="image", url=url, url_overridden_by_dest=url, is_self=False,
                domain="i.redd.it", selftext="",
            )
            return url

    def attach_gallery(self, name: str, images: list[bytes]) -> list[str]:
        """A gallery post; its media_metadata URLs carry a signature query, as Reddit's do."""
        with self._lock:
            thing = self.things[name]
            items, metadata, urls = [], {}, []
            for index, data in enumerate(images):
                media_id = f"g{name[3:]}x{index}"
                path = f"/media/{media_id}.jpg"
                self.media[path] = (data, "image/jpeg")
                url = f"{self.server.url_for(path)}?width=640&format=pjpg&auto=webp&s=sig{index}"
                urls.append(url)
                items.append({"media_id": media_id, "id": 1000 + index,
                              "caption": f"picture {index}"})
                metadata[media_id] = {"status": "valid", "e": "Image", "m": "image/jpg",
                                      "id": media_id, "s": {"y": 48, "x": 64, "u": url}}
            thing.update(is_gallery=True, gallery_data={"items": items},
                         media_metadata=metadata, is_self=False, selftext="")
            return urls

    def throttle(self, remaining: int, reset_in: float, times: int = 1) -> None:
        """The next `times` answers report `remaining` requests and `reset_in` seconds."""
        with self._lock:
            self._throttled.extend([(remaining, reset_in)] * times)

    def rate_limit(self, times: int = 1, reset_in: float = 60.0) -> None:
        """The next `times` requests get 429 with remaining 0 and the reset."""
        with self._lock:
            self._limited.extend([reset_in] * times)

    def fail(self, times: int, *, status: int = 500, path: str = r"/(user|api)/.*") -> None:
        """The next `times` matching API requests get `status` with Reddit's error page."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "error", times, status))

    def truncate(self, times: int = 1, *, path: str = r"/(user|api)/.*") -> None:
        """The next `times` matching replies declare their full length but stop halfway."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "truncate", times))

    def mailbox(self, which: str) -> list[dict[str, Any]]:
        """/message/inbox or /message/sent as Reddit shows it, newest first."""
        with self._lock:
            if which == "sent":
                shown = [m for m in self.messages.values() if m["author"] == self.username]
            else:
                shown = [m for n, m in self.messages.items()
                         if m["dest"] == self.username and n not in self.deleted_messages]
                shown += list(self.inbox_replies.values())
            return sorted(shown, key=lambda t: t["created_utc"], reverse=True)

    def listed(self, which: str) -> list[dict[str, Any]]:
        """The user's listing (`submitted` or `comments`) as Reddit shows it, newest first."""
        prefix = "t3_" if which == "submitted" else "t1_"
        with self._lock:
            own = [
                t for n, t in self.things.items()
                if n.startswith(prefix) and n not in self.unlisted
                and t["author"] in (self.username, "[deleted]")
            ]
            return sorted(own, key=lambda t: int(t["id"], 36), reverse=True)

    # -- serving ----------------------------------------------------------------------
    def _handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._limited:
                reset = self._limited.pop(0)
                return _thing_reply(
                    {"message": "Too Many Requests", "error": 429}, 429,
                    self._rate_headers(0, reset),
                )
            scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or value != self.token:
                return _thing_reply({"message": "Unauthorized", "error": 401}, 401,
                                    {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'})
            fault = self._take_fault(request.path)
            if fault is not None and fault.kind == "error":
                page = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
                return Reply(fault.status, {"Content-Type": "text/html; charset=UTF-8"}, page)
            reply = self._route(request)
            remaining, reset = self._next_rate()
            reply.headers = {**reply.headers, **self._rate_headers(remaining, reset)}
            if fault is not None:  # truncate: the real reply, cut off
                reply.send_bytes = len(reply.body) // 2
            return reply

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.path.fullmatch(path):
                fault.remaining -= 1
                return fault
        return None

    def _route(self, request: RecordedRequest) -> Reply:
        found = _USER_LISTING.fullmatch(request.path)
        if found:
            if found["name"].lower() != self.username.lower():
                return _thing_reply({"message": "Forbidden", "error": 403}, 403)
            return self._user_listing(request, found["which"])
        found = _MESSAGE_LISTING.fullmatch(request.path)
        if found:
            if "privatemessages" not in self.scopes:
                return _thing_reply(
                    {"message": "Forbidden", "error": 403}, 403,
                    {"www-authenticate": 'Bearer realm="reddit", error="insufficient_scope"'},
                )
            return self._mailbox_listing(request, found["which"])
        if request.path.rstrip("/") == "/api/info":
            names = [n for n in (request.param("id") or "").split(",") if n]
            things = [self._for_info(self.things[n]) for n in names if n in self.things]
            return _thing_reply(_listing(things, None, None))
        return _thing_reply({"message": "Not Found", "error": 404}, 404)

    def _user_listing(self, request: RecordedRequest, which: str) -> Reply:
        if which == "comments":
            return self._paged(request, self.listed(which), self._for_comment_listing)
        return self._paged(request, self.listed(which))

    def _mailbox_listing(self, request: RecordedRequest, which: str) -> Reply:
        things = self.mailbox(which)
        reply = self._paged(request, things)
        if which == "inbox" and request.param("mark") != "false":
            for thing in things:  # Reddit marks what it showed as read (after showing it)
                thing["new"] = False
        return reply

    def _paged(
        self, request: RecordedRequest, things: list[dict[str, Any]],
        shown: Callable[[dict[str, Any]], dict[str, Any]] = copy.deepcopy,
    ) -> Reply:
        """One page of a listing (newest first) by limit and after=/before= fullnames."""
        names = [t["name"] for t in things]
        raw_limit = request.param("limit")
        limit = max(1, min(int(raw_limit), 100)) if raw_limit else 25
        after, before = request.param("after"), request.param("before")
        if after:
            if after not in names:
                return _thing_reply(_listing([], None, None))
            start = names.index(after) + 1
            page = things[start : start + limit]
        elif before:
            if before not in names:
                return _thing_reply(_listing([], None, None))
            end = names.index(before)
            start = max(0, end - limit)
            page = things[start:end]
        else:
            start = 0
            page = things[:limit]
        last = start + len(page) - 1
        after_out = page[-1]["name"] if page and last < len(things) - 1 else None
        before_out = page[0]["name"] if page and start > 0 else None
        return _thing_reply(_listing([shown(t) for t in page], after_out, before_out))

    def _for_comment_listing(self, thing: dict[str, Any]) -> dict[str, Any]:
        """A user's comment listing adds the submission's title, author and permalink."""
        shown = copy.deepcopy(thing)
        link = self.things.get(thing["link_id"]) or {}
        shown.update(
            link_title=link.get("title"), link_author=link.get("author"),
            link_permalink=f"https://www.reddit.com{link.get('permalink', '')}",
            link_url=link.get("url"), num_comments=link.get("num_comments"),
            over_18=bool(link.get("over_18")),
        )
        return shown

    def _message(
        self, author: str, dest: str, subject: str, body: str,
        *, parent: str | None = None, root: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            thing_id, created = self._next("t4")
            message = copy.deepcopy(self._message_template)
            message.update(
                id=thing_id,
                name=f"t4_{thing_id}",
                author=author,
                dest=dest,
                subject=subject,
                body=body,
                body_html=_markdown_html(body),
                subreddit=dest[1:] if dest.startswith("#") else None,
                parent_id=parent,
                first_message=int(root[3:], 36) if root else None,
                first_message_name=root,
                created=float(created),
                created_utc=float(created),
                new=dest == self.username,
                distinguished=None,
            )
            self.messages[message["name"]] = message
            return message

    def _inbox_reply(self, comment: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
        """How the inbox lists a comment answering the account: the comment's fields
        with a message's (was_comment, subject, dest, context, new)."""
        link = self.things[comment["link_id"]]
        return {
            "first_message": None, "first_message_name": None,
            "subreddit": comment["subreddit"], "likes": None, "replies": "",
            "id": comment["id"], "subject": "post reply" if parent is link else "comment reply",
            "was_comment": True, "score": 1, "author": comment["author"],
            "num_comments": link["num_comments"], "parent_id": comment["parent_id"],
            "subreddit_name_prefixed": f"r/{comment['subreddit']}", "new": True,
            "type": "post_reply" if parent is link else "comment_reply",
            "body": comment["body"], "link_title": link["title"], "dest": self.username,
            "body_html": _markdown_html(comment["body"]), "name": comment["name"],
            "created": comment["created"], "created_utc": comment["created_utc"],
            "context": f"{comment['permalink']}?context=3", "distinguished": None,
        }

    @staticmethod
    def _for_info(thing: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in copy.deepcopy(thing).items()
                if k not in _LINK_FIELDS or thing["name"].startswith("t3_")}

    def _serve_media(self, request: RecordedRequest) -> Reply:
        with self._lock:
            found = self.media.get(request.path)
        if found is None:
            return _thing_reply({"message": "Not Found", "error": 404}, 404)
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)

    # -- rate limits ------------------------------------------------------------------
    def _next_rate(self) -> tuple[int, float]:
        now = self.clock()
        if self._window_start is None or (now - self._window_start).total_seconds() >= WINDOW:
            self._window_start, self._used = now, 0
        self._used += 1
        if self._throttled:
            return self._throttled.pop(0)
        elapsed = (now - self._window_start).total_seconds()
        return QUOTA - self._used, WINDOW - elapsed

    def _rate_headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-ratelimit-used": str(self._used),
            "x-ratelimit-remaining": f"{float(remaining):.1f}",
            "x-ratelimit-reset": str(int(reset)),
        }

    # -- building blocks --------------------------------------------------------------
    def _next(self, prefix: str | None) -> tuple[str, int]:
        """The next base-36 id of that type (Reddit allots them in order) and a time."""
        self._ticks += 1
        thing_id = ""
        if prefix is not None:
            self._next36[prefix] += 1
            thing_id = _base36(self._next36[prefix])
        return thing_id, FIRST_CREATED + self._ticks * 60


def _listing(things: list[dict[str, Any]], after: str | None, before: str | None
             ) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": after, "dist": len(things), "modhash": "", "geo_filter": "",
            "children": [{"kind": t["name"][:2], "data": t} for t in things],
            "before": before,
        },
    }


def _markdown_html(text: str) -> str:
    """body_html as Reddit renders one plain paragraph (see message_sent.json)."""
    return f'<!-- SC_OFF --><div class="md"><p>{html.escape(text)}</p>\n</div><!-- SC_ON -->'


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"
