"""Small file-system helpers shared by the local store and its lock ledger."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Callable

AT_FDCWD = -100
RENAME_NOREPLACE = 1


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def os_reason(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc)
    return f"{reason} ({name})" if name else reason


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None  # not Linux, or glibc before 2.28
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_RENAMEAT2 = _load_renameat2()


def publish(temp: str, final: str) -> None:
    """Give a finished temp file its final name unless that name exists
    (FileExistsError), leaving no temp behind on success.

    One renameat2(RENAME_NOREPLACE) where the file system supports it (ext4,
    XFS, btrfs, tmpfs): about half the cost of link + unlink, which remains the
    fallback and has the same no-overwrite guarantee.
    """
    if _RENAMEAT2 is not None:
        if (
            _RENAMEAT2(AT_FDCWD, os.fsencode(temp), AT_FDCWD, os.fsencode(final), RENAME_NOREPLACE)
            == 0
        ):
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), final)
    os.link(temp, final)
    with contextlib.suppress(OSError):  # published; a leftover temp name is only litter
        os.unlink(temp)
