"""A record's stored bytes and a record's media as downloads, audited: the same
for the pages and the JSON API."""

from __future__ import annotations

from flask import Response, abort

from archiver.archive import Archive
from archiver.web.records_view import NotFoundError, disposition_for, load_record, media_download
from storage.objects.base import ObjectNotFoundError


def record_file(archive: Archive, record_id: str) -> Response:
    """The record's canonical bytes, exactly as stored (their SHA-256 is the id)."""
    try:
        record = load_record(archive, record_id)
    except ObjectNotFoundError:
        raise NotFoundError(f"no stored record {record_id}") from None
    archive.audit.record(archive.actor, "record-download", {"record_id": record_id})
    return Response(record.data, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{record_id}.json"'})


def media_file(archive: Archive, record_id: str, sha256: str, download: bool) -> Response:
    """A media blob the record shows, from the store: the key is built from the two
    validated hashes, never from a path the client sends. Known media may show
    inline (not audited as a download); anything else only as an attachment."""
    try:
        data, info = media_download(archive, record_id, sha256)
    except (NotFoundError, ObjectNotFoundError):
        abort(404)
    content_type, disposition = disposition_for(str(info.get("content_type") or ""), sha256,
                                                download)
    if download:
        archive.audit.record(archive.actor, "media-download",
                             {"record_id": record_id, "sha256": sha256})
    return Response(data, content_type=content_type, headers={
        "Content-Disposition": disposition,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
    })
