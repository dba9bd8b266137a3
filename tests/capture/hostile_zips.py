"""Hostile members added to an otherwise good export zip, as a crafted or damaged file
would hold them; each returns the path. Shared by the demo-importer and X import tests,
and each paired with the words the refusal must use (HOSTILE)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

BOMB_BYTES = 20 * 1024 * 1024
DECLARED_BYTES = 2 * 1024**3


def _append(
    path: Path, member: str | zipfile.ZipInfo, data: bytes, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "a", compression) as archive:
        archive.writestr(member, data)
    return path


def add_zip_slip(path: Path) -> Path:
    return _append(path, "../../etc/evil.sh", b"rm -rf /")


def add_symlink(path: Path) -> Path:
    info = zipfile.ZipInfo("media/link.png")
    info.external_attr = 0o120777 << 16  # S_IFLNK in the Unix mode bits
    return _append(path, info, b"/etc/passwd")


def add_zip_bomb(path: Path) -> Path:
    """20 MiB of zeros deflate to about 20 KiB: a ratio near 1000."""
    return _append(path, "media/bomb.bin", b"\x00" * BOMB_BYTES)


def add_two_gigabyte_member(path: Path) -> Path:
    """A member whose central directory entry declares 2 GiB (patched after writing)."""
    _append(path, "media/huge.bin", b"x" * 100)
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # the last central-directory entry: huge.bin
    data[central + 24 : central + 28] = struct.pack("<I", DECLARED_BYTES)  # size field
    path.write_bytes(bytes(data))
    return path


def damage_member(path: Path, member: str, compression: int = zipfile.ZIP_STORED) -> Path:
    """Rewrite `member` with `compression`, then flip one byte in the middle of its
    bytes, as a bad disk or a broken download leaves it: stored, its CRC-32 no longer
    matches; deflated, its stream no longer inflates."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(
                info.filename,
                data,
                compression if info.filename == member else zipfile.ZIP_DEFLATED,
            )
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_length + extra_length  # the local header's end
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


HOSTILE = [
    (add_zip_slip, "'../../etc/evil.sh' climbs out of the archive with '..'"),
    (add_symlink, "'media/link.png' is a symlink"),
    (add_zip_bomb, "(a zip bomb?)"),
    (
        add_two_gigabyte_member,
        "'media/huge.bin' is 2,147,483,648 bytes, over the 1,073,741,824 byte limit",
    ),
]
