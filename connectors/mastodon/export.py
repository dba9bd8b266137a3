"""Mastodon's account archive ("Request your archive"): outbox.json, actor.json and the
media files, imported as the same items the API connector captures.

Each Create activity's Note (or Question, for polls) and each Announce is turned into
the REST API's Status shape and normalised by the API connector's own `normalise`, so
native ids (the status id at the end of the ActivityPub id) and content agree wherever
the outbox carries the same facts. Where it does not (docs/platforms/mastodon.md lists
each case) the importer writes what the outbox says in the API's format:
  - `published`/`updated` have whole seconds; the API's created_at/edited_at have
    milliseconds, so they are written as ".000Z";
  - media URLs are paths inside the archive; content gets the instance's public
    `/system/` URL for them, the attachment the `archive:<member>` file;
  - a boost (Announce) names only the boosted status's URI, not its text;
  - DMs lack the API's conversation id and participants; a reply's thread root is known
    only when the whole chain is the account's own statuses in this export.

Mastodon before 4.2 served the archive as .tar.gz, later versions as .zip; the import
framework opens either (connectors.exports.safe_archive.open_export) with the same checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.item import Attachment, CaptureContext, CapturedItem
from connectors.base import Account
from connectors.exports.base import ARCHIVE_URL_SCHEME, ExportImporter, parse_json
from connectors.exports.safe_archive import ExportArchive, UnsafeArchiveError

from .html import parse_status_html
from .normalise import normalise, status_kind

OUTBOX = "outbox.json"
ACTOR = "actor.json"
PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})
_STATUS_ID = re.compile(r"/statuses/(?P<id>[^/]+?)(?:/activity)?/?$")
_PARTITION = re.compile(r"media_attachments/files/(?P<partition>(?:\d{3}/)+)")
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}


class MastodonOutboxImporter(ExportImporter):
    name = "mastodon"
    platform = "mastodon"
    version = "1.0.0"

    def items(
        self, archive: ExportArchive, account: Account, source: CaptureContext
    ) -> Iterator[CapturedItem]:
        outbox = parse_json(archive.read(OUTBOX), OUTBOX)
        if not isinstance(outbox, dict) or not isinstance(outbox.get("orderedItems"), list):
            raise UnsafeArchiveError(
                f"{OUTBOX}: not an ActivityPub OrderedCollection with orderedItems"
            )
        actor = parse_json(archive.read(ACTOR), ACTOR) if archive.exists(ACTOR) else {}
        if not isinstance(actor, dict):
            raise UnsafeArchiveError(f"{ACTOR}: not an ActivityPub actor object")
        context = _Context(archive, actor, outbox["orderedItems"], account)
        for activity in outbox["orderedItems"]:
            if not isinstance(activity, dict):
                raise UnsafeArchiveError(f"{OUTBOX}: an orderedItems entry is not an object")
            status = context.status(activity)
            if status is None:
                continue  # an activity type the API has no status for (none in practice)
            yield CapturedItem(
                platform=self.platform,
                account=account.handle,
                native_id=str(status["id"]),
                kind=status_kind(status),
                content=normalise(
                    status, edited_at=status["edited_at"],
                    extra={"thread_id": context.thread_root(status)},
                ),
                raw=activity,
                capture=source,
                attachments=context.attachments(activity),
            )


class _Context:
    """What turning one activity into a Status needs from the rest of the export."""

    def __init__(
        self, archive: Any, actor: Mapping[str, Any], activities: list[Any], account: Account
    ) -> None:
        self.archive = archive
        actor_id = str(actor.get("id") or "")
        parts = urlsplit(actor_id or account.settings.base_url)
        self.instance = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        self.host = parts.netloc.lower()
        self.username = str(actor.get("preferredUsername") or account.handle.lstrip("@")
                            .split("@")[0])
        self.followers = actor.get("followers") or (f"{actor_id}/followers" if actor_id else "")
        self.parents: dict[str, str | None] = {}  # own status id -> parent ("?": not ours)
        for activity in activities:
            if not isinstance(activity, dict) or activity.get("type") != "Create":
                continue
            note = activity.get("object")
            if not isinstance(note, dict):
                continue
            own = self.local_id(note.get("id"))
            if own is not None:
                reply_to = note.get("inReplyTo")
                self.parents[own] = (self.local_id(reply_to) or "?") if reply_to else None

    # -- ids --------------------------------------------------------------------------
    def local_id(self, uri: Any) -> str | None:
        """The status id in a URI of this instance (…/users/x/statuses/<id>[/activity])."""
        if not isinstance(uri, str):
            return None
        parts = urlsplit(uri)
        found = _STATUS_ID.search(parts.path)
        if found is None or (self.host and parts.netloc.lower() != self.host):
            return None
        return found["id"]

    def thread_root(self, status: Mapping[str, Any]) -> str | None:
        """The first status of the thread: the status itself unless it is a reply, else
        found by following replies through the account's own statuses in this export."""
        current = status.get("in_reply_to_id")
        if not current:
            return str(status["id"])
        for _ in range(10_000):  # a cycle in a crafted file must not hang the import
            if current not in self.parents:
                return None  # the chain leaves the export (someone else's status)
            parent = self.parents[current]
            if parent is None:
                return str(current)
            if parent == "?":
                return None
            current = parent
        return None

    # -- the Status ---------------------------------------------------------------------
    def status(self, activity: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = activity.get("type")
        if kind == "Create" and isinstance(activity.get("object"), dict):
            return self._from_note(activity, activity["object"])
        if kind == "Announce":
            return self._from_announce(activity)
        return None

    def _from_note(self, activity: Mapping[str, Any], note: Mapping[str, Any]) -> dict[str, Any]:
        uri = str(note.get("id") or activity.get("id") or "")
        status_id = self.local_id(uri) or _last_segment(uri)
        reply_to = note.get("inReplyTo")
        html = str(note.get("content") or "")
        poll = None
        if note.get("type") == "Question":
            choices = note.get("oneOf") or note.get("anyOf") or []
            poll = {"options": [{"title": c.get("name")} for c in choices if isinstance(c, dict)]}
        return {
            "id": status_id,
            "uri": uri,
            "url": note.get("url") or uri,
            "created_at": _api_time(note.get("published") or activity.get("published")),
            "edited_at": _api_time(note.get("updated")) if note.get("updated") else None,
            "in_reply_to_id": (self.local_id(reply_to) or reply_to) if reply_to else None,
            "visibility": self._visibility(note),
            "spoiler_text": note.get("summary") or "",
            "sensitive": bool(note.get("sensitive")),
            "content": html,
            "account": {"acct": self.username, "username": self.username},
            "mentions": self._mentions(html, note.get("tag")),
            "media_attachments": [self._media(a) for a in _attachments(note)],
            "poll": poll,
            "reblog": None,
        }

    def _from_announce(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        uri = str(activity.get("id") or "")
        target = activity.get("object")
        target_uri = target.get("id") if isinstance(target, dict) else target
        boosted_id = self.local_id(target_uri) or target_uri
        return {
            "id": self.local_id(uri) or _last_segment(uri),
            "uri": uri,
            "url": uri,
            "created_at": _api_time(activity.get("published")),
            "edited_at": None,
            "in_reply_to_id": None,
            "visibility": self._visibility(activity),
            "spoiler_text": "",
            "sensitive": False,
            "content": "",
            "account": {"acct": self.username, "username": self.username},
            "mentions": [],
            "media_attachments": [],
            "poll": None,
            "reblog": {"id": boosted_id, "account": {"acct": self._author_of(target_uri)},
                       "content": "", "media_attachments": [], "mentions": []},
        }

    def _visibility(self, obj: Mapping[str, Any]) -> str:
        """Mastodon's own rule (ActivityPub::Activity::Create#visibility_from_audience)."""
        to, cc = _audience(obj.get("to")), _audience(obj.get("cc"))
        if to & PUBLIC:
            return "public"
        if cc & PUBLIC:
            return "unlisted"
        if self.followers and self.followers in to:
            return "private"
        return "direct"

    def _mentions(self, html: str, tags: Any) -> list[dict[str, str]]:
        """The API's mentions (profile URL -> acct): the HTML links profile URLs, the
        Mention tags name each acct ("@user" here, "@user@host" elsewhere)."""
        accts: dict[tuple[str, str], str] = {}
        for tag in tags if isinstance(tags, list) else []:
            if isinstance(tag, dict) and tag.get("type") == "Mention" and tag.get("name"):
                acct = str(tag["name"]).lstrip("@")
                user, _, host = acct.partition("@")
                accts[(user.lower(), (host or self.host).lower())] = acct
        found = []
        for href in parse_status_html(html).mentions:
            parts = urlsplit(href)
            user = parts.path.rstrip("/").rsplit("/", 1)[-1].lstrip("@").lower()
            known = accts.get((user, parts.netloc.lower()))
            if known:
                found.append({"url": href, "acct": known})
        return found

    def _author_of(self, uri: Any) -> str | None:
        """A boosted status's author from its URI (…/users/<name>/statuses/<id>)."""
        if not isinstance(uri, str):
            return None
        parts = urlsplit(uri)
        found = re.search(r"/users/([^/]+)/", parts.path)
        if found is None:
            return None
        return found[1] if parts.netloc.lower() == self.host else f"{found[1]}@{parts.netloc}"

    # -- media ----------------------------------------------------------------------------
    def _media(self, attachment: Mapping[str, Any]) -> dict[str, Any]:
        member = _member(attachment.get("url"))
        partition = _PARTITION.search(member or "")
        major = str(attachment.get("mediaType") or "").partition("/")[0]
        return {
            "id": partition["partition"].replace("/", "") if partition else None,
            "type": MEDIA_TYPES.get(major, "unknown"),
            "url": f"{self.instance}/system/{member}" if member else None,
            "description": attachment.get("name"),
        }

    def attachments(self, activity: Mapping[str, Any]) -> tuple[Attachment, ...]:
        note = activity.get("object")
        if activity.get("type") != "Create" or not isinstance(note, dict):
            return ()
        found = []
        for attachment in _attachments(note):
            member = _member(attachment.get("url"))
            if member is None or not self.archive.exists(member):
                continue  # Mastodon leaves out files it could not read; the URL stays
            medium = self._media(attachment)
            found.append(
                Attachment(ARCHIVE_URL_SCHEME + member, medium["type"], medium["description"])
            )
        return tuple(found)


def _attachments(note: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = note.get("attachment")
    return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def _member(url: Any) -> str | None:
    """The archive member of an attachment URL: Mastodon writes the file's path, with
    the local-storage "/system/" prefix removed (a leading "/" when media is on a CDN)."""
    if not isinstance(url, str) or not url:
        return None
    path = urlsplit(url).path.lstrip("/")
    return path.removeprefix("system/") or None


def _audience(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _api_time(value: Any) -> str | None:
    """An ActivityPub time (whole seconds) in the REST API's format (milliseconds, Z)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").removesuffix("/activity").rsplit("/", 1)[-1] or uri


__all__ = ["MastodonOutboxImporter"]
