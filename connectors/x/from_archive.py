""""Download your archive" entries (tweets.js, deleted-tweets.js, direct-messages*.js)
read into normaliser facts. Every number in these files is a string; ids are `id_str`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .normalise import (
    Media,
    Message,
    Post,
    entity_list,
    expanded_urls,
    parse_archive_time,
    parse_iso,
    plain_text,
    quote_from_urls,
    snowflake_time,
    url_basename,
)

MediaMember = Callable[[str, str], str | None]
"""(item id, media file name) -> `archive:<member>` when the export holds the file."""

_RETWEET_PREFIX = "RT @"
_DM_MEDIA = re.compile(r"/(?:dm_video|dm_gif|amplify_video)/(\d+)/|/dm/\d+/(\d+)/")


def post_from_archive(
    tweet: Mapping[str, Any], *, username: str | None, user_id: str | None,
    media_member: MediaMember,
) -> Post:
    tweet_id = str(tweet.get("id_str") or tweet.get("id"))
    text = plain_text(tweet.get("full_text") if "full_text" in tweet else tweet.get("text"))
    entities = tweet.get("entities") or {}
    url_entities = entity_list(entities, "urls")
    quoted = tweet.get("quoted_status_id_str") or tweet.get("quoted_status_id")
    return Post(
        id=tweet_id,
        text=text,
        author=username,
        author_id=user_id,
        created_at=parse_archive_time(tweet.get("created_at")) or snowflake_time(tweet_id),
        lang=tweet.get("lang"),
        in_reply_to=_str_or_none(
            tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id")
        ),
        in_reply_to_user_id=_str_or_none(
            tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id")
        ),
        conversation_id=None,  # the archive does not record it
        hashtags=tuple(str(h.get("text")) for h in _ordered(entities, "hashtags")),
        mentions=tuple(str(m.get("screen_name")) for m in _ordered(entities, "user_mentions")),
        urls=expanded_urls(url_entities),
        media=tuple(_tweet_media(tweet, tweet_id, media_member)),
        retweet="retweeted_status" in tweet or text.startswith(_RETWEET_PREFIX),
        quote_of=str(quoted) if quoted else quote_from_urls(text, url_entities),
        edit_chain=edit_chain(tweet, tweet_id),
        raw=dict(tweet),
    )


def edit_chain(tweet: Mapping[str, Any], tweet_id: str) -> tuple[str, ...]:
    """edit_info.initial.editTweetIds (an original) or edit_info.edit's (an edit), oldest
    first, always starting with the initial id."""
    info = tweet.get("edit_info")
    if not isinstance(info, Mapping):
        return (tweet_id,)
    initial = info.get("initial")
    edit = info.get("edit")
    controls = initial if isinstance(initial, Mapping) else None
    first = None
    if controls is None and isinstance(edit, Mapping):
        controls = edit.get("editControlInitial")
        first = edit.get("initialTweetId")
    ids = [str(i) for i in (controls or {}).get("editTweetIds") or [] if i is not None]
    if first is not None and (not ids or ids[0] != str(first)):
        ids = [str(first), *[i for i in ids if i != str(first)]]
    if tweet_id not in ids:
        ids.append(tweet_id)
    return tuple(ids)


def message_from_archive(
    message: Mapping[str, Any], conversation_id: str | None, media_member: MediaMember
) -> Message:
    message_id = str(message["id"])
    media = []
    for url in message.get("mediaUrls") or []:
        url = str(url)
        found = _DM_MEDIA.search(url)
        media_id = (found.group(1) or found.group(2)) if found else url_basename(url)
        kind = "video" if "/dm_video/" in url or "/amplify_video/" in url else (
            "animated_gif" if "/dm_gif/" in url else "photo"
        )
        media.append(Media(media_id, kind, None, media_member(message_id, url_basename(url))))
    return Message(
        id=message_id,
        text=plain_text(message.get("text")),
        created_at=parse_iso(message.get("createdAt")) or snowflake_time(message_id),
        sender_id=_str_or_none(message.get("senderId")),
        conversation_id=conversation_id,
        media=tuple(media),
        raw=dict(message),
    )


def _tweet_media(
    tweet: Mapping[str, Any], tweet_id: str, media_member: MediaMember
) -> list[Media]:
    extended = tweet.get("extended_entities") or {}
    listed = entity_list(extended, "media") or entity_list(tweet.get("entities") or {}, "media")
    found = []
    for media in listed:
        kind = media.get("type")
        file_url = str(media.get("media_url_https") or media.get("media_url") or "")
        if kind in ("video", "animated_gif"):
            file_url = _best_variant(media) or file_url
        found.append(
            Media(
                id=str(media.get("id_str") or media.get("id")),
                type=str(kind) if kind else None,
                description=media.get("ext_alt_text") or None,
                source=media_member(tweet_id, url_basename(file_url)) if file_url else None,
            )
        )
    return found


def _best_variant(media: Mapping[str, Any]) -> str | None:
    variants = [
        v for v in (media.get("video_info") or {}).get("variants") or []
        if isinstance(v, Mapping) and v.get("url") and v.get("content_type") == "video/mp4"
    ]
    if not variants:
        return None
    return str(max(variants, key=lambda v: _number(v.get("bitrate")))["url"])


def _ordered(entities: Any, name: str) -> list[Mapping[str, Any]]:
    def start(entity: Mapping[str, Any]) -> int:
        indices = entity.get("indices") or ["0"]
        try:
            return int(indices[0])
        except (TypeError, ValueError):
            return 0

    return sorted(entity_list(entities, name), key=start)


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
