"""Media: download with a size cap, store content-addressed, read images safely.

Images are opened with Pillow only to learn format, dimensions and EXIF and to
make a thumbnail for reports; a pixel bomb (more pixels than MAX_PIXELS) is
refused before decoding, since Pillow reads the size from the header first.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from archiver.errors import SkippableError
from archiver.item import Attachment, MediaRef
from archiver.records import media_key
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
    def __init__(self, store: ObjectStore, client: HttpClient, max_bytes: int) -> None:
        self.store = store
        self.client = client
        self.max_bytes = max_bytes

    def fetch(self, attachment: Attachment) -> MediaRef:
        """Download and store one attachment; SkippableError says why it could not be."""
        result = self.client.get_bytes(attachment.url, max_bytes=self.max_bytes)
        data = result.body
        content_type = result.headers.get("content-type", "application/octet-stream")
        content_type = content_type.split(";")[0].strip()
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
            source_url=result.url,
            width=width,
            height=height,
            metadata=metadata,
        )
