"""Where Lookalike keeps its own files: the user's data and cache directories.

Nothing is ever written inside a photo folder. Catalogs live in the data directory (one
per library folder), thumbnails in the cache directory; both honour ``XDG_DATA_HOME`` /
``XDG_CACHE_HOME`` through platformdirs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import platformdirs

APP_NAME = "lookalike"


def data_dir() -> Path:
    """The user's data directory for Lookalike (catalogs, trained heads)."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def cache_dir() -> Path:
    """The user's cache directory for Lookalike (thumbnails); safe to delete."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def library_key(root: Path) -> str:
    """A stable, readable folder name for a library: ``<name>-<hash of the absolute path>``."""
    raw = os.fsencode(str(root))
    digest = hashlib.sha1(raw).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", root.name)[:40] or "library"
    return f"{name}-{digest}"


def default_catalog_path(root: Path) -> Path:
    """The catalog file for the library at ``root`` (which should be absolute)."""
    return data_dir() / "libraries" / library_key(root) / "catalog.sqlite"


def thumbnail_dir() -> Path:
    """Folder of cached ~256 px JPEG thumbnails, keyed by content hash (shared by libraries)."""
    return cache_dir() / "thumbnails"


def display(path: Path | str) -> str:
    """``path`` as printable text (bytes that are not UTF-8 become U+FFFD)."""
    return os.fsencode(path).decode("utf-8", "replace")
