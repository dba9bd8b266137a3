"""Test zips in the "Download your archive" layout, built from the real fixture files.

`build_archive` starts from tests/fixtures/x_archive/tweets.js and manifest.js (real,
@darkliquid, 28 tweets) and can split the tweets into parts, move some to
deleted-tweets.js, add an edited version, add DMs and media; the manifest's file list
is rewritten to match. With the defaults, data/tweets.js is the fixture byte for byte.
"""

from __future__ import annotations

import copy
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fakes.x import ARCHIVE_FIXTURES, PHOTO_FILE, PHOTO_ID, load_archive_js, png

TWEET_COUNT = 28
POSTS = [entry["tweet"] for entry in load_archive_js("tweets.js")]
REAL_TWEETS_JS = (ARCHIVE_FIXTURES / "tweets.js").read_bytes()


def archive_time(iso_time: str) -> str:
    """"2024-01-01T00:00:00.000Z" in the archive's tweet format."""
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    return moment.strftime("%a %b %d %H:%M:%S +0000 %Y")


def edited_version(original: Mapping[str, Any], new_id: str, text: str, created_at: str
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the original updated, the edit) as an archive holds an edited tweet: both entries,
    the original's edit_info.initial listing both ids, the edit's edit_info.edit naming
    the initial id (constructed after X's archive format; the fixture has no edits)."""
    first = copy.deepcopy(dict(original))
    controls = first["edit_info"]["initial"]
    controls["editTweetIds"] = [first["id_str"], new_id]
    edit = copy.deepcopy(first)
    edit.update(id_str=new_id, id=new_id, full_text=text, created_at=created_at)
    edit["entities"] = {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}
    edit.pop("extended_entities", None)
    edit["display_text_range"] = ["0", str(len(text))]
    edit["edit_info"] = {"edit": {
        "initialTweetId": first["id_str"],
        "editControlInitial": {**controls, "editsRemaining": "4"},
    }}
    return first, edit


def dm_conversation(conversation_id: str, messages: Iterable[Mapping[str, Any]]
                    ) -> dict[str, Any]:
    """One dmConversation entry; X lists a conversation's messages newest first."""
    ordered = sorted(messages, key=lambda m: int(m["id"]), reverse=True)
    return {"dmConversation": {
        "conversationId": conversation_id,
        "messages": [{"messageCreate": dict(m)} for m in ordered],
    }}


def dms_from_api(events: Iterable[Mapping[str, Any]], media_urls: Mapping[str, str] | None = None
                 ) -> list[dict[str, Any]]:
    """The archive's direct-messages.js entries for v2 DM events (what the same messages
    look like in an export: ids, senderId/recipientId, createdAt, text, mediaUrls)."""
    conversations: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        conversation = event["dm_conversation_id"]
        low, high = conversation.split("-")
        recipient = high if event["sender_id"] == low else low
        conversations.setdefault(conversation, []).append({
            "recipientId": recipient,
            "reactions": [],
            "urls": [],
            "text": event["text"],
            "mediaUrls": [url for url in [(media_urls or {}).get(event["id"])] if url],
            "senderId": event["sender_id"],
            "id": event["id"],
            "createdAt": event["created_at"],
        })
    return [dm_conversation(key, value) for key, value in conversations.items()]


def js(global_name: str, value: Any) -> bytes:
    return f"window.{global_name} = {json.dumps(value, indent=2, ensure_ascii=False)}".encode()


def build_archive(
    path: Path,
    *,
    parts: int = 1,
    posts: Sequence[Mapping[str, Any]] | None = None,
    deleted: Sequence[Mapping[str, Any]] = (),
    dms: Sequence[Mapping[str, Any]] = (),
    media: Mapping[str, bytes] | None = None,
    manifest: bool = True,
    replace: Mapping[str, bytes] | None = None,
) -> Path:
    """Write the zip. `posts` default to the fixture's 28 (as the real file when parts=1);
    `deleted` entries get a deleted_at unless they have one; `media` maps member names
    to bytes (default: the photo of PHOTO_ID); `replace` overrides members verbatim."""
    real_manifest = load_archive_js("manifest.js")
    chosen = [dict(p) for p in (POSTS if posts is None else posts)]
    members: dict[str, bytes] = {}
    files = []
    size = -(-len(chosen) // parts) if chosen else 0
    for index in range(parts):
        chunk = chosen[index * size : (index + 1) * size]
        name = "data/tweets.js" if index == 0 else f"data/tweets-part{index}.js"
        if posts is None and parts == 1:
            members[name] = REAL_TWEETS_JS
        else:
            members[name] = js(f"YTD.tweets.part{index}", [{"tweet": p} for p in chunk])
        files.append({"fileName": name, "globalName": f"YTD.tweets.part{index}",
                      "count": str(len(chunk))})
    types = real_manifest["dataTypes"]
    types["tweets"]["files"] = files
    if deleted:
        entries = [{"tweet": {"deleted_at": "2023-06-01T10:00:00.000Z", **d}} for d in deleted]
        members["data/deleted-tweets.js"] = js("YTD.deleted_tweets.part0", entries)
        types["deletedTweets"]["files"][0]["count"] = str(len(entries))
    if dms:
        members["data/direct-messages.js"] = js("YTD.direct_messages.part0", list(dms))
        types["directMessages"]["files"][0]["count"] = str(len(dms))
    if manifest:
        members["data/manifest.js"] = js("__THAR_CONFIG", real_manifest)
    chosen_media = {f"data/tweets_media/{PHOTO_ID}-{PHOTO_FILE}": png()} if media is None else media
    members.update(chosen_media)
    members.update(replace or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path
