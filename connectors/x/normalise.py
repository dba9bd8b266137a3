"""One normaliser for X posts and DMs, fed from both the API v2 shape and the archive shape.

`from_api` and `from_archive` read their shape into the same `Post` / `Message` facts;
this module turns facts into the archive's normalised content. Because an import must
merge into the items the API captured (same native id, same content fingerprint), the
content holds only what BOTH shapes can supply for the same tweet:

  - created_at and edited_at are the versions' own timestamps, to the second (the API's
    ".000Z" and the archive's "Fri Feb 24 06:58:32 +0000 2023" are the same instant);
  - text is HTML-unescaped (both shapes escape &, < and > the same way);
  - media entries are {id, type, description}: the media id is X's identity of the file,
    while its URL differs by source (pbs.twimg.com, a video variant with a changing
    query, a member of the zip); the URL is where the bytes came from and is kept in
    the record's media (source_url) and in raw;
  - thread_id is the conversation id only where both sides know it: a post that is not
    a reply starts its own thread (thread_id = its native id); others' replies, which
    only the API ever supplies, carry their conversation_id; the account's own replies
    have thread_id None because the archive does not record conversation_id;
  - a retweet's content is its "RT @user: ..." text and `boost_author`; the retweeted
    post's id (boost_of), its entities and media are not in the archive, so they stay
    in raw (the API's referenced_tweets);
  - counters (public_metrics) and edit_controls stay in raw, so they never make versions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.item import Attachment

TWITTER_EPOCH_MS = 1288834974657  # snowflake ids count milliseconds from here
MEDIA_KEY_TYPES = {"3": "photo", "7": "video", "13": "video", "16": "animated_gif"}
ATTACHMENT_TYPES = {"photo": "image", "video": "video", "animated_gif": "gifv"}
_RETWEET = re.compile(r"^RT @(\w{1,50}):")
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?:[^/?#]+|i/web|i)/status(?:es)?/(\d+)/?$"
)
_MEDIA_PERMALINK = re.compile(
    r"^https?://(?:www\.)?(?:twitter|x)\.com/[^/]+/status/\d+/(?:photo|video)/\d+$"
)


@dataclass(frozen=True)
class Media:
    """A photo, video or GIF as both shapes describe it; `source` is where to get the bytes
    (an https URL from the API, `archive:<member>` from an export), None if unknown."""

    id: str
    type: str | None
    description: str | None = None
    source: str | None = None

    def entry(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "description": self.description}

    @property
    def attachment_type(self) -> str:
        return ATTACHMENT_TYPES.get(self.type or "", "unknown")


@dataclass(frozen=True)
class Post:
    """One version of one tweet (an edit is a version with its own id)."""

    id: str
    text: str
    author: str | None  # username, without "@"
    author_id: str | None
    created_at: str | None  # RFC 3339 to the second, "2023-02-24T06:58:32Z"
    lang: str | None
    in_reply_to: str | None
    in_reply_to_user_id: str | None
    conversation_id: str | None  # API only
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    urls: tuple[str, ...]
    media: tuple[Media, ...]
    retweet: bool
    quote_of: str | None
    edit_chain: tuple[str, ...]  # every id of the edit chain, oldest first
    raw: Any

    @property
    def native_id(self) -> str:
        """An edit chain is one item, named by its first id (what the archive and the API
        both know as `initialTweetId` / edit_history_tweet_ids[0])."""
        return self.edit_chain[0] if self.edit_chain else self.id

    @property
    def kind(self) -> str:
        return "reply" if self.in_reply_to else "post"


@dataclass(frozen=True)
class Message:
    """One direct message (a MessageCreate event)."""

    id: str
    text: str
    created_at: str | None
    sender_id: str | None
    conversation_id: str | None
    media: tuple[Media, ...]
    raw: Any


# -- content ------------------------------------------------------------------------
def post_content(
    version: Post, *, native_id: str, created_at: str | None, own_user_id: str | None
) -> dict[str, Any]:
    """Normalised content of one version of the item `native_id`.

    `created_at` is the item's creation (its first version's time); a later version's
    own timestamp becomes `edited_at`."""
    author = version.author
    content: dict[str, Any] = {
        "text": version.text,
        "author": author,
        "created_at": created_at,
        "url": post_url(author, native_id),
        "in_reply_to": version.in_reply_to,
        "thread_id": _thread_id(version, native_id, own_user_id),
        "lang": version.lang,
        "hashtags": list(version.hashtags),
        "mentions": list(version.mentions),
        "urls": list(version.urls),
        "media": [m.entry() for m in version.media],
        "edited_at": None if version.id == native_id else version.created_at,
        "quote_of": version.quote_of,
    }
    if version.retweet:
        booster = _RETWEET.match(version.text)
        content.update(
            {
                "hashtags": [],
                "mentions": [],
                "urls": [],
                "media": [],
                "quote_of": None,
                "boost_author": booster.group(1) if booster else None,
            }
        )
    return content


def post_attachments(post: Post) -> tuple[Attachment, ...]:
    """Media to store; a retweet's belong to the retweeted post, which is not ours."""
    if post.retweet:
        return ()
    return tuple(
        Attachment(m.source, m.attachment_type, m.description) for m in post.media if m.source
    )


def message_attachments(message: Message) -> tuple[Attachment, ...]:
    return tuple(Attachment(m.source, m.attachment_type) for m in message.media if m.source)


def message_content(message: Message) -> dict[str, Any]:
    """Normalised content of a DM. Senders are user ids: the archive names DM
    participants by id only, so the API's usernames would not match it."""
    conversation = message.conversation_id
    return {
        "text": message.text,
        "created_at": message.created_at,
        "sender_id": message.sender_id,
        "conversation_id": conversation,
        "thread_id": conversation,
        "participants": participants(conversation),
        "media": [{"id": m.id, "type": m.type} for m in message.media],
    }


def participants(conversation_id: str | None) -> list[str] | None:
    """A one-to-one conversation id is "<low id>-<high id>"; a group's says nothing."""
    if not conversation_id or "-" not in conversation_id:
        return None
    return sorted(part for part in conversation_id.split("-") if part)


def post_url(author: str | None, native_id: str) -> str:
    if author:
        return f"https://x.com/{author}/status/{native_id}"
    return f"https://x.com/i/web/status/{native_id}"


def _thread_id(version: Post, native_id: str, own_user_id: str | None) -> str | None:
    if not version.in_reply_to:
        return native_id
    if version.author_id and version.author_id != own_user_id:
        return version.conversation_id
    return None


# -- shared readers -----------------------------------------------------------------
def plain_text(text: Any) -> str:
    return html.unescape(str(text or ""))


def expanded_urls(entities: list[Mapping[str, Any]]) -> tuple[str, ...]:
    """Link targets in text order, leaving out media links (the API lists a photo's
    pic.twitter.com link among urls, the archive among media)."""
    found = []
    for entity in _in_text_order(entities):
        if entity.get("media_key"):
            continue
        target = str(
            entity.get("expanded_url") or entity.get("expanded") or entity.get("url") or ""
        )
        if target and not _MEDIA_PERMALINK.match(target):
            found.append(target)
    return tuple(found)


def quote_from_urls(text: str, entities: list[Mapping[str, Any]]) -> str | None:
    """The quoted post's id when the text ends with a link to a post (how X renders a
    quote in text); used when neither shape names the quoted post explicitly."""
    ordered = [e for e in _in_text_order(entities) if not e.get("media_key")]
    if not ordered:
        return None
    last = ordered[-1]
    short = str(last.get("url") or "")
    match = _STATUS_URL.match(str(last.get("expanded_url") or ""))
    if match and short and text.rstrip().endswith(short):
        return match.group(1)
    return None


def _in_text_order(entities: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    def start(entity: Mapping[str, Any]) -> int:
        position = entity.get("start")
        if position is None:
            indices = entity.get("indices") or [0]
            position = indices[0]
        try:
            return int(position)
        except (TypeError, ValueError):
            return 0

    return sorted((e for e in entities if isinstance(e, Mapping)), key=start)


def entity_list(container: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(container, Mapping):
        return []
    value = container.get(name)
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def media_id_from_key(media_key: str) -> str:
    return media_key.split("_", 1)[-1]


def media_type_from_key(media_key: str) -> str | None:
    prefix, _, _ = media_key.partition("_")
    return MEDIA_KEY_TYPES.get(prefix)


def url_basename(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


# -- time -----------------------------------------------------------------------------
def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any) -> str | None:
    """The API's "2022-10-03T17:57:11.000Z" (and the archive's DM times) as RFC 3339."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return rfc3339(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def parse_archive_time(value: Any) -> str | None:
    """The archive's "Fri Feb 24 06:58:32 +0000 2023" (ISO values pass too)."""
    if not value:
        return None
    try:
        return rfc3339(datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y"))
    except ValueError:
        return parse_iso(value)


def snowflake_time(native_id: str) -> str | None:
    """When a snowflake id was made, to the second: X's created_at is exactly this, so it
    stands in when the first version of an edit chain is not at hand."""
    try:
        milliseconds = (int(native_id) >> 22) + TWITTER_EPOCH_MS
    except ValueError:
        return None
    if int(native_id) < 1 << 40:  # pre-2010 sequential ids carry no time
        return None
    return rfc3339(datetime.fromtimestamp(milliseconds / 1000, UTC))


def id_order(value: str) -> tuple[int, str]:
    """Sort key for numeric ids given as strings."""
    return (int(value), value) if value.isdigit() else (-1, value)


# -- edit controls ------------------------------------------------------------------------
@dataclass(frozen=True)
class EditControls:
    """X's edit window for a post. `edits_remaining` arrives as "4" or 4 (the API has sent
    both; the archive always a string): it is an int here or None."""

    edits_remaining: int | None
    is_edit_eligible: bool | None
    editable_until: str | None  # RFC 3339

    def window_open(self, now: datetime) -> bool:
        """Whether the post may still get a new version."""
        if self.is_edit_eligible is False or self.edits_remaining == 0:
            return False
        if self.editable_until is None:
            return False
        return now.astimezone(UTC) < datetime.fromisoformat(
            self.editable_until.replace("Z", "+00:00")
        )


def edit_controls(tweet: Mapping[str, Any]) -> EditControls:
    """From the API's `edit_controls` or the archive's `edit_info`."""
    controls: Any = tweet.get("edit_controls")
    if not isinstance(controls, Mapping):
        info = tweet.get("edit_info") or {}
        initial = info.get("initial") if isinstance(info, Mapping) else None
        edit = info.get("edit") if isinstance(info, Mapping) else None
        controls = initial or (edit or {}).get("editControlInitial") or {}
        controls = {
            "edits_remaining": controls.get("editsRemaining"),
            "is_edit_eligible": controls.get("isEditEligible"),
            "editable_until": controls.get("editableUntil"),
        }
    remaining = controls.get("edits_remaining")
    eligible = controls.get("is_edit_eligible")
    return EditControls(
        edits_remaining=_int_or_none(remaining),
        is_edit_eligible=eligible if isinstance(eligible, bool) else None,
        editable_until=parse_iso(controls.get("editable_until")),
    )


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
