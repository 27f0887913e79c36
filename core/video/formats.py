"""Which files are video clips (by name: the scan does not open files)."""

from __future__ import annotations

import os
from pathlib import Path

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".m2ts"})


def is_video(path: Path | str) -> bool:
    """Whether ``path`` names a video clip (by its extension)."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS
