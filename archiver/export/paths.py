"""Where each thing goes inside a pack, and the rules that keep it there.

Every file name in a pack is derived from a hash we computed (a record id, a
media SHA-256) or a number we counted, never from platform data: a native id
such as "at://did:plc:x/app.bsky.feed.post/3k" or "../../etc" only ever appears
inside files. `check_payload_path` is the last line of defence: the bag writer
refuses any path that is not a plain relative path under data/.
"""

from __future__ import annotations

import re

HEX64 = re.compile(r"[0-9a-f]{64}")
# One segment: letters, digits, '.', '_', '-'; never starting with '.' (no '..',
# no hidden files). Paths are these segments joined by '/', under data/.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_PATH_CHARS = 512
PROOFS_PER_FILE = 10_000  # inclusion proofs per data/proofs/proofs-NNNNN.jsonl

RECORDS_DIR = "data/records"
TEXT_DIR = "data/text"
PROOFS_DIR = "data/proofs"
MEDIA_DIR = "data/media"
REPORT_DIR = "data/report"
TREE_HEAD_DIR = "data/tree-head"
CUSTODY_DIR = "data/custody"
LOADFILE_DAT = "data/loadfile.dat"
LOADFILE_CSV = "data/loadfile.csv"
CERTIFICATION = "data/certification-fre-902-14.txt"
README = "data/README.txt"

CHECKPOINT_FILE = f"{TREE_HEAD_DIR}/checkpoint.json"
SIGNED_BYTES_FILE = f"{TREE_HEAD_DIR}/signed-tree-head.json"
SIGNATURE_FILE = f"{TREE_HEAD_DIR}/signature.bin"
PUBLIC_KEY_FILE = f"{TREE_HEAD_DIR}/public-key.pem"

# Media file extensions by declared content type. Anything else (including types a
# browser would run, such as SVG or HTML) gets ".bin", so opening a pack's media
# never executes anything. The extension is a hint; the SHA-256 names the bytes.
MEDIA_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
    "application/pdf": ".pdf",
}


class UnsafePathError(ValueError):
    """A pack path that is not a plain relative path under data/ (a bug, never input)."""


def require_hex64(value: object, what: str) -> str:
    """A lower-case hex SHA-256, or ValueError: the only thing file names come from."""
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise ValueError(f"{what} is not a lower-case hex SHA-256: {value!r}")
    return value


def record_path(record_id: str) -> str:
    return f"{RECORDS_DIR}/{require_hex64(record_id, 'record id')}.json"


def text_path(record_id: str) -> str:
    return f"{TEXT_DIR}/{require_hex64(record_id, 'record id')}.txt"


def proofs_path(number: int) -> str:
    """The `number`-th file of inclusion proofs (from 1): data/proofs/proofs-00001.jsonl."""
    if not 1 <= number <= 99_999:
        raise ValueError(f"proofs file number {number} is outside 1-99999")
    return f"{PROOFS_DIR}/proofs-{number:05d}.jsonl"


def media_extension(content_type: object) -> str:
    if not isinstance(content_type, str):
        return ".bin"
    return MEDIA_EXTENSIONS.get(content_type.split(";")[0].strip().lower(), ".bin")


def media_path(sha256: str, content_type: object) -> str:
    return f"{MEDIA_DIR}/{require_hex64(sha256, 'media sha256')}{media_extension(content_type)}"


def check_payload_path(path: str) -> str:
    """`path` if it is 'data/' plus safe segments; UnsafePathError otherwise."""
    problem = payload_path_problem(path)
    if problem:
        raise UnsafePathError(f"refusing pack path {path!r}: {problem}")
    return path


def check_tag_path(path: str) -> str:
    """Tag files sit in the bag's root: one safe segment, not 'data'."""
    if not _SEGMENT.fullmatch(path) or path == "data":
        raise UnsafePathError(f"refusing tag file name {path!r}")
    return path


def payload_path_problem(path: object) -> str | None:
    if not isinstance(path, str):
        return "not a string"
    if len(path) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    segments = path.split("/")
    if len(segments) < 2 or segments[0] != "data":
        return "not under data/"
    for segment in segments[1:]:
        if not _SEGMENT.fullmatch(segment):
            return (
                f"segment {segment!r} is not letters, digits, '.', '_' or '-' (or starts with '.')"
            )
    return None
