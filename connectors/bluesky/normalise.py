"""Bluesky posts, reposts and chat messages in the archive's normalised form.

The framework decides "edited" by comparing normalised content. On Bluesky a post is
a signed record addressed by its at:// uri; rewriting it (putRecord) gives the same
uri a new `cid`. So content holds what the record says (text, facets-derived links,
mentions and tags, embeds, langs, self-labels, reply refs) plus the `cid`, and the
few view facts that are stable for the record's life (the author's handle, the
media URLs the AppView serves for the record's blobs). Counters, display names,
viewer state and indexedAt stay in `raw`, so they never create versions.

Pure functions only: no HTTP here, so they can be tested on stored payloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from archiver.item import Attachment

POST_COLLECTION = "app.bsky.feed.post"
REPOST_COLLECTION = "app.bsky.feed.repost"
WEB_APP = "https://bsky.app"

REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
REASON_PIN = "app.bsky.feed.defs#reasonPin"
THREAD_VIEW_POST = "app.bsky.feed.defs#threadViewPost"
NOT_FOUND_POST = "app.bsky.feed.defs#notFoundPost"
MESSAGE_VIEW = "chat.bsky.convo.defs#messageView"
DELETED_MESSAGE_VIEW = "chat.bsky.convo.defs#deletedMessageView"


# -- identifiers and time -------------------------------------------------------------------
def split_at_uri(uri: str) -> tuple[str, str, str] | None:
    """(authority, collection, rkey) of an at:// record uri, or None for anything else."""
    if not uri.startswith("at://"):
        return None
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or not all(parts) or any(c in uri for c in "#?"):
        return None
    return parts[0], parts[1], parts[2]


def web_url(uri: str) -> str | None:
    """The bsky.app page of a post (by DID, which survives handle changes)."""
    parts = split_at_uri(uri)
    if parts is None or parts[1] != POST_COLLECTION:
        return None
    return f"{WEB_APP}/profile/{parts[0]}/post/{parts[2]}"


def dm_native_id(convo_id: str, message_id: str) -> str:
    """Chat messages are not repo records and have no at:// uri; this is their id here."""
    return f"dm:{convo_id}:{message_id}"


def parse_dm_native_id(native_id: str) -> tuple[str, str] | None:
    prefix, sep, rest = native_id.partition(":")
    convo_id, sep2, message_id = rest.partition(":")
    if prefix != "dm" or not sep or not sep2 or not convo_id or not message_id:
        return None
    return convo_id, message_id


def time_key(value: Any) -> str | None:
    """An RFC 3339 time as a fixed-width UTC string, so string order is time order
    (Bluesky mixes "Z" and "+00:00" and 3 or 6 fractional digits). None if unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def feed_sort_key(entry: Mapping[str, Any]) -> str | None:
    """Where a getAuthorFeed entry sorts: a repost at its indexedAt, a post at the earlier
    of createdAt and indexedAt (the AppView's sortAt, so backdated posts sort back)."""
    reason = entry.get("reason")
    if isinstance(reason, Mapping):
        if reason.get("$type") == REASON_PIN:
            return None  # shown on top out of order: never a stopping point
        if reason.get("$type") == REASON_REPOST:
            return time_key(reason.get("indexedAt"))
    post = entry.get("post") or {}
    record = post.get("record") or {}
    keys = [k for k in (time_key(post.get("indexedAt")), time_key(record.get("createdAt"))) if k]
    return min(keys) if keys else None


def evidence_body(payload: Any) -> str:
    """A JSON fragment as compact, key-sorted text (for evidence `body`)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- rich text --------------------------------------------------------------------------------
def _facet_features(facets: Any) -> Iterable[Mapping[str, Any]]:
    for facet in facets or []:
        if not isinstance(facet, Mapping):
            continue
        for feature in facet.get("features") or []:
            if isinstance(feature, Mapping):
                yield feature


def _unique(values: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and value:
            seen.setdefault(value, None)
    return list(seen)


def rich_text(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """Links, mentions (as DIDs: handles can be re-assigned, DIDs cannot) and tags from
    the record's facets (app.bsky.richtext.facet), plus its out-of-text `tags`."""
    features = list(_facet_features(record.get("facets")))

    def of(kind: str, key: str) -> list[Any]:
        return [f.get(key) for f in features if f.get("$type") == f"app.bsky.richtext.facet#{kind}"]

    return {
        "hashtags": _unique([*of("tag", "tag"), *(record.get("tags") or [])]),
        "mentions": _unique(of("mention", "did")),
        "urls": _unique(of("link", "uri")),
    }


# -- embeds -----------------------------------------------------------------------------------
def type_of(value: Any) -> str:
    return str(value.get("$type") or "") if isinstance(value, Mapping) else ""


def blob_cid(blob: Any) -> str | None:
    """The CID of a blob ref: {"$type": "blob", "ref": {"$link": cid}} or legacy {"cid": cid}."""
    if not isinstance(blob, Mapping):
        return None
    ref = blob.get("ref")
    if isinstance(ref, Mapping) and isinstance(ref.get("$link"), str):
        return str(ref["$link"])
    return str(blob["cid"]) if isinstance(blob.get("cid"), str) else None


def get_blob_url(service: str, did: str, cid: str) -> str:
    """com.atproto.sync.getBlob on the account's PDS: the original bytes of a blob."""
    query = urlencode({"did": did, "cid": cid})
    return f"{service.rstrip('/')}/xrpc/com.atproto.sync.getBlob?{query}"


def view_media(embed: Any) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """(media, external urls, quoted uri) from a post view's embed (#view types)."""
    kind = type_of(embed)
    media: list[dict[str, Any]] = []
    urls: list[str] = []
    quote: str | None = None
    if kind == "app.bsky.embed.images#view":
        for image in embed.get("images") or []:
            if isinstance(image, Mapping) and image.get("fullsize"):
                media.append(
                    {"url": image["fullsize"], "type": "image", "description": image.get("alt")}
                )
    elif kind == "app.bsky.embed.video#view":
        if embed.get("playlist"):  # an HLS playlist: listed, not downloaded
            media.append(
                {"url": embed["playlist"], "type": "video", "description": embed.get("alt")}
            )
    elif kind == "app.bsky.embed.external#view":
        external = embed.get("external") or {}
        if external.get("uri"):
            urls.append(str(external["uri"]))
    elif kind == "app.bsky.embed.record#view":
        quote = _quoted_uri(embed.get("record"))
    elif kind == "app.bsky.embed.recordWithMedia#view":
        media, urls, _ = view_media(embed.get("media"))
        record = embed.get("record") or {}
        quote = _quoted_uri(record.get("record"))
    return media, urls, quote


def record_media(
    embed: Any, *, service: str, did: str
) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """(media, external urls, quoted uri) from a record's embed, for records no AppView
    has hydrated: blobs are fetched from the PDS with com.atproto.sync.getBlob."""
    kind = type_of(embed)
    media: list[dict[str, Any]] = []
    urls: list[str] = []
    quote: str | None = None
    if kind == "app.bsky.embed.images":
        for image in embed.get("images") or []:
            cid = blob_cid(image.get("image")) if isinstance(image, Mapping) else None
            if cid:
                url = get_blob_url(service, did, cid)
                media.append({"url": url, "type": "image", "description": image.get("alt")})
    elif kind == "app.bsky.embed.video":
        cid = blob_cid(embed.get("video"))
        if cid:
            url = get_blob_url(service, did, cid)
            media.append({"url": url, "type": "video", "description": embed.get("alt")})
    elif kind == "app.bsky.embed.external":
        external = embed.get("external") or {}
        if external.get("uri"):
            urls.append(str(external["uri"]))
    elif kind == "app.bsky.embed.record":
        quote = _quoted_uri(embed.get("record"))
    elif kind == "app.bsky.embed.recordWithMedia":
        media, urls, _ = record_media(embed.get("media"), service=service, did=did)
        quote = _quoted_uri((embed.get("record") or {}).get("record"))
    return media, urls, quote


def _quoted_uri(record: Any) -> str | None:
    if isinstance(record, Mapping) and isinstance(record.get("uri"), str):
        return str(record["uri"])
    return None


def attachments(media: Iterable[Mapping[str, Any]]) -> tuple[Attachment, ...]:
    """What the capture pipeline downloads: images, and videos served as whole files
    (a view's HLS playlist is not the video, so it stays a URL in content only)."""
    found = []
    for entry in media:
        url = str(entry.get("url") or "")
        kind = entry.get("type")
        if not url or (kind == "video" and url.endswith(".m3u8")):
            continue
        found.append(Attachment(url, str(kind or "unknown"), entry.get("description")))
    return tuple(found)


# -- posts ------------------------------------------------------------------------------------
def _self_labels(record: Mapping[str, Any]) -> str | None:
    labels = record.get("labels")
    if not isinstance(labels, Mapping) or type_of(labels) != "com.atproto.label.defs#selfLabels":
        return None
    values = _unique(v.get("val") for v in labels.get("values") or [] if isinstance(v, Mapping))
    return ", ".join(values) or None


def post_kind(record: Mapping[str, Any]) -> str:
    return "reply" if isinstance(record.get("reply"), Mapping) else "post"


def _post_content(
    uri: str,
    cid: str | None,
    record: Mapping[str, Any],
    *,
    author_handle: str | None,
    author_did: str | None,
    media: list[dict[str, Any]],
    embed_urls: list[str],
    quote: str | None,
) -> dict[str, Any]:
    reply = record.get("reply") if isinstance(record.get("reply"), Mapping) else None
    parent = (reply or {}).get("parent") or {}
    root = (reply or {}).get("root") or {}
    langs = [str(x) for x in record.get("langs") or [] if isinstance(x, str)]
    text = rich_text(record)
    return {
        "text": str(record.get("text") or ""),
        "author": author_handle,
        "author_did": author_did,
        "created_at": record.get("createdAt"),
        "url": web_url(uri),
        "in_reply_to": parent.get("uri") if reply else None,
        "thread_id": (root.get("uri") or parent.get("uri")) if reply else uri,
        "lang": langs[0] if langs else None,
        "langs": langs,
        "hashtags": text["hashtags"],
        "mentions": text["mentions"],
        "urls": _unique([*text["urls"], *embed_urls]),
        "media": media,
        "quote_of": quote,
        "content_warning": _self_labels(record),
        "visibility": "public",
        "boost_of": None,
        "cid": cid,
    }


def post_view_content(post: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised content of an app.bsky.feed.defs#postView (author feed, getPosts, threads)."""
    author = post.get("author") or {}
    record = post.get("record") or {}
    media, urls, quote = view_media(post.get("embed"))
    return _post_content(
        str(post.get("uri") or ""),
        post.get("cid"),
        record,
        author_handle=author.get("handle"),
        author_did=author.get("did"),
        media=media,
        embed_urls=urls,
        quote=quote,
    )


def record_content(
    entry: Mapping[str, Any], *, handle: str, did: str, service: str
) -> dict[str, Any]:
    """Normalised content of a com.atproto.repo.listRecords entry ({uri, cid, value})."""
    record = entry.get("value") or {}
    media, urls, quote = record_media(record.get("embed"), service=service, did=did)
    return _post_content(
        str(entry.get("uri") or ""),
        entry.get("cid"),
        record,
        author_handle=handle,
        author_did=did,
        media=media,
        embed_urls=urls,
        quote=quote,
    )


def repost_native_id(entry: Mapping[str, Any]) -> str:
    """The repost record's at:// uri (reasonRepost.uri, on current AppViews); older
    AppViews omit it, so fall back to the subject uri marked with the reposter's DID."""
    reason = entry.get("reason") or {}
    if isinstance(reason.get("uri"), str) and reason["uri"]:
        return str(reason["uri"])
    by = (reason.get("by") or {}).get("did") or "unknown"
    return f"{(entry.get('post') or {}).get('uri')}#repost-by-{by}"


def repost_content(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A repost by the account: kind "post" with boost_of, showing what was amplified."""
    reason = entry.get("reason") or {}
    by = reason.get("by") or {}
    post = entry.get("post") or {}
    original = post_view_content(post)
    return {
        "text": original["text"],
        "author": by.get("handle"),
        "author_did": by.get("did"),
        "created_at": reason.get("indexedAt"),
        "url": original["url"],
        "in_reply_to": None,
        "thread_id": None,
        "lang": original["lang"],
        "langs": original["langs"],
        "hashtags": original["hashtags"],
        "mentions": original["mentions"],
        "urls": original["urls"],
        "media": original["media"],
        "quote_of": original["quote_of"],
        "content_warning": original["content_warning"],
        "visibility": "public",
        "boost_of": post.get("uri"),
        "boost_author": original["author"],
        "boost_of_cid": post.get("cid"),
        "cid": reason.get("cid"),
    }


# -- chat -------------------------------------------------------------------------------------
def members_by_did(convo: Mapping[str, Any]) -> dict[str, str]:
    """DID -> handle of a conversation's members (chat.bsky.actor.defs#profileViewBasic)."""
    found: dict[str, str] = {}
    for member in convo.get("members") or []:
        if isinstance(member, Mapping) and member.get("did"):
            found[str(member["did"])] = str(member.get("handle") or member["did"])
    return found


def message_content(message: Mapping[str, Any], convo: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised content of a chat.bsky.convo.defs#messageView."""
    members = members_by_did(convo)
    sender = str((message.get("sender") or {}).get("did") or "")
    text = rich_text(message)
    embed = message.get("embed")
    quote = _quoted_uri((embed or {}).get("record")) if isinstance(embed, Mapping) else None
    return {
        "text": str(message.get("text") or ""),
        "author": members.get(sender, sender or None),
        "author_did": sender or None,
        "created_at": message.get("sentAt"),
        "conversation_id": convo.get("id"),
        "thread_id": convo.get("id"),
        "participants": sorted(members.values()),
        "participant_dids": sorted(members),
        "hashtags": text["hashtags"],
        "mentions": text["mentions"],
        "urls": text["urls"],
        "quote_of": quote,
        "visibility": "direct",
        "message_id": message.get("id"),
    }
