"""The ExportImporter interface: turn a platform's export file into CapturedItems.

Register under the entry-point group `archiver.importers` with the format name
used on the command line (`archiver import NAME FILE --account ID`). Items carry
CaptureContext(source="export", source_sha256=<file hash>); attachments inside the
archive use URLs `archive:<member name>` and are read from it, never fetched.
Native ids and normalised content must match the API connector's, so an import
overlapping API captures merges into the same items.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from archiver.item import CaptureContext, CapturedItem
from connectors.base import Account
from connectors.exports.safe_archive import ExportArchive, UnsafeArchiveError

ARCHIVE_URL_SCHEME = "archive:"
_JS_ASSIGNMENT = re.compile(rb"^\s*window\.[A-Za-z_$][\w$.\[\]\"']*\s*=\s*")


class ExportImporter(ABC):
    name: ClassVar[str]  # e.g. "x", "mastodon", "facebook", "instagram"
    platform: ClassVar[str]  # the platform its items belong to (same as the API connector)
    version: ClassVar[str]

    @abstractmethod
    def items(
        self, archive: ExportArchive, account: Account, source: CaptureContext
    ) -> Iterator[CapturedItem]:
        """Every item in the export, raising UnsafeArchiveError for malformed parts."""


def parse_js_assignment(archive: ExportArchive, member: str) -> Any:
    """The JSON value of an X-style `window.YTD.tweets.part0 = [...]` file."""
    data = archive.read(member)
    match = _JS_ASSIGNMENT.match(data)
    if match is None:
        raise UnsafeArchiveError(f"{member}: not a `window.<name> = ...` data file")
    return parse_json(data[match.end() :].rstrip().rstrip(b";"), member)


def parse_json(data: bytes, member: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig", errors="surrogateescape"))
    except ValueError as exc:
        raise UnsafeArchiveError(f"{member}: malformed JSON ({exc})") from exc
