"""Thumbnails: their size, where they are cached, how they are written, and the cache's limit.

Thumbnails (``<cache>/thumbnails/<2 hex>/<content hash>.jpg``, written by the embedding
pass) are shared by every library and can always be made again from the photo, so the
cache is pruned to a size limit after each indexing pass: least recently used first, where
"used" is the later of the file's access time (kept by the file system, to about a day
under the usual ``relatime``) and its modification time. Temporary files left by a killed
process go first.

The limit is :data:`DEFAULT_LIMIT_BYTES` (2 GB) unless the environment variable
``LOOKALIKE_THUMBNAIL_CACHE_MB`` sets another (in megabytes).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core import paths
from core.decode import make_thumbnail
from core.files import TEMP_PREFIX, write_bytes_atomic

log = logging.getLogger(__name__)

DEFAULT_LIMIT_BYTES = 2 * 1000**3
LIMIT_ENV = "LOOKALIKE_THUMBNAIL_CACHE_MB"
PRUNE_TO = 0.9  # when over the limit, prune to this fraction of it: not again at every pass
STALE_TEMP_S = 3600.0  # a temporary file this old was left by a killed writer
THUMBNAIL_SIZE = 256  # the longer side of a cached thumbnail, in pixels


def thumbnail_path(content_hash: str) -> Path:
    """Where the cached thumbnail of a photo with this content hash lives."""
    return paths.thumbnail_dir() / content_hash[:2] / f"{content_hash}.jpg"


def save(content_hash: str, image: Image.Image) -> Path:
    """Cache the thumbnail of a decoded photo (once: an existing one is kept) and return its
    path. Raises OSError when the cache cannot be written."""
    path = thumbnail_path(content_hash)
    if not path.exists():
        write_bytes_atomic(path, make_thumbnail(image, THUMBNAIL_SIZE))
    return path


def save_jpeg(content_hash: str, data: bytes) -> Path:
    """Cache a thumbnail made elsewhere (JPEG ``data``, e.g. by a cluster worker: core.cluster),
    once, like :func:`save`. Raises OSError when the cache cannot be written."""
    path = thumbnail_path(content_hash)
    if not path.exists():
        write_bytes_atomic(path, data)
    return path


@dataclass(frozen=True)
class PruneResult:
    """The cache before and after a prune."""

    files: int  # thumbnails found
    bytes: int  # the cache's size before pruning
    removed: int  # files deleted (thumbnails and stale temporary files)
    removed_bytes: int

    @property
    def kept_bytes(self) -> int:
        return self.bytes - self.removed_bytes


def limit_bytes() -> int:
    """The configured size limit of the thumbnail cache, in bytes."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LIMIT_BYTES
    try:
        megabytes = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of megabytes; using %d MB", LIMIT_ENV, raw,
                    DEFAULT_LIMIT_BYTES // 1000**2)
        return DEFAULT_LIMIT_BYTES
    return max(0, int(megabytes * 1000**2))


def prune(limit: int | None = None, folder: Path | None = None) -> PruneResult:
    """Delete the least recently used thumbnails until the cache fits ``limit`` bytes.

    ``limit``: default :func:`limit_bytes`; ``folder``: default the user's thumbnail
    folder. When over the limit, the cache is pruned to 90 % of it. Files that vanish or
    cannot be deleted meanwhile are skipped; it never raises for them.
    """
    limit = limit_bytes() if limit is None else max(0, limit)
    folder = paths.thumbnail_dir() if folder is None else Path(folder)
    now = time.time()
    entries: list[tuple[float, int, str]] = []  # (last use, size, path)
    removed = removed_bytes = 0
    for path, st in _files(folder):
        if os.path.basename(path).startswith(TEMP_PREFIX):
            if now - st.st_mtime > STALE_TEMP_S and _unlink(path):
                removed += 1
                removed_bytes += st.st_size
            continue
        entries.append((max(st.st_atime, st.st_mtime), st.st_size, path))
    total = sum(size for _, size, _ in entries)
    result_total = total + removed_bytes
    if total > limit:
        target = int(limit * PRUNE_TO)
        entries.sort()
        for _used, size, path in entries:
            if total <= target:
                break
            if _unlink(path):
                total -= size
                removed += 1
                removed_bytes += size
        log.info("thumbnail cache pruned to %d MB (limit %d MB)", total // 1000**2,
                 limit // 1000**2)
    return PruneResult(len(entries), result_total, removed, removed_bytes)


def _files(folder: Path) -> list[tuple[str, os.stat_result]]:
    """(path, stat) of every file one level below ``folder`` (the 2-hex shards)."""
    found: list[tuple[str, os.stat_result]] = []
    try:
        shards = [e.path for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return found
    for shard in shards:
        try:
            with os.scandir(shard) as it:
                for entry in it:
                    try:
                        if entry.is_file(follow_symlinks=False):
                            found.append((entry.path, entry.stat(follow_symlinks=False)))
                    except OSError:
                        continue
        except OSError:
            continue
    return found


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.info("cannot delete the thumbnail %s: %s", path, exc)
        return False
    return True
