"""X API v2 payloads (tweets, DM events and their `includes`) read into normaliser facts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .normalise import (
    Media,
    Message,
    Post,
    entity_list,
    expanded_urls,
    media_id_from_key,
    media_type_from_key,
    parse_iso,
    plain_text,
    quote_from_urls,
    snowflake_time,
)


@dataclass
class Includes:
    """The `includes` of one or more responses, by id (users, media by key, tweets)."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Any) -> Includes:
        found = cls()
        found.add(body)
        return found

    def add(self, body: Any) -> None:
        includes = body.get("includes") if isinstance(body, Mapping) else None
        if not isinstance(includes, Mapping):
            return
        for name, key, target in (
            ("users", "id", self.users),
            ("media", "media_key", self.media),
            ("tweets", "id", self.tweets),
        ):
            for entry in includes.get(name) or []:
                if isinstance(entry, dict) and entry.get(key) is not None:
                    target[str(entry[key])] = entry

    def username(self, user_id: Any) -> str | None:
        user = self.users.get(str(user_id)) if user_id is not None else None
        name = (user or {}).get("username")
        return str(name) if name else None

    def subset(self, tweet: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The includes this tweet refers to, for its raw record."""
        chosen: dict[str, list[dict[str, Any]]] = {}
        user_ids = [tweet.get("author_id"), tweet.get("sender_id")]
        users = [self.users[str(u)] for u in user_ids if u is not None and str(u) in self.users]
        keys = (tweet.get("attachments") or {}).get("media_keys") or []
        media = [self.media[k] for k in keys if k in self.media]
        referenced = [
            self.tweets[str(r.get("id"))]
            for r in tweet.get("referenced_tweets") or []
            if isinstance(r, Mapping) and str(r.get("id")) in self.tweets
        ]
        for name, values in (("users", users), ("media", media), ("tweets", referenced)):
            if values:
                chosen[name] = values
        return chosen


def references(tweet: Mapping[str, Any]) -> dict[str, str]:
    """referenced_tweets as {type: id} (replied_to, quoted, retweeted)."""
    found: dict[str, str] = {}
    for ref in tweet.get("referenced_tweets") or []:
        if isinstance(ref, Mapping) and ref.get("type") and ref.get("id") is not None:
            found.setdefault(str(ref["type"]), str(ref["id"]))
    return found


def post_from_api(tweet: Mapping[str, Any], includes: Includes) -> Post:
    tweet_id = str(tweet["id"])
    refs = references(tweet)
    entities = tweet.get("entities") or {}
    text = plain_text(tweet.get("text"))
    url_entities = entity_list(entities, "urls")
    chain = tuple(str(i) for i in tweet.get("edit_history_tweet_ids") or [] if i is not None)
    author_id = tweet.get("author_id")
    return Post(
        id=tweet_id,
        text=text,
        author=includes.username(author_id),
        author_id=str(author_id) if author_id is not None else None,
        created_at=parse_iso(tweet.get("created_at")) or snowflake_time(tweet_id),
        lang=tweet.get("lang"),
        in_reply_to=refs.get("replied_to"),
        in_reply_to_user_id=_str_or_none(tweet.get("in_reply_to_user_id")),
        conversation_id=_str_or_none(tweet.get("conversation_id")),
        hashtags=tuple(str(h.get("tag")) for h in _ordered(entities, "hashtags")),
        mentions=tuple(str(m.get("username")) for m in _ordered(entities, "mentions")),
        urls=expanded_urls(url_entities),
        media=tuple(api_media(tweet, includes)),
        retweet="retweeted" in refs,
        quote_of=refs.get("quoted") or quote_from_urls(text, url_entities),
        edit_chain=chain or (tweet_id,),
        raw={"data": dict(tweet), "includes": includes.subset(tweet)},
    )


def message_from_api(event: Mapping[str, Any], includes: Includes) -> Message:
    event_id = str(event["id"])
    media = tuple(
        Media(m.id, m.type, None, m.source) for m in api_media(event, includes)
    )
    return Message(
        id=event_id,
        text=plain_text(event.get("text")),
        created_at=parse_iso(event.get("created_at")) or snowflake_time(event_id),
        sender_id=_str_or_none(event.get("sender_id")),
        conversation_id=_str_or_none(event.get("dm_conversation_id")),
        media=media,
        raw={"data": dict(event), "includes": includes.subset(event)},
    )


def api_media(item: Mapping[str, Any], includes: Includes) -> Iterable[Media]:
    """attachments.media_keys resolved through includes.media (type and alt text from
    there; the key's prefix names the type when includes lack the object)."""
    for key in (item.get("attachments") or {}).get("media_keys") or []:
        key = str(key)
        found = includes.media.get(key) or {}
        yield Media(
            id=media_id_from_key(key),
            type=found.get("type") or media_type_from_key(key),
            description=found.get("alt_text") or None,
            source=download_url(found),
        )


def download_url(media: Mapping[str, Any]) -> str | None:
    """The photo itself, or a video's / GIF's best MP4 (highest bit rate)."""
    if media.get("url"):
        return str(media["url"])
    variants = [
        v for v in media.get("variants") or []
        if isinstance(v, Mapping) and v.get("url") and v.get("content_type") == "video/mp4"
    ]
    if variants:
        best = max(variants, key=_bit_rate)
        return str(best["url"])
    preview = media.get("preview_image_url")
    return str(preview) if preview else None


def _bit_rate(variant: Mapping[str, Any]) -> int:
    rate = variant.get("bit_rate")
    return rate if isinstance(rate, int) and not isinstance(rate, bool) else 0


def _ordered(entities: Any, name: str) -> list[Mapping[str, Any]]:
    return sorted(entity_list(entities, name), key=lambda e: int(e.get("start") or 0))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
