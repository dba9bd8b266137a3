"""Mastodon statuses (and their history entries) in the archive's normalised form.

The framework decides "edited" by comparing normalised content, so every field that
can change between versions is taken from what a status and a history entry
(GET /api/v1/statuses/:id/history) both carry: the HTML body, spoiler_text,
sensitive, media attachments and poll options. Everything else comes from the
status and is fixed for its life on Mastodon (author, created_at, url, visibility,
in_reply_to, boost_of). Counters, display names, `language` (editable but absent
from history) and the like stay in `raw`, so they never create versions.
An unedited status and its history entry 0 therefore normalise identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archiver.item import Attachment

from .html import parse_status_html

MEDIA_TYPES = frozenset({"image", "video", "gifv", "audio", "unknown"})


def status_kind(status: Mapping[str, Any]) -> str:
    """post, reply or dm, from the status alone (a boost is a post)."""
    if status.get("visibility") == "direct":
        return "dm"
    if status.get("in_reply_to_id"):
        return "reply"
    return "post"


def account_acct(account: Mapping[str, Any] | None) -> str | None:
    """The handle Mastodon shows (`user` on the same instance, `user@host` elsewhere)."""
    if not account:
        return None
    value = account.get("acct") or account.get("username")
    return str(value) if value is not None else None


def normalise(
    status: Mapping[str, Any],
    version: Mapping[str, Any] | None = None,
    *,
    edited_at: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Normalised content of `status`, or of one of its history entries (`version`).

    `edited_at` is None for the original, the history entry's created_at for a later
    version and the status's edited_at for the current one (Mastodon writes both from
    the same timestamp). `extra` adds what only the request context knows
    (thread_id, conversation_id, participants).
    """
    boosted = status.get("reblog") or None
    shown: Mapping[str, Any] = version if version is not None else (boosted or status)
    body_owner = boosted or status
    parsed = parse_status_html(str(shown.get("content") or ""))
    accts = {
        m["url"]: m["acct"]
        for m in body_owner.get("mentions") or []
        if isinstance(m, Mapping) and m.get("url") and m.get("acct")
    }
    content: dict[str, Any] = {
        "text": parsed.text,
        "author": account_acct(status.get("account")),
        "created_at": status.get("created_at"),
        "url": status.get("url") or status.get("uri"),
        "in_reply_to": status.get("in_reply_to_id"),
        "visibility": status.get("visibility"),
        "content_warning": shown.get("spoiler_text") or None,
        "sensitive": bool(shown.get("sensitive")),
        "hashtags": parsed.hashtags,
        "mentions": [accts.get(href, href) for href in parsed.mentions],
        "urls": parsed.urls,
        "media": [_media_entry(m) for m in _media(shown)],
        "poll": _poll(shown.get("poll")),
        "edited_at": edited_at,
        "boost_of": boosted.get("id") if boosted else None,
    }
    if boosted:
        content["boost_author"] = account_acct(boosted.get("account"))
    content.update(extra or {})
    return content


def attachments(status: Mapping[str, Any], version: Mapping[str, Any] | None = None
                ) -> tuple[Attachment, ...]:
    """Media for the capture pipeline to download (a boost's are the boosted status's)."""
    shown = version if version is not None else (status.get("reblog") or status)
    found: list[Attachment] = []
    for media in _media(shown):
        url = media.get("url") or media.get("remote_url")
        if not url:
            continue
        kind = media.get("type")
        found.append(
            Attachment(
                url=str(url),
                media_type=kind if kind in MEDIA_TYPES else "unknown",
                description=media.get("description"),
            )
        )
    return tuple(found)


def _media(shown: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [m for m in shown.get("media_attachments") or [] if isinstance(m, Mapping)]


def _media_entry(media: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": media.get("id"),
        "type": media.get("type"),
        "url": media.get("url") or media.get("remote_url"),
        "description": media.get("description"),
    }


def _poll(poll: Any) -> dict[str, Any] | None:
    """Only the option titles: history entries carry nothing else of a poll."""
    if not isinstance(poll, Mapping):
        return None
    options = [o.get("title") for o in poll.get("options") or [] if isinstance(o, Mapping)]
    return {"options": options}
