"""A fake X API v2 on FakeServer, serving real recorded payloads as mutable state.

Starting state (see tests/fixtures/x_api_v2/SOURCES.md and x_archive/SOURCES.md):
  - the organisation is @darkliquid (15942882), whose 28 real archive tweets
    (tests/fixtures/x_archive/tweets.js) are served converted to the v2 shape;
  - @wongmjane's recorded edit chain (edited.jsonl: two versions, the original with a
    photo), @IgorBrigadir's recorded video post (media_tweet.jsonl) and @Twitter's two
    recorded timeline posts (tweepy's cassette), verbatim apart from media URLs, which
    point at this server;
  - the users named in those payloads (mentioned users keep their real ids and names).

Served (GET, "Authorization: Bearer <token>" required, X's 401 problem otherwise):
  /2/users/me                     403 unsupported-authentication unless user_context
  /2/users/by/username/:username
  /2/users/:id/tweets             max_results 5-100, pagination_token, since_id, until_id
  /2/tweets?ids=...               up to 100 ids; gone ids as resource-not-found problems
  /2/tweets/:id
  /2/tweets/search/recent         query = conversation_id:N [OR conversation_id:M ...];
                                  only posts from the last 7 days (by the fake's clock)
  /2/dm_events                    user context only; the last 30 days; newest first
  /media/...                      bytes given by the test (no auth, like a CDN)
Fields and expansions behave as X documents them: only default fields unless
tweet.fields / user.fields / media.fields / dm_event.fields ask for more; includes
only for the expansions asked for (edit history, referenced tweets, authors, media),
and a resource-not-found problem for a deleted referenced post. Every reply carries
x-rate-limit-limit/-remaining/-reset (Unix seconds) counted per endpoint per 15 minutes.

Scenario API: post, reply, retweet, edit, delete, protect, add_dm, set_edits_remaining,
rate_limit, fail, truncate. Ids are snowflakes of the fake clock's time, so they sort by time.
"""

from __future__ import annotations

import copy
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from tests.fakes.server import FakeServer, RecordedRequest, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
API_FIXTURES = FIXTURES / "x_api_v2"
ARCHIVE_FIXTURES = FIXTURES / "x_archive"
RECORDED_MEDIA_HOSTS = ("https://pbs.twimg.com", "https://video.twimg.com")

ORG_ID = "15942882"
ORG_USERNAME = "darkliquid"
FRIEND_ID = "1106739631557472256"  # @KissItBett3r, mentioned in the archive
WONG_ID = "337119125"
IGOR_ID = "495430242"
TWITTER_ID = "783214"
EDIT_CHAIN = ("1576994746135764992", "1576994789110992896")
VIDEO_ID = "1558553189766631429"
PHOTO_ID = "1541752634348019715"  # darkliquid's "@symatt Monocycle" with a photo
PHOTO_FILE = "FWVnxzyWIAIEZU3.png"
RETWEET_ID = "1584110055259279360"
RETWEETED_ID = "1584080000000000000"  # constructed: the archive does not name it
TWEEPY_IDS = ("1577730467436138524", "1565318587736285184")

TWITTER_EPOCH_MS = 1288834974657
PROBLEMS = "https://api.twitter.com/2/problems/"
DEFAULT_FIELDS = {
    "tweet": {"id", "text", "edit_history_tweet_ids"},
    "user": {"id", "name", "username"},
    "media": {"media_key", "type"},
    "dm_event": {"id", "event_type", "text"},
}
QUOTAS = {"timeline": 1500, "lookup": 900, "search": 450, "dm": 300, "users": 900}
QUOTA_WINDOW = timedelta(minutes=15)
SEARCH_DAYS = 7
DM_DAYS = 30


def load_jsonl(name: str) -> dict[str, Any]:
    """A twarc JSONL fixture (one response per line; ours hold one)."""
    return json.loads((API_FIXTURES / name).read_text("utf-8").splitlines()[0])


def load_cassette(relative: str) -> dict[str, Any]:
    return json.loads((API_FIXTURES / relative).read_text("utf-8"))


def load_archive_js(name: str) -> Any:
    text = (ARCHIVE_FIXTURES / name).read_text("utf-8")
    return json.loads(text[text.index("=") + 1 :].strip().rstrip(";"))


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def snowflake(moment: datetime, sequence: int = 0) -> int:
    return ((int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22) | (sequence & 0xFFF)


def snowflake_moment(tweet_id: str) -> datetime:
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) / 1000, UTC)


def iso(moment: datetime) -> str:
    """X's timestamps: whole seconds, ".000Z"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def problem(kind: str, title: str, detail: str, status: int, **extra: Any) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": PROBLEMS + kind, "status": status, **extra}


def not_found_error(tweet_id: str, parameter: str) -> dict[str, Any]:
    """X's problem for a post that is gone (as GET /2/tweets answers it, inside a 200)."""
    return {
        "value": tweet_id,
        "detail": f"Could not find tweet with {parameter}: [{tweet_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": parameter,
        "resource_id": tweet_id,
        "type": PROBLEMS + "resource-not-found",
    }


def not_authorized_error(tweet_id: str, parameter: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Sorry, you are not authorized to see the Tweet with {parameter}: [{tweet_id}].",
        "title": "Authorization Error",
        "resource_type": "tweet",
        "parameter": parameter,
        "resource_id": tweet_id,
        "type": PROBLEMS + "not-authorized-for-resource",
    }


def _json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", errors="surrogateescape")
    merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return Reply(status, merged, body)


@dataclass
class _Fault:
    path: re.Pattern[str]
    kind: str  # "rate_limit" | "error" | "truncate"
    remaining: int
    status: int = 503
    reset_in: float = 60.0


class FakeX:
    """X's API v2 for one organisation account (and the users around it), over real HTTP."""

    def __init__(
        self,
        server: FakeServer,
        token: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        user_context: bool = True,
    ) -> None:
        self.server = server
        self.token = token
        self.clock = clock
        self.user_context = user_context  # False: an app-only bearer token
        self.not_found_status = 200  # 404: lookups of gone posts answer HTTP 404 instead
        self._lock = threading.RLock()
        self._last_id = 0
        self._faults: list[_Fault] = []
        self._quota: dict[str, tuple[datetime, int]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, dict[str, Any]] = {}  # every version of every post
        self.media: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.dm_events: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.protected: set[str] = set()
        self._load_archive_tweets()
        self._load_recorded()
        server.add("*", re.compile(r"/2/.*"), self._handle)
        server.add("GET", re.compile(r"/media/.+"), self._serve_media)

    # -- starting state -------------------------------------------------------------------
    def _load_archive_tweets(self) -> None:
        manifest = load_archive_js("manifest.js")
        info = manifest["userInfo"]
        self.users[ORG_ID] = {
            "id": info["accountId"], "name": info["displayName"], "username": info["userName"],
        }
        entries = [entry["tweet"] for entry in load_archive_js("tweets.js")]
        for entry in entries:
            for mention in entry["entities"].get("user_mentions") or []:
                self.users.setdefault(mention["id_str"], {
                    "id": mention["id_str"], "name": mention["name"],
                    "username": mention["screen_name"],
                })
        retweeter = "30144512"  # @boondaburrah, named in the retweet's mentions
        self.tweets[RETWEETED_ID] = {
            "id": RETWEETED_ID,
            "text": "@bengl3rt @Kanaratron @jf ah, I see someone has discovered @foone's "
                    "https://t.co/rYezv5wzUB",
            "author_id": retweeter,
            "created_at": iso(snowflake_moment(RETWEETED_ID)),
            "conversation_id": RETWEETED_ID,
            "edit_history_tweet_ids": [RETWEETED_ID],
            "lang": "en",
        }
        for entry in sorted(entries, key=lambda e: int(e["id_str"])):
            tweet = self._from_archive(entry)
            self.tweets[tweet["id"]] = tweet

    def _from_archive(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The v2 object X serves for an archive entry (constructed: see SOURCES.md)."""
        tweet_id = entry["id_str"]
        created = datetime.strptime(entry["created_at"], "%a %b %d %H:%M:%S %z %Y")
        source = re.sub(r"<[^>]+>", "", entry.get("source") or "")
        controls = entry["edit_info"]["initial"]
        tweet: dict[str, Any] = {
            "id": tweet_id,
            "text": entry["full_text"],
            "author_id": ORG_ID,
            "created_at": iso(created),
            "conversation_id": tweet_id,
            "edit_history_tweet_ids": list(controls["editTweetIds"]),
            "edit_controls": {
                "edits_remaining": int(controls["editsRemaining"]),
                "is_edit_eligible": controls["isEditEligible"],
                "editable_until": controls["editableUntil"],
            },
            "lang": entry["lang"],
            "possibly_sensitive": bool(entry.get("possibly_sensitive", False)),
            "public_metrics": {
                "retweet_count": int(entry["retweet_count"]), "reply_count": 0,
                "like_count": int(entry["favorite_count"]), "quote_count": 0,
            },
            "reply_settings": "everyone",
            "source": source,
        }
        entities: dict[str, list[dict[str, Any]]] = {}
        for tag in entry["entities"].get("hashtags") or []:
            start, end = (int(i) for i in tag["indices"])
            entities.setdefault("hashtags", []).append({"start": start, "end": end, "tag": tag["text"]})
        for mention in entry["entities"].get("user_mentions") or []:
            start, end = (int(i) for i in mention["indices"])
            entities.setdefault("mentions", []).append({
                "start": start, "end": end, "username": mention["screen_name"],
                "id": mention["id_str"],
            })
        for url in entry["entities"].get("urls") or []:
            start, end = (int(i) for i in url["indices"])
            entities.setdefault("urls", []).append({
                "start": start, "end": end, "url": url["url"],
                "expanded_url": url["expanded_url"], "display_url": url["display_url"],
            })
        keys = []
        for media in (entry.get("extended_entities") or {}).get("media") or []:
            key = f"3_{media['id_str']}"
            keys.append(key)
            start, end = (int(i) for i in media["indices"])
            entities.setdefault("urls", []).append({
                "start": start, "end": end, "url": media["url"],
                "expanded_url": media["expanded_url"], "display_url": media["display_url"],
                "media_key": key,
            })
            name = media["media_url_https"].rsplit("/", 1)[-1]
            large = media["sizes"]["large"]
            self.media[key] = {
                "media_key": key, "type": media["type"],
                "url": self.server.url_for(f"/media/{name}"),
                "width": int(large["w"]), "height": int(large["h"]),
            }
            self.files[f"/media/{name}"] = (png(), "image/png")
        if keys:
            tweet["attachments"] = {"media_keys": keys}
        if entities:
            tweet["entities"] = entities
        parent = entry.get("in_reply_to_status_id_str")
        if parent:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent}]
            tweet["in_reply_to_user_id"] = entry["in_reply_to_user_id_str"]
            known = self.tweets.get(parent)
            tweet["conversation_id"] = known["conversation_id"] if known else parent
        if entry["full_text"].startswith("RT @"):
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": RETWEETED_ID}]
        return tweet

    def _load_recorded(self) -> None:
        for name in ("edited.jsonl", "media_tweet.jsonl"):
            recorded = load_jsonl(name)
            for user in recorded["includes"]["users"]:
                self.users[user["id"]] = user
            for tweet in recorded["includes"]["tweets"] + recorded["data"]:
                self.tweets[tweet["id"]] = copy.deepcopy(tweet)
            for media in recorded["includes"].get("media") or []:
                media = self._local_media(media)
                self.media[media["media_key"]] = media
        # The edit chain's original has a photo the recording did not expand (constructed).
        key = self.tweets[EDIT_CHAIN[0]]["attachments"]["media_keys"][0]
        self.media[key] = {
            "media_key": key, "type": "photo",
            "url": self.server.url_for(f"/media/{key}.png"), "width": 64, "height": 48,
        }
        self.files[f"/media/{key}.png"] = (png(colour=(200, 120, 0)), "image/png")
        page = load_cassette("client_get_users_tweets/01-get-users-id-tweets.json")
        self.users[TWITTER_ID] = {"id": TWITTER_ID, "name": "Twitter", "username": "Twitter"}
        for tweet in page["response"]["json"]["data"]:
            stored = copy.deepcopy(tweet)
            stored.update(  # fields tweepy did not ask for, from the id (constructed)
                author_id=TWITTER_ID, conversation_id=tweet["id"],
                created_at=iso(snowflake_moment(tweet["id"])),
            )
            self.tweets[tweet["id"]] = stored

    def _local_media(self, media: dict[str, Any]) -> dict[str, Any]:
        """Recorded media with its URLs moved onto this server (same paths), and bytes."""
        text = json.dumps(media)
        for host in RECORDED_MEDIA_HOSTS:
            text = text.replace(host, self.server.url)
        local = json.loads(text)
        for field in ("url", "preview_image_url"):
            if local.get(field):
                self._file_for(local[field])
        for variant in local.get("variants") or []:
            self._file_for(variant["url"])
        return local

    def _file_for(self, url: str) -> None:
        path = url.removeprefix(self.server.url).split("?", 1)[0]
        if path.endswith((".jpg", ".png")):
            self.files[path] = (png(colour=(10, 160, 60)), "image/png")
        else:
            self.files[path] = (b"\x00\x00\x00\x18ftypmp42" + path.encode(), "video/mp4")

    # -- scenario API -------------------------------------------------------------------
    def org_posts(self) -> list[dict[str, Any]]:
        """The organisation's timeline as X lists it (latest versions, newest first)."""
        with self._lock:
            return self._timeline(ORG_ID)

    def post(
        self,
        text: str,
        *,
        author: str = ORG_ID,
        reply_to: str | None = None,
        quote: str | None = None,
        photos: Sequence[tuple[bytes, str | None]] = (),
        lang: str = "en",
        at: datetime | None = None,
    ) -> str:
        """A new post (or reply, or quote) by `author`, created now by the fake clock;
        `photos` are (PNG bytes, alt text) served under /media/. Returns its id."""
        with self._lock:
            tweet_id = self._next_id(at)
            tweet: dict[str, Any] = {
                "id": tweet_id,
                "text": text,
                "author_id": author,
                "created_at": iso(snowflake_moment(tweet_id)),
                "conversation_id": tweet_id,
                "edit_history_tweet_ids": [tweet_id],
                "edit_controls": {
                    "edits_remaining": 5, "is_edit_eligible": True,
                    "editable_until": iso(snowflake_moment(tweet_id) + timedelta(hours=1)),
                },
                "lang": lang,
                "possibly_sensitive": False,
                "public_metrics": {
                    "retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0,
                },
                "reply_settings": "everyone",
                "source": "Twitter Web App",
            }
            entities = self._entities(text)
            references = []
            if reply_to is not None:
                parent = self.tweets[reply_to]
                references.append({"type": "replied_to", "id": reply_to})
                tweet["in_reply_to_user_id"] = parent["author_id"]
                tweet["conversation_id"] = parent["conversation_id"]
            if quote is not None:
                references.append({"type": "quoted", "id": quote})
                quoted = self.tweets[quote]
                author_name = self.users[quoted["author_id"]]["username"]
                short = f"https://t.co/q{tweet_id[-8:]}"
                tweet["text"] = f"{text} {short}"
                entities.setdefault("urls", []).append({
                    "start": len(text) + 1, "end": len(text) + 1 + len(short), "url": short,
                    "expanded_url": f"https://twitter.com/{author_name}/status/{quote}",
                    "display_url": f"twitter.com/{author_name}/status/{quote[:4]}…",
                })
            if references:
                tweet["referenced_tweets"] = references
            keys = []
            for index, (data, alt) in enumerate(photos):
                media_id = str(int(tweet_id) - 1 - index)
                key = f"3_{media_id}"
                path = f"/media/{media_id}.png"
                self.files[path] = (data, "image/png")
                self.media[key] = {
                    "media_key": key, "type": "photo", "url": self.server.url_for(path),
                    "width": 64, "height": 48, **({"alt_text": alt} if alt else {}),
                }
                keys.append(key)
            if keys:
                tweet["attachments"] = {"media_keys": keys}
            if entities:
                tweet["entities"] = entities
            self.tweets[tweet_id] = tweet
            return tweet_id

    def reply(self, to: str, text: str, *, author: str = FRIEND_ID, at: datetime | None = None
              ) -> str:
        """Someone (default @KissItBett3r) replies to post `to`."""
        with self._lock:
            username = self.users[self.tweets[to]["author_id"]]["username"]
            return self.post(f"@{username} {text}", author=author, reply_to=to, at=at)

    def retweet(self, tweet_id: str) -> str:
        with self._lock:
            original = self.tweets[tweet_id]
            username = self.users[original["author_id"]]["username"]
            new_id = self.post(f"RT @{username}: {original['text']}")
            retweet = self.tweets[new_id]
            retweet["referenced_tweets"] = [{"type": "retweeted", "id": tweet_id}]
            retweet["entities"] = {"mentions": [{
                "start": 3, "end": 4 + len(username), "username": username,
                "id": original["author_id"],
            }]}
            return new_id

    def edit(self, tweet_id: str, text: str) -> str:
        """Edit the post whose latest version is `tweet_id` as X does: a new id with the
        new text, appended to every version's edit_history_tweet_ids; edits_remaining
        goes down by one (keeping its JSON type: X has sent both "4" and 4)."""
        with self._lock:
            current = self.tweets[tweet_id]
            new_id = self._next_id()
            edited = copy.deepcopy(current)
            chain = [*current["edit_history_tweet_ids"], new_id]
            edited.update(id=new_id, text=text, created_at=iso(snowflake_moment(new_id)))
            if "referenced_tweets" not in current or all(
                r["type"] != "replied_to" for r in current["referenced_tweets"]
            ):
                edited["conversation_id"] = new_id  # as in the recorded edit
            entities = self._entities(text)
            edited.pop("entities", None)
            if entities:
                edited["entities"] = entities
            controls = edited.get("edit_controls")
            if controls:
                remaining = int(controls["edits_remaining"]) - 1
                was_text = isinstance(controls["edits_remaining"], str)
                controls["edits_remaining"] = str(remaining) if was_text else remaining
            self.tweets[new_id] = edited
            for version in chain:
                self.tweets[version]["edit_history_tweet_ids"] = list(chain)
            return new_id

    def delete(self, tweet_id: str) -> None:
        """Gone with every version: out of listings, a problem in lookups."""
        with self._lock:
            self.deleted.update(self.tweets[tweet_id]["edit_history_tweet_ids"])

    def protect(self, tweet_id: str) -> None:
        """Lookups answer not-authorized-for-resource (its author went private)."""
        with self._lock:
            self.protected.update(self.tweets[tweet_id]["edit_history_tweet_ids"])

    def set_edits_remaining(self, tweet_id: str, value: int | str) -> None:
        with self._lock:
            for version in self.tweets[tweet_id]["edit_history_tweet_ids"]:
                self.tweets[version].setdefault("edit_controls", {})["edits_remaining"] = value

    def add_dm(
        self,
        text: str,
        *,
        sender: str = FRIEND_ID,
        recipient: str | None = None,
        photo: bytes | None = None,
        at: datetime | None = None,
    ) -> str:
        """A one-to-one DM between the organisation and `sender`/`recipient`."""
        with self._lock:
            other = recipient if sender == ORG_ID else sender
            assert other is not None, "a DM from the organisation needs a recipient"
            low, high = sorted((ORG_ID, other), key=int)
            event_id = self._next_id(at)
            event: dict[str, Any] = {
                "id": event_id,
                "text": text,
                "event_type": "MessageCreate",
                "dm_conversation_id": f"{low}-{high}",
                "created_at": iso(snowflake_moment(event_id)),
                "sender_id": sender,
            }
            if photo is not None:
                media_id = str(int(event_id) - 1)
                key = f"3_{media_id}"
                path = f"/media/dm/{event_id}/{media_id}/photo.png"
                self.files[path] = (photo, "image/png")
                self.media[key] = {"media_key": key, "type": "photo",
                                   "url": self.server.url_for(path)}
                event["attachments"] = {"media_keys": [key]}
                event["text"] = f"{text} https://t.co/dm{event_id[-6:]}"
            self.dm_events[event_id] = event
            return event_id

    def rate_limit(self, times: int = 1, *, reset_in: float = 60.0, path: str = r"/2/.*") -> None:
        """The next `times` matching requests get X's 429 with x-rate-limit-remaining 0 and
        x-rate-limit-reset `reset_in` seconds after clock(), in Unix seconds."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "rate_limit", times, 429, reset_in))

    def fail(self, times: int, *, status: int = 503, path: str = r"/2/.*") -> None:
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "error", times, status))

    def truncate(self, times: int = 1, *, path: str = r"/2/.*") -> None:
        """The next `times` matching replies declare their full length but stop halfway."""
        with self._lock:
            self._faults.append(_Fault(re.compile(path), "truncate", times, 200))

    def heal(self) -> None:
        """Forget scripted faults that have not fired yet."""
        with self._lock:
            self._faults.clear()

    # -- building blocks ----------------------------------------------------------------
    def _next_id(self, at: datetime | None = None) -> str:
        """A snowflake of now (or of `at`, for backdated posts), never one already used."""
        if at is None:
            self._last_id = max(self._last_id + 1, snowflake(self.clock()))
            return str(self._last_id)
        candidate = snowflake(at)
        while str(candidate) in self.tweets or str(candidate) in self.dm_events:
            candidate += 1
        return str(candidate)

    def _entities(self, text: str) -> dict[str, list[dict[str, Any]]]:
        """Mentions, hashtags and t.co links found in text, as X's entities."""
        entities: dict[str, list[dict[str, Any]]] = {}
        by_name = {u["username"].lower(): u for u in self.users.values()}
        for match in re.finditer(r"@(\w{1,15})", text):
            user = by_name.get(match.group(1).lower())
            entry = {"start": match.start(), "end": match.end(), "username": match.group(1)}
            if user:
                entry["id"] = user["id"]
            entities.setdefault("mentions", []).append(entry)
        for match in re.finditer(r"#(\w+)", text):
            entities.setdefault("hashtags", []).append(
                {"start": match.start(), "end": match.end(), "tag": match.group(1)})
        for match in re.finditer(r"https://t\.co/(\w+)", text):
            entities.setdefault("urls", []).append({
                "start": match.start(), "end": match.end(), "url": match.group(0),
                "expanded_url": f"https://example.org/{match.group(1)}",
                "display_url": f"example.org/{match.group(1)}",
            })
        return entities

    def _visible(self, tweet_id: str) -> bool:
        return tweet_id in self.tweets and tweet_id not in self.deleted

    def _latest(self, tweet: dict[str, Any]) -> bool:
        return tweet["edit_history_tweet_ids"][-1] == tweet["id"]

    def _timeline(self, user_id: str) -> list[dict[str, Any]]:
        return sorted(
            (t for t in self.tweets.values()
             if t.get("author_id") == user_id and self._visible(t["id"]) and self._latest(t)),
            key=lambda t: int(t["id"]), reverse=True,
        )

    # -- serving ----------------------------------------------------------------------
    def _handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            group = self._group(request.path)
            fault = self._take_fault(request.path)
            if fault is not None and fault.kind != "truncate":
                return self._fault_reply(fault, group)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _json_reply(
                    {"title": "Unauthorized", "type": "about:blank", "status": 401,
                     "detail": "Unauthorized"}, 401)
            reply = self._route(request)
            reply.headers = {**reply.headers, **self._count(group)}
            if fault is not None:  # truncate: the real reply, cut off
                reply.send_bytes = len(reply.body) // 2
            return reply

    def _route(self, request: RecordedRequest) -> Reply:
        path = request.path
        if request.method != "GET":
            return _json_reply(problem("invalid-request", "Invalid Request",
                                       f"{request.method} is not served here", 405), 405)
        if path == "/2/users/me":
            if not self.user_context:
                return self._unsupported_auth()
            return _json_reply({"data": self._user(ORG_ID, request)})
        found = re.fullmatch(r"/2/users/by/username/(\w+)", path)
        if found:
            name = found.group(1).lower()
            user = next((u for u in self.users.values() if u["username"].lower() == name), None)
            if user is None:
                return _json_reply({"errors": [{
                    "value": found.group(1), "detail": f"Could not find user with username: "
                    f"[{found.group(1)}].", "title": "Not Found Error", "resource_type": "user",
                    "parameter": "username", "resource_id": found.group(1),
                    "type": PROBLEMS + "resource-not-found"}]})
            return _json_reply({"data": self._user(user["id"], request)})
        found = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if found:
            return self._list(request, self._timeline(found.group(1)), 5, 100, 10,
                              "pagination_token")
        if path == "/2/tweets":
            return self._lookup(request, (request.param("ids") or "").split(","), "ids")
        if path == "/2/tweets/search/recent":
            return self._search(request)
        found = re.fullmatch(r"/2/tweets/(\d+)", path)
        if found:
            return self._lookup(request, [found.group(1)], "id")
        if path == "/2/dm_events":
            if not self.user_context:
                return self._unsupported_auth()
            return self._list_dms(request)
        return _json_reply(problem("resource-not-found", "Not Found Error",
                                   f"no route for {path}", 404), 404)

    def _list(
        self,
        request: RecordedRequest,
        tweets: list[dict[str, Any]],
        low: int,
        high: int,
        default: int,
        token_name: str,
    ) -> Reply:
        limit = self._max_results(request, low, high, default)
        if isinstance(limit, Reply):
            return limit
        since, until = request.param("since_id"), request.param("until_id")
        token = request.param(token_name) or request.param("pagination_token")
        below = int(token[1:], 36) if token else None
        chosen = [
            t for t in tweets
            if (since is None or int(t["id"]) > int(since))
            and (until is None or int(t["id"]) < int(until))
            and (below is None or int(t["id"]) < below)
        ]
        page, more = chosen[:limit], len(chosen) > limit
        if not page:
            return _json_reply({"meta": {"result_count": 0}})
        meta: dict[str, Any] = {
            "result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"],
        }
        if more:
            meta["next_token"] = "n" + _base36(int(page[-1]["id"]))
        return _json_reply(self._with_includes(request, page, meta))

    def _search(self, request: RecordedRequest) -> Reply:
        query = (request.param("query") or "").strip()
        clauses = re.split(r"\s+OR\s+", query.strip("()"))
        wanted = set()
        for clause in clauses:
            match = re.fullmatch(r"conversation_id:(\d+)", clause.strip())
            if match is None:
                return _json_reply(problem("invalid-request", "Invalid Request",
                                           f"this fake only searches conversation_id: {query!r}",
                                           400), 400)
            wanted.add(match.group(1))
        horizon = self.clock() - timedelta(days=SEARCH_DAYS)
        found = sorted(
            (t for t in self.tweets.values()
             if t.get("conversation_id") in wanted and self._visible(t["id"])
             and self._latest(t) and snowflake_moment(t["id"]) >= horizon),
            key=lambda t: int(t["id"]), reverse=True,
        )
        return self._list(request, found, 10, 100, 10, "next_token")

    def _lookup(self, request: RecordedRequest, ids: list[str], parameter: str) -> Reply:
        ids = [i for i in ids if i]
        if not ids or len(ids) > 100:
            return _json_reply(problem("invalid-request", "Invalid Request",
                                       "ids: between 1 and 100 ids", 400), 400)
        data, errors = [], []
        for tweet_id in ids:
            if tweet_id in self.protected and tweet_id not in self.deleted:
                errors.append(not_authorized_error(tweet_id, parameter))
            elif self._visible(tweet_id):
                data.append(self.tweets[tweet_id])
            else:
                errors.append(not_found_error(tweet_id, parameter))
        gone = all(not self._visible(i) and i not in self.protected for i in ids)
        if not data and gone and self.not_found_status == 404:
            return _json_reply(problem("resource-not-found", "Not Found Error",
                                       f"Could not find tweet with {parameter}: "
                                       f"[{','.join(ids)}].", 404), 404)
        body = self._with_includes(request, data, None) if data else {}
        if parameter == "id" and data:
            body["data"] = body["data"][0]
        if errors:
            body["errors"] = errors + body.get("errors", [])
        return _json_reply(body)

    def _list_dms(self, request: RecordedRequest) -> Reply:
        limit = self._max_results(request, 1, 100, 100)
        if isinstance(limit, Reply):
            return limit
        types = set((request.param("event_types") or "MessageCreate").split(","))
        horizon = self.clock() - timedelta(days=DM_DAYS)
        token = request.param("pagination_token")
        below = int(token[1:], 36) if token else None
        events = sorted(
            (e for e in self.dm_events.values()
             if e["event_type"] in types and snowflake_moment(e["id"]) >= horizon
             and (below is None or int(e["id"]) < below)),
            key=lambda e: int(e["id"]), reverse=True,
        )
        page, more = events[:limit], len(events) > limit
        fields = self._fields(request, "dm_event")
        meta: dict[str, Any] = {"result_count": len(page)}
        if more:
            meta["next_token"] = "n" + _base36(int(page[-1]["id"]))
        if not page:
            return _json_reply({"meta": meta})
        body: dict[str, Any] = {"data": [self._filter(e, fields) for e in page]}
        expansions = self._expansions(request)
        users: list[str] = []
        keys: list[str] = []
        for event in page:
            if "sender_id" in expansions:
                users.append(event["sender_id"])
            if "participant_ids" in expansions:
                users.extend(event.get("participant_ids") or [])
            if "attachments.media_keys" in expansions:
                keys.extend((event.get("attachments") or {}).get("media_keys") or [])
        includes = self._includes_of(request, users, keys, [])
        if includes:
            body["includes"] = includes
        body["meta"] = meta
        return _json_reply(body)

    def _with_includes(
        self, request: RecordedRequest, primary: list[dict[str, Any]], meta: dict[str, Any] | None
    ) -> dict[str, Any]:
        """data filtered by tweet.fields, includes by expansions, meta last."""
        fields = self._fields(request, "tweet")
        expansions = self._expansions(request)
        users: list[str] = []
        keys: list[str] = []
        tweets: list[str] = []
        missing: list[str] = []
        for tweet in primary:
            references = [r["id"] for r in tweet.get("referenced_tweets") or []]
            if "referenced_tweets.id" in expansions:
                for ref in references:
                    if self._visible(ref):
                        tweets.append(ref)
                    elif ref in self.deleted:
                        missing.append(ref)
            if "edit_history_tweet_ids" in expansions:
                tweets.extend(v for v in tweet["edit_history_tweet_ids"] if self._visible(v))
            if "author_id" in expansions and tweet.get("author_id"):
                users.append(tweet["author_id"])
            if "in_reply_to_user_id" in expansions and tweet.get("in_reply_to_user_id"):
                users.append(tweet["in_reply_to_user_id"])
            if "attachments.media_keys" in expansions:
                keys.extend((tweet.get("attachments") or {}).get("media_keys") or [])
            if "referenced_tweets.id.author_id" in expansions:
                users.extend(self.tweets[r]["author_id"] for r in references if self._visible(r))
        body: dict[str, Any] = {"data": [self._filter(t, fields) for t in primary]}
        includes = self._includes_of(request, users, keys, tweets)
        if includes:
            body["includes"] = includes
        if missing:
            body["errors"] = [not_found_error(r, "referenced_tweets.id") for r in _unique(missing)]
        if meta is not None:
            body["meta"] = meta
        return body

    def _includes_of(
        self, request: RecordedRequest, users: Iterable[str], keys: Iterable[str],
        tweets: Iterable[str],
    ) -> dict[str, Any]:
        includes: dict[str, Any] = {}
        found_users = [self._user(u, request) for u in _unique(users) if u in self.users]
        found_media = [
            self._filter(self.media[k], self._fields(request, "media"))
            for k in _unique(keys) if k in self.media
        ]
        found_tweets = [
            self._filter(self.tweets[t], self._fields(request, "tweet")) for t in _unique(tweets)
        ]
        for name, values in (("media", found_media), ("users", found_users),
                             ("tweets", found_tweets)):
            if values:
                includes[name] = values
        return includes

    def _user(self, user_id: str, request: RecordedRequest) -> dict[str, Any]:
        return self._filter(self.users[user_id], self._fields(request, "user"))

    @staticmethod
    def _fields(request: RecordedRequest, kind: str) -> set[str]:
        asked = request.param(f"{kind}.fields") or ""
        return DEFAULT_FIELDS[kind] | {f for f in asked.split(",") if f}

    @staticmethod
    def _expansions(request: RecordedRequest) -> set[str]:
        return {e for e in (request.param("expansions") or "").split(",") if e}

    @staticmethod
    def _filter(obj: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in obj.items() if k in fields}

    @staticmethod
    def _max_results(request: RecordedRequest, low: int, high: int, default: int) -> int | Reply:
        raw = request.param("max_results")
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            return _json_reply({
                "errors": [{"parameters": {"max_results": [raw]},
                            "message": f"The `max_results` query parameter value [{raw}] is "
                                       f"not between {low} and {high}"}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": PROBLEMS + "invalid-request",
            }, 400)
        return int(raw)

    @staticmethod
    def _unsupported_auth() -> Reply:
        return _json_reply(problem(
            "unsupported-authentication", "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
            "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User "
            "Context].", 403), 403)

    def _serve_media(self, request: RecordedRequest) -> Reply:
        with self._lock:
            found = self.files.get(request.path)
        if found is None:
            return _json_reply({"errors": [{"message": "Sorry, that page does not exist"}]}, 404)
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)

    # -- rate limits and faults ------------------------------------------------------
    @staticmethod
    def _group(path: str) -> str:
        if path.startswith("/2/dm_events"):
            return "dm"
        if path.startswith("/2/tweets/search"):
            return "search"
        if re.fullmatch(r"/2/users/\d+/tweets", path):
            return "timeline"
        if path.startswith("/2/tweets"):
            return "lookup"
        return "users"

    def _count(self, group: str) -> dict[str, str]:
        now = self.clock()
        start, used = self._quota.get(group, (now, 0))
        if now >= start + QUOTA_WINDOW:
            start, used = now, 0
        used += 1
        self._quota[group] = (start, used)
        return self._rate_headers(group, QUOTAS[group] - used, start + QUOTA_WINDOW)

    @staticmethod
    def _rate_headers(group: str, remaining: int, reset: datetime) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(QUOTAS[group]),
            "x-rate-limit-remaining": str(max(0, remaining)),
            "x-rate-limit-reset": str(int(reset.timestamp())),
        }

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.path.fullmatch(path):
                fault.remaining -= 1
                return fault
        return None

    def _fault_reply(self, fault: _Fault, group: str) -> Reply:
        if fault.kind == "rate_limit":
            reset = self.clock() + timedelta(seconds=fault.reset_in)
            return _json_reply(
                {"title": "Too Many Requests", "detail": "Too Many Requests",
                 "type": "about:blank", "status": 429},
                429, self._rate_headers(group, 0, reset),
            )
        return _json_reply(problem("service-unavailable", "Service Unavailable",
                                   "Service Unavailable", fault.status), fault.status)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while number:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text or "0"
