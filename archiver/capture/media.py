"""Media: download with a size cap, store content-addressed, read images safely.

Images are opened with Pillow only to learn format, dimensions and EXIF and to
make a thumbnail for reports; a pixel bomb (more pixels than MAX_PIXELS) is
refused before decoding, since Pillow reads the size from the header first.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import warnings
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from archiver.errors import SkippableError
from archiver.item import Attachment, MediaRef
from archiver.records import media_key
from connectors.exports.base import ARCHIVE_URL_SCHEME
from connectors.exports.safe_archive import ExportArchive
from connectors.http import HttpClient
from storage.objects.base import ObjectExistsError, ObjectStore

MAX_PIXELS = 50_000_000  # 50 megapixels: larger than any platform serves
THUMBNAIL_SIZE = (320, 320)
_EXIF_VALUE_CHARS = 200


class MediaRefused(SkippableError):
    """This attachment cannot be kept (bomb, not an image it claims to be, too big)."""


def store_blob(store: ObjectStore, data: bytes) -> str:
    """Store bytes under their SHA-256 (idempotent); returns the hash."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        store.put(media_key(digest), data)
    except ObjectExistsError:
        pass  # content-addressed: the same bytes are already there
    return digest


def inspect_image(data: bytes) -> dict[str, Any]:
    """Format, size, EXIF and a thumbnail (PNG bytes) of an image; MediaRefused for bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise MediaRefused(
                        f"image of {width}x{height} pixels exceeds the {MAX_PIXELS:,} pixel limit"
                        " (decompression bomb guard)"
                    )
                exif = _exif(image)
                image.thumbnail(THUMBNAIL_SIZE)
                thumb = io.BytesIO()
                image.convert("RGB").save(thumb, format="PNG")
                return {
                    "format": image.format or "unknown",
                    "width": width,
                    "height": height,
                    "exif": exif,
                    "thumbnail": thumb.getvalue(),
                }
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRefused(f"decompression bomb refused: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaRefused(f"not a readable image: {exc}") from exc


def _exif(image: Image.Image) -> dict[str, str]:
    tags = {}
    for tag_id, value in image.getexif().items():
        name = ExifTags.TAGS.get(tag_id, str(tag_id))
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        tags[name] = text[:_EXIF_VALUE_CHARS]
    return dict(sorted(tags.items()))


class MediaFetcher:
    """Gets attachments from the platform over HTTP, or from inside an export archive
    for `archive:<member>` URLs, and stores them."""

    def __init__(
        self,
        store: ObjectStore,
        client: HttpClient | None,
        max_bytes: int,
        export: ExportArchive | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.max_bytes = max_bytes
        self.export = export

    def fetch(self, attachment: Attachment) -> MediaRef:
        """Get and store one attachment; SkippableError says why it could not be."""
        if attachment.url.startswith(ARCHIVE_URL_SCHEME):
            data, content_type, source_url = self._from_export(attachment.url), None, attachment.url
        elif self.client is None:
            raise MediaRefused(f"{attachment.url}: no HTTP client for media in this run")
        else:
            result = self.client.get_bytes(attachment.url, max_bytes=self.max_bytes)
            data, source_url = result.body, result.url
            content_type = result.headers.get("content-type")
        if not content_type:
            content_type = mimetypes.guess_type(source_url)[0] or "application/octet-stream"
        return self._keep(data, content_type.split(";")[0].strip(), source_url, attachment)

    def _from_export(self, url: str) -> bytes:
        member = url.removeprefix(ARCHIVE_URL_SCHEME)
        if self.export is None or not self.export.exists(member):
            raise MediaRefused(f"{url}: not in the export archive")
        data = self.export.read(member)
        if len(data) > self.max_bytes:
            raise MediaRefused(f"{url}: {len(data):,} bytes, over the {self.max_bytes:,} byte cap")
        return data

    def _keep(
        self, data: bytes, content_type: str, source_url: str, attachment: Attachment
    ) -> MediaRef:
        metadata: dict[str, Any] = {"description": attachment.description}
        width = height = None
        if attachment.media_type == "image" or content_type.startswith("image/"):
            info = inspect_image(data)
            width, height = info["width"], info["height"]
            metadata.update(format=info["format"], exif=info["exif"])
            metadata["thumbnail_sha256"] = store_blob(self.store, info["thumbnail"])
        digest = store_blob(self.store, data)
        return MediaRef(
            sha256=digest,
            size=len(data),
            content_type=content_type,
            source_url=source_url,
            width=width,
            height=height,
            metadata=metadata,
        )
