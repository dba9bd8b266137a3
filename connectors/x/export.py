"""The X "Download your archive" importer (`archiver import x FILE.zip --account ID`).

`data/manifest.js` (window.__THAR_CONFIG) names every part of every data type
(tweets.js, tweets-part1.js, ...) and its media folder; without a manifest the parts
are found by their usual names. Read here:
  - tweets (posts and the account's replies; an edit is its own entry, grouped back
    into one item by its edit chain, earlier versions as history);
  - deleted-tweets: the content as it was (as history, so a re-import adds nothing),
    then a tombstone with evidence {"source": "<file>", "deleted_at": ...};
  - direct-messages and direct-messages-group: every messageCreate, kind "dm";
  - media from `<media folder>/<item id>-<file name>` inside the zip.
Everything goes through the normaliser the API connector uses, so an import that
overlaps API captures merges into the same items. Every file is parsed before the
first item is yielded: a malformed part (a broken `window.YTD...` wrapper) raises
UnsafeArchiveError and nothing is imported.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archiver.errors import UsageError
from archiver.item import CaptureContext, CapturedItem
from connectors.base import Account
from connectors.exports.base import ARCHIVE_URL_SCHEME, ExportImporter, parse_js_assignment
from connectors.exports.safe_archive import ExportArchive, UnsafeArchiveError

from .from_archive import MediaMember, message_from_archive, post_from_archive
from .normalise import (
    Message,
    Post,
    id_order,
    message_attachments,
    message_content,
    post_attachments,
    post_content,
    snowflake_time,
)

log = logging.getLogger(__name__)

MANIFEST = "data/manifest.js"
ACCOUNT = "data/account.js"
_PARTS = {  # data type -> file names when the manifest does not list it (older archives)
    "tweets": re.compile(r"data/tweets?(?:-part(\d+))?\.js"),
    "deletedTweets": re.compile(r"data/deleted-tweets(?:-part(\d+))?\.js"),
    "directMessages": re.compile(r"data/direct-messages(?:-part(\d+))?\.js"),
    "directMessagesGroup": re.compile(r"data/direct-messages-group(?:-part(\d+))?\.js"),
}
_MEDIA_FOLDERS = {
    "tweets": "data/tweets_media",
    "deletedTweets": "data/deleted_tweets_media",
    "directMessages": "data/direct_messages_media",
    "directMessagesGroup": "data/direct_messages_group_media",
}


@dataclass
class _Version:
    post: Post
    member: str
    deleted_at: Any = None


@dataclass
class ParsedArchive:
    """Everything importable in one export, read and checked."""

    user_id: str
    username: str
    chains: list[list[_Version]] = field(default_factory=list)
    deleted_chains: list[list[_Version]] = field(default_factory=list)
    messages: list[tuple[Message, str]] = field(default_factory=list)


class XArchiveImporter(ExportImporter):
    name = "x"
    platform = "x"
    version = "1.0.0"

    def items(
        self, archive: ExportArchive, account: Account, source: CaptureContext
    ) -> Iterator[CapturedItem]:
        parsed = read_archive(archive)
        expected = getattr(account.settings, "user_id", None)
        if expected and expected != parsed.user_id:
            raise UsageError(
                f"{archive.path} is the archive of user {parsed.user_id} "
                f"(@{parsed.username}), but account {account.handle} is user {expected}"
            )
        for chain in parsed.chains:
            yield from self._chain(chain, parsed, account, source, deleted=False)
        for chain in parsed.deleted_chains:
            yield from self._chain(chain, parsed, account, source, deleted=True)
        for message, member in parsed.messages:
            yield CapturedItem(
                platform=self.platform,
                account=account.handle,
                native_id=message.id,
                kind="dm",
                content=message_content(message),
                raw=message.raw,
                capture=_from(source, member),
                attachments=message_attachments(message),
            )

    def _chain(
        self,
        chain: list[_Version],
        parsed: ParsedArchive,
        account: Account,
        source: CaptureContext,
        *,
        deleted: bool,
    ) -> Iterator[CapturedItem]:
        """The versions of one post, oldest first (all of them history when the post was
        deleted), then for a deleted post its tombstone."""
        latest = chain[-1]
        native_id = latest.post.native_id
        first = next((v.post for v in chain if v.post.id == native_id), None)
        created_at = (first.created_at if first else None) or snowflake_time(native_id)
        kind = latest.post.kind
        for index, version in enumerate(chain):
            yield CapturedItem(
                platform=self.platform,
                account=account.handle,
                native_id=native_id,
                kind=kind,
                content=post_content(
                    version.post, native_id=native_id, created_at=created_at,
                    own_user_id=parsed.user_id,
                ),
                raw=version.post.raw,
                capture=_from(source, version.member),
                historical=deleted or index < len(chain) - 1,
                attachments=post_attachments(version.post),
            )
        if deleted:
            evidence = {
                "source": latest.member.rsplit("/", 1)[-1],
                "deleted_at": latest.deleted_at,
            }
            yield CapturedItem(
                platform=self.platform,
                account=account.handle,
                native_id=native_id,
                kind=kind,
                content=evidence,
                raw={"deleted_at": latest.deleted_at},
                capture=_from(source, latest.member),
                deleted=True,
            )


def read_archive(archive: ExportArchive) -> ParsedArchive:
    """Parse every part the archive holds; UnsafeArchiveError for anything malformed."""
    manifest = _manifest(archive)
    user_id, username = _owner(archive, manifest)
    parsed = ParsedArchive(user_id, username)
    for data_type, target in (("tweets", parsed.chains), ("deletedTweets", parsed.deleted_chains)):
        media = _media_member(archive, _media_folder(manifest, data_type))
        versions = []
        for member in _data_files(archive, manifest, data_type):
            for tweet in _entries(archive, member, "tweet"):
                if tweet.get("id_str") is None and tweet.get("id") is None:
                    raise UnsafeArchiveError(f"{member}: a tweet without an id")
                post = post_from_archive(
                    tweet, username=username, user_id=user_id, media_member=media
                )
                versions.append(_Version(post, member, tweet.get("deleted_at")))
        target.extend(_chains(versions))
    seen: set[str] = set()
    for data_type in ("directMessages", "directMessagesGroup"):
        media = _media_member(archive, _media_folder(manifest, data_type))
        for member in _data_files(archive, manifest, data_type):
            for conversation in _entries(archive, member, "dmConversation"):
                conversation_id = conversation.get("conversationId")
                for event in conversation.get("messages") or []:
                    created = event.get("messageCreate") if isinstance(event, dict) else None
                    if not isinstance(created, dict):
                        continue  # joins, leaves, renames, reactions: not messages
                    if created.get("id") is None:
                        raise UnsafeArchiveError(f"{member}: a message without an id")
                    if str(created["id"]) in seen:
                        continue
                    seen.add(str(created["id"]))
                    message = message_from_archive(
                        created, str(conversation_id) if conversation_id else None, media
                    )
                    parsed.messages.append((message, member))
    parsed.messages.sort(key=lambda pair: id_order(pair[0].id))
    return parsed


def _manifest(archive: ExportArchive) -> dict[str, Any]:
    if not archive.exists(MANIFEST):
        return {}
    value = parse_js_assignment(archive, MANIFEST)
    if not isinstance(value, dict):
        raise UnsafeArchiveError(f"{MANIFEST}: expected an object")
    return value


def _owner(archive: ExportArchive, manifest: dict[str, Any]) -> tuple[str, str]:
    """Whose archive this is: the manifest's userInfo, else data/account.js."""
    info = manifest.get("userInfo")
    if isinstance(info, dict) and info.get("accountId") and info.get("userName"):
        return str(info["accountId"]), str(info["userName"])
    if archive.exists(ACCOUNT):
        for account in _entries(archive, ACCOUNT, "account"):
            if account.get("accountId") and account.get("username"):
                return str(account["accountId"]), str(account["username"])
    raise UnsafeArchiveError(
        f"{archive.path}: neither {MANIFEST} (userInfo) nor {ACCOUNT} says whose archive "
        "this is; is it an X archive?"
    )


def _data_files(archive: ExportArchive, manifest: dict[str, Any], data_type: str) -> list[str]:
    """The parts of one data type, in order: as the manifest lists them, else by name."""
    types = manifest.get("dataTypes")
    entry = types.get(data_type) if isinstance(types, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("files"), list):
        files = []
        for listed in entry["files"]:
            name = listed.get("fileName") if isinstance(listed, dict) else None
            if not isinstance(name, str):
                raise UnsafeArchiveError(f"{MANIFEST}: a {data_type} file without fileName")
            if not archive.exists(name):
                # X lists types it wrote no file for, and people strip parts (DMs) before
                # handing an archive over: import what is there, say what is not.
                count = str(listed.get("count") or "0")
                if count != "0":
                    log.warning("%s: %s lists %s with %s entries, but the archive lacks it; "
                                "importing the rest", archive.path, MANIFEST, name, count)
                continue
            files.append(name)
        return files
    pattern = _PARTS[data_type]
    found = [(m, n) for n in archive.names() if (m := pattern.fullmatch(n))]
    return [name for match, name in sorted(found, key=lambda f: int(f[0].group(1) or 0))]


def _media_folder(manifest: dict[str, Any], data_type: str) -> str:
    types = manifest.get("dataTypes")
    entry = types.get(data_type) if isinstance(types, dict) else None
    folder = entry.get("mediaDirectory") if isinstance(entry, dict) else None
    return str(folder).rstrip("/") if folder else _MEDIA_FOLDERS[data_type]


def _media_member(archive: ExportArchive, folder: str) -> MediaMember:
    def find(item_id: str, file_name: str) -> str | None:
        name = f"{folder}/{item_id}-{file_name}"
        return f"{ARCHIVE_URL_SCHEME}{name}" if file_name and archive.exists(name) else None

    return find


def _entries(archive: ExportArchive, member: str, key: str) -> list[dict[str, Any]]:
    """The `{key: {...}}` objects of a `window.YTD.<type>.partN = [...]` file."""
    value = parse_js_assignment(archive, member)
    if not isinstance(value, list):
        raise UnsafeArchiveError(f"{member}: expected a list of entries")
    found = []
    for index, entry in enumerate(value):
        inner = entry.get(key) if isinstance(entry, dict) else None
        if not isinstance(inner, dict):
            raise UnsafeArchiveError(f"{member}: entry {index} has no {key!r} object")
        found.append(inner)
    return found


def _chains(versions: list[_Version]) -> list[list[_Version]]:
    """Entries grouped into edit chains (one item each), versions oldest first."""
    groups: dict[str, dict[str, _Version]] = {}
    for version in versions:
        groups.setdefault(version.post.native_id, {}).setdefault(version.post.id, version)
    chains = []
    for native_id in sorted(groups, key=id_order):
        members = list(groups[native_id].values())
        chain = max((v.post.edit_chain for v in members), key=len)
        position = {version_id: n for n, version_id in enumerate(chain)}
        members.sort(key=lambda v: (position.get(v.post.id, len(position)), id_order(v.post.id)))
        chains.append(members)
    return chains


def _from(source: CaptureContext, member: str) -> CaptureContext:
    """The import's context, naming the file the item came from."""
    return dataclasses.replace(source, request_url=f"{ARCHIVE_URL_SCHEME}{member}")
