"""Writing Lookalike's own files safely: whole or not at all (never a photo: read-only);
and what a path that is not a regular file or folder is, in words."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_PREFIX = ".tmp-"  # temporary files start so; a killed writer's leftovers are recognisable


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Create ``path`` by calling ``write`` on a temporary name in the same folder, then
    ``os.replace``: readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)

    atomic_write(path, write)


def special_kind(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def why_not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a photo file (None: it is a regular file). Never
    opens it, so a FIFO or a device cannot block or flood the caller."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "broken link: its target is missing" if os.path.islink(path) else "file not found"
    except OSError as exc:
        return os_reason(exc, "file")
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a file"
    link = " (through a link)" if os.path.islink(path) else ""
    return f"not a regular file: {special_kind(st.st_mode)}{link}"


def why_not_a_folder(path: Path) -> str | None:
    """Why ``path`` cannot be a photo folder (None: it is a folder)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "folder not found"
    except OSError as exc:
        return os_reason(exc, "folder")
    if stat.S_ISDIR(st.st_mode):
        return None
    return "a file, not a folder" if stat.S_ISREG(st.st_mode) else (
        f"not a folder: {special_kind(st.st_mode)}")


def os_reason(exc: OSError, what: str) -> str:
    """An OSError met while looking at a file or folder, in plain words."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied: Lookalike may not read this {what}"
    if exc.errno == errno.ENOENT:
        return f"{what} disappeared during the scan"
    if exc.errno == errno.ELOOP:
        return "link loop: the link points back to itself"
    if exc.errno == errno.ENAMETOOLONG:
        return "path too long for the file system"
    return f"cannot read this {what}: {exc.strerror or exc}"
