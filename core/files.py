"""Writing Lookalike's own files safely: whole or not at all (never a photo: read-only)."""

from __future__ import annotations

import os
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
