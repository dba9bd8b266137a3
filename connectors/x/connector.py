"""The X connector (API v2): the account's posts and replies, others' replies to them,
DMs, edits as versions of one item, and deletions as tombstones.

Streams (cursor keys; values are X ids, numeric strings):
  - "tweets": the newest post of the account archived with nothing missing below it.
    GET /2/users/:id/tweets lists newest first, so a walk goes down from the top with
    pagination_token, bounded below by since_id = "tweets". Progress is checkpointed
    after every page in "tweets_progress" ("<top>:<oldest so far>"); a failed walk
    resumes with until_id = oldest, and only a finished walk moves "tweets" to the top.
    An edit is a new id, so edits of old posts come through this walk too.
  - "dm_events": the newest DM event archived. GET /2/dm_events has no since_id, so the
    walk stops at the first event at or below it (ids are snowflakes: they sort by time).
Others' replies come from GET /2/tweets/search/recent?query=conversation_id:..., for the
conversations of posts captured in this run (fetch) and of recent archived posts
(reconcile). Reconcile looks archived posts up 100 at a time (GET /2/tweets?ids=...):
an id X answers with a resource-not-found problem (or an HTTP 404) is deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import Field, field_validator

from archiver.errors import FatalError, RetriableError
from archiver.item import CaptureContext, CapturedItem
from connectors.base import (
    Account,
    ArchivedItem,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    CursorUpdate,
)
from connectors.http import CredentialsError, HttpResult, NotFound

from .from_api import Includes, message_from_api, post_from_api
from .normalise import (
    Post,
    message_attachments,
    message_content,
    post_attachments,
    post_content,
    snowflake_time,
)

log = logging.getLogger(__name__)

TWEETS = "tweets"
TWEETS_PROGRESS = "tweets_progress"
DM_EVENTS = "dm_events"

TWEET_FIELDS = (
    "attachments,author_id,conversation_id,created_at,edit_controls,edit_history_tweet_ids,"
    "entities,in_reply_to_user_id,lang,note_tweet,possibly_sensitive,public_metrics,"
    "referenced_tweets,reply_settings,source"
)
EXPANSIONS = "attachments.media_keys,author_id,edit_history_tweet_ids,referenced_tweets.id"
MEDIA_FIELDS = "alt_text,duration_ms,height,media_key,preview_image_url,type,url,variants,width"
USER_FIELDS = "id,name,username"
DM_FIELDS = (
    "attachments,created_at,dm_conversation_id,event_type,id,participant_ids,"
    "referenced_tweets,sender_id,text"
)
DM_EXPANSIONS = "attachments.media_keys,participant_ids,sender_id"
LOOKUP_BATCH = 100  # GET /2/tweets takes at most 100 ids
SEARCH_PAGE = 100
NOT_FOUND_PROBLEM = "/resource-not-found"
LOOKUP_PARAMETERS = frozenset({"ids", "id"})  # problems about the ids asked for, not includes

Output = Iterator[CapturedItem | CursorUpdate]


class XSettings(ConnectorSettings):
    base_url: str = Field(
        "https://api.x.com", description="API root (a test server's URL in tests)"
    )
    user_id: str | None = Field(
        None,
        pattern=r"^\d+$",
        description="The account's numeric id; else looked up from `username` or /2/users/me",
    )
    username: str | None = Field(None, description="The account's username, without '@'")
    page_size: int = Field(100, ge=5, le=100, description="Posts per timeline request")
    capture_replies: bool = Field(True, description="Archive others' replies to our posts")
    capture_dms: bool = Field(
        True, description="Archive direct messages (needs a user-context token with dm.read)"
    )
    reply_search_days: int = Field(
        30,
        ge=0,
        description="Search replies in the conversations of our posts this recent "
        "(search/recent itself only returns replies from the last 7 days)",
    )
    search_query_max_chars: int = Field(
        512, ge=64, le=4096, description="Query length limit of your API tier"
    )

    @field_validator("user_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        """`--set user_id=15942882` arrives as a JSON number; X ids are strings."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class XConnector(Connector):
    name = "x"
    version = "1.0.0"
    settings_model = XSettings

    def __init__(self, account: Account, context: ConnectorContext) -> None:
        super().__init__(account, context)
        self.options: XSettings = self.settings  # type: ignore[assignment]
        self._user_id: str | None = self.options.user_id
        # One instance serves one run: what fetch just read needs no second look in
        # reconcile, and a conversation searched once is not searched again.
        self._fetched: set[str] = set()
        self._searched: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------
    def _get(self, path: str, **params: Any) -> HttpResult:
        return self.client.get_json(path, params={k: v for k, v in params.items() if v})

    def own_user_id(self) -> str:
        """The configured id, else the id of `username`, else of the token's own user."""
        if self._user_id is None:
            if self.options.username:
                name = quote(self.options.username.lstrip("@"), safe="")
                result = self._get(f"/2/users/by/username/{name}")
            else:
                try:
                    result = self._get("/2/users/me")
                except CredentialsError as exc:
                    raise FatalError(
                        f"{exc}; /2/users/me needs a user-context token: set user_id "
                        "(or username) in the account settings to use an app-only token"
                    ) from exc
            data = (result.data or {}).get("data") if isinstance(result.data, dict) else None
            if not isinstance(data, dict) or not data.get("id"):
                raise FatalError(
                    f"GET {result.url} did not name the account: {_problem_text(result.data)}"
                )
            self._user_id = str(data["id"])
        return self._user_id

    @staticmethod
    def _tweet_params(**extra: Any) -> dict[str, Any]:
        """What to ask for (first, so stored request URLs read well), then the fields."""
        return {
            **extra,
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "media.fields": MEDIA_FIELDS,
            "user.fields": USER_FIELDS,
        }

    # -- fetch ------------------------------------------------------------------------
    def fetch(self, cursor: Mapping[str, str]) -> Output:
        user_id = self.own_user_id()
        own: list[Post] = []
        yield from self._timeline(user_id, cursor, own)
        if self.options.capture_replies:
            yield from self._replies(own)
        if self.options.capture_dms:
            yield from self._dms(cursor)

    def _timeline(self, user_id: str, cursor: Mapping[str, str], own: list[Post]) -> Output:
        """Walk down from the newest post to `since_id`, checkpointing every page."""
        path = f"/2/users/{quote(user_id, safe='')}/tweets"
        since = cursor.get(TWEETS) or None
        progress = cursor.get(TWEETS_PROGRESS) or ""
        top_text, _, until_text = progress.partition(":")
        top: str | None = top_text or None
        until = until_text or None
        token: str | None = None
        while True:
            result = self._get(
                path,
                **self._tweet_params(
                    max_results=self.options.page_size,
                    since_id=since,
                    until_id=until,
                    pagination_token=token,
                ),
            )
            body = _listing(result)
            page = _entries(body)
            if not page:
                break
            meta = body.get("meta") or {}
            top = top or str(meta.get("newest_id") or page[0]["id"])
            includes = Includes.of(body)
            for tweet in reversed(page):  # X lists newest first; archive oldest first
                versions = self._versions(tweet, includes)
                own.extend(versions)
                self._fetched.add(versions[-1].native_id)
                yield from self._items(versions, result)
            oldest = str(meta.get("oldest_id") or page[-1]["id"])
            yield CursorUpdate(TWEETS_PROGRESS, f"{top}:{oldest}")
            token = meta.get("next_token")
            if not token:
                break
        if top and top != since:
            yield CursorUpdate(TWEETS, top)
        if progress or top:
            yield CursorUpdate(TWEETS_PROGRESS, "")

    def _replies(self, own: list[Post]) -> Iterator[CapturedItem]:
        """Others' replies to the account, found by searching its posts' conversations."""
        user_id = self.own_user_id()
        horizon = self.context.now() - timedelta(days=self.options.reply_search_days)
        conversations: list[str] = []
        for post in own:
            if post.author_id not in (None, user_id) or not _after(post.created_at, horizon):
                continue
            conversation = post.conversation_id or post.id
            if conversation not in conversations and conversation not in self._searched:
                conversations.append(conversation)
        self._searched.update(conversations)
        seen: set[str] = set()
        for query in _or_queries(conversations, self.options.search_query_max_chars):
            token: str | None = None
            while True:
                result = self._get(
                    "/2/tweets/search/recent",
                    **self._tweet_params(query=query, max_results=SEARCH_PAGE, next_token=token),
                )
                body = _listing(result)
                page = _entries(body)
                includes = Includes.of(body)
                for tweet in reversed(page):
                    if str(tweet.get("author_id")) == user_id:
                        continue  # our own posts come from the timeline
                    if str(tweet.get("in_reply_to_user_id")) != user_id:
                        continue  # a reply to someone else in the thread
                    if str(tweet["id"]) in seen:
                        continue
                    seen.add(str(tweet["id"]))
                    versions = self._versions(tweet, includes)
                    self._fetched.add(versions[-1].native_id)
                    yield from self._items(versions, result, kind="reply")
                token = (body.get("meta") or {}).get("next_token")
                if not token or not page:
                    break

    def _dms(self, cursor: Mapping[str, str]) -> Output:
        """DM events newest first, down to the newest one archived (no since_id exists)."""
        newest = cursor.get(DM_EVENTS) or None
        top: str | None = None
        token: str | None = None
        while True:
            try:
                result = self._get(
                    "/2/dm_events",
                    **{
                        "dm_event.fields": DM_FIELDS,
                        "event_types": "MessageCreate",
                        "expansions": DM_EXPANSIONS,
                        "media.fields": MEDIA_FIELDS,
                        "user.fields": USER_FIELDS,
                        "max_results": 100,
                        "pagination_token": token,
                    },
                )
            except CredentialsError as exc:
                raise FatalError(
                    f"{exc}; direct messages need a user-context token (OAuth 2.0 with the "
                    "dm.read, tweet.read and users.read scopes): use one, or set "
                    "capture_dms = false to capture posts only"
                ) from exc
            body = _listing(result)
            events = _entries(body)
            if not events:
                break
            top = top or max((str(e["id"]) for e in events), key=_id_number)
            fresh = [
                e for e in events if newest is None or _id_number(e["id"]) > _id_number(newest)
            ]
            includes = Includes.of(body)
            for event in reversed(fresh):
                if event.get("event_type", "MessageCreate") == "MessageCreate":
                    yield self._dm_item(event, includes, result)
            token = (body.get("meta") or {}).get("next_token")
            if len(fresh) < len(events) or not token:
                break
        if top and top != newest and (newest is None or _id_number(top) > _id_number(newest)):
            yield CursorUpdate(DM_EVENTS, top)

    # -- versions and items ---------------------------------------------------------------
    def _versions(self, tweet: Mapping[str, Any], includes: Includes) -> list[Post]:
        """Every version of the post's edit chain that X still serves, oldest first.

        Versions named in edit_history_tweet_ids come from includes.tweets; any missing
        there, or whose media includes lack (expansions only apply to primary data), are
        looked up once more as primary data."""
        tweet_id = str(tweet["id"])
        chain = [str(i) for i in tweet.get("edit_history_tweet_ids") or []] or [tweet_id]
        known: dict[str, Mapping[str, Any]] = {
            i: includes.tweets[i] for i in chain if i in includes.tweets
        }
        known[tweet_id] = tweet
        if len(chain) > 1:
            missing = [i for i in chain if i not in known or _lacks_media(known[i], includes)]
            if missing:
                result = self._get("/2/tweets", **self._tweet_params(ids=",".join(missing)))
                body = result.data if isinstance(result.data, dict) else {}
                includes.add(body)
                for found in _entries(body):
                    known[str(found["id"])] = found
        versions = [post_from_api(known[i], includes) for i in chain if i in known]
        return versions or [post_from_api(tweet, includes)]

    def _items(
        self, versions: list[Post], result: HttpResult, kind: str | None = None
    ) -> Iterator[CapturedItem]:
        """One item: earlier versions as history (oldest first), then the latest."""
        latest = versions[-1]
        native_id = latest.native_id
        first = next((v for v in versions if v.id == native_id), None)
        created_at = (first.created_at if first else None) or snowflake_time(native_id)
        capture = self._capture(result)
        for index, version in enumerate(versions):
            yield CapturedItem(
                platform=self.name,
                account=self.account.handle,
                native_id=native_id,
                kind=kind or latest.kind,
                content=post_content(
                    version,
                    native_id=native_id,
                    created_at=created_at,
                    own_user_id=self._user_id,
                ),
                raw=version.raw,
                capture=capture,
                historical=index < len(versions) - 1,
                attachments=post_attachments(version),
            )

    def _dm_item(
        self, event: Mapping[str, Any], includes: Includes, result: HttpResult
    ) -> CapturedItem:
        message = message_from_api(event, includes)
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=message.id,
            kind="dm",
            content=message_content(message),
            raw=message.raw,
            capture=self._capture(result),
            attachments=message_attachments(message),
        )

    def _capture(self, result: HttpResult) -> CaptureContext:
        return CaptureContext(
            connector=self.name,
            connector_version=self.version,
            request_url=result.url,
            response_headers=result.headers,
        )

    # -- reconcile ----------------------------------------------------------------------
    def reconcile(self, archived: Iterable[ArchivedItem]) -> Iterator[CapturedItem]:
        """Posts and replies in the window, looked up 100 at a time: a tombstone for each
        X says is gone, the current versions of the rest (edits), then replies that
        arrived since in our posts' conversations. DMs cannot be looked up one by one;
        posts this connector fetched moments ago in the same run are not asked for again."""
        user_id = self.own_user_id()
        posts = [
            item
            for item in archived
            if item.kind in ("post", "reply") and item.native_id not in self._fetched
        ]
        own: list[Post] = []
        for start in range(0, len(posts), LOOKUP_BATCH):
            yield from self._recheck(posts[start : start + LOOKUP_BATCH], user_id, own)
        if self.options.capture_replies:
            yield from self._replies(own)

    def _recheck(
        self, chunk: list[ArchivedItem], user_id: str, own: list[Post]
    ) -> Iterator[CapturedItem]:
        try:
            result = self._get(
                "/2/tweets", **self._tweet_params(ids=",".join(i.native_id for i in chunk))
            )
        except NotFound as gone:
            if len(chunk) > 1:  # which one is gone? ask for each on its own
                for item in chunk:
                    yield from self._recheck([item], user_id, own)
                return
            text = gone.body.decode("utf-8", errors="surrogateescape")
            answer = _json_or_text(text)
            if not isinstance(answer, dict):
                # X answers in JSON; an HTML 404 is a proxy or a wrong base_url talking.
                raise RetriableError(
                    f"GET {gone.url}: HTTP {gone.status} that is not X's"
                ) from gone
            yield self._tombstone(chunk[0], gone.status, text, gone.url, answer)
            return
        body = result.data if isinstance(result.data, dict) else {}
        includes = Includes.of(body)
        found = {str(t["id"]): t for t in _entries(body)}
        problems = _problems_by_id(body)
        for item in chunk:
            tweet = found.get(item.native_id)
            if tweet is None:
                errors = problems.get(item.native_id, [])
                if any(str(e.get("type", "")).endswith(NOT_FOUND_PROBLEM) for e in errors):
                    evidence = json.dumps({"errors": errors}, ensure_ascii=False)
                    yield self._tombstone(item, result.status, evidence, result.url, errors)
                else:  # protected, suspended or withheld: not evidence of deletion
                    log.info(
                        "x: %s not readable now (%s); left as archived",
                        item.native_id,
                        _problem_text({"errors": errors}),
                    )
                continue
            versions = self._versions(tweet, includes)
            yield from self._items(versions, result, kind=item.kind)
            if versions[-1].author_id == user_id:
                own.extend(versions)

    def _tombstone(
        self, item: ArchivedItem, status: int, body: str, request_url: str, raw: Any
    ) -> CapturedItem:
        observed = self.context.now()
        return CapturedItem(
            platform=self.name,
            account=self.account.handle,
            native_id=item.native_id,
            kind=item.kind,
            content={
                "status": status,
                "body": body,
                "observed_at": observed.isoformat().replace("+00:00", "Z"),
                "request_url": request_url,
            },
            raw=raw,
            capture=CaptureContext(
                connector=self.name, connector_version=self.version, request_url=request_url
            ),
            deleted=True,
        )


# -- helpers --------------------------------------------------------------------------
def _listing(result: HttpResult) -> dict[str, Any]:
    """A listing's body. `errors` next to data are about includes (a deleted parent) and
    are ignored; errors with neither data nor meta mean the listing itself failed."""
    body = result.data
    if not isinstance(body, dict):
        raise RetriableError(f"GET {result.url}: expected a JSON object from X")
    if "data" not in body and "meta" not in body and body.get("errors"):
        problem = _problem_text(body)
        if any(
            str(e.get("type", "")).endswith(("/resource-not-found", "/not-authorized-for-resource"))
            for e in body["errors"]
            if isinstance(e, dict)
        ):
            raise FatalError(f"GET {result.url}: {problem}")
        raise RetriableError(f"GET {result.url}: {problem}")
    return body


def _entries(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        data = [data]
    return [e for e in data or [] if isinstance(e, dict) and e.get("id") is not None]


def _problems_by_id(body: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Problems about the ids looked up (parameter "ids"/"id"), by id; problems about
    expansions (a deleted parent under referenced_tweets.id) are left out."""
    found: dict[str, list[dict[str, Any]]] = {}
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        if error.get("parameter") not in LOOKUP_PARAMETERS and "parameter" in error:
            continue
        subject = error.get("resource_id") or error.get("value")
        if subject is not None:
            found.setdefault(str(subject), []).append(error)
    return found


def _problem_text(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return "no data and no error in the answer"
    return "; ".join(
        f"{e.get('title') or e.get('type')}: {e.get('detail') or e.get('message')}"
        for e in errors
        if isinstance(e, dict)
    )


def _lacks_media(tweet: Mapping[str, Any], includes: Includes) -> bool:
    keys = (tweet.get("attachments") or {}).get("media_keys") or []
    return any(str(k) not in includes.media for k in keys)


def _or_queries(conversations: list[str], max_chars: int) -> Iterator[str]:
    """`conversation_id:A OR conversation_id:B ...`, each within the tier's query limit."""
    clauses: list[str] = []
    for conversation in conversations:
        clause = f"conversation_id:{conversation}"
        if clauses and len(" OR ".join([*clauses, clause])) > max_chars:
            yield " OR ".join(clauses)
            clauses = []
        clauses.append(clause)
    if clauses:
        yield " OR ".join(clauses)


def _after(created_at: str | None, horizon: datetime) -> bool:
    if not created_at:
        return True
    return datetime.fromisoformat(created_at.replace("Z", "+00:00")) >= horizon


def _id_number(value: Any) -> int:
    text = str(value)
    return int(text) if text.isdigit() else -1


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
