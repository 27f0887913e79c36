"""Resource bounds: the thumbnail cache keeps to its size limit, least recently used first,
and the embedding pass streams (its memory does not grow with the library)."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from benchmarks import synthetic
from core import paths
from core import thumbnails as thumbcache
from core.browse import tiles
from core.jobs import run
from core.library import Library
from tests.reliability.helpers import MODEL


def _thumbnail(folder: Path, name: str, size: int, used: float) -> Path:
    path = folder / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff" * size)
    os.utime(path, (used, used))
    return path


def test_prune_drops_the_least_recently_used_first(tmp_path: Path) -> None:
    now = time.time()
    folder = tmp_path / "thumbnails"
    # 10 thumbnails of 1,000 bytes, last used 10, 9, ... 1 hours ago.
    thumbs = [_thumbnail(folder, f"{i:02x}{'0' * 30}.jpg", 1000, now - (10 - i) * 3600)
              for i in range(10)]
    stale = folder / "00" / ".tmp-killed"  # left by a writer killed two hours ago
    stale.write_bytes(b"x" * 500)
    os.utime(stale, (now - 7200, now - 7200))
    fresh = folder / "00" / ".tmp-writing"  # being written right now
    fresh.write_bytes(b"x" * 500)
    recently_viewed = thumbs[0]  # the oldest, but just used
    os.utime(recently_viewed)  # viewed just now

    result = thumbcache.prune(limit=6000, folder=folder)
    kept = {p for p in thumbs if p.exists()}
    # Over the limit: pruned to 90 % of it (5,400 bytes: 5 thumbnails), oldest use first.
    assert kept == {recently_viewed, *thumbs[6:]}
    assert not stale.exists() and fresh.exists()
    assert (result.files, result.removed) == (10, 6)
    assert result.kept_bytes == 5000
    again = thumbcache.prune(limit=6000, folder=folder)
    assert again.removed == 0  # under the limit: nothing to do


def test_the_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(thumbcache.LIMIT_ENV, raising=False)
    assert thumbcache.limit_bytes() == 2_000_000_000
    monkeypatch.setenv(thumbcache.LIMIT_ENV, "250")
    assert thumbcache.limit_bytes() == 250_000_000
    monkeypatch.setenv(thumbcache.LIMIT_ENV, "lots")
    assert thumbcache.limit_bytes() == 2_000_000_000


def test_indexing_prunes_the_cache_and_the_grid_remakes_what_it_needs(
        photo_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a private cache
    monkeypatch.setenv(thumbcache.LIMIT_ENV, "0.06")  # 60 kB: a handful of thumbnails
    root = tmp_path / "photos"
    root.mkdir()
    for scene in sorted(photo_source.iterdir())[:3]:
        os.symlink(scene, root / scene.name)  # symlinked folders are followed, read only
    with Library(root, catalog_path=tmp_path / "c.sqlite", model=MODEL,
                 weights="none") as library:
        run(library.index())
        files = [p for p in paths.thumbnail_dir().rglob("*.jpg")]
        assert 0 < sum(p.stat().st_size for p in files) <= 60_000
        assert len(files) < 12
        ids = [p.id for p in library.catalog.photos()]
        shown = tiles(library.catalog, ids)  # the grid asks: missing ones are made again
    assert all(tile.thumbnail is not None and tile.thumbnail.exists()
               for tile in shown.values())


def _peak_while_embedding(folder: Path, n: int, catalog: Path) -> float:
    for i in range(n):
        synthetic.write_jpeg(folder / f"{i:04d}.jpg", synthetic.scene(i, (96, 72)))
    with Library(folder, catalog_path=catalog, model=MODEL, weights="none") as library:
        run(library.scan())
        library.embedder  # noqa: B018 - load the model before measuring
        tracemalloc.start()
        try:
            result = run(library.embed(batch_size=4))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert result.embedded == n
    return peak


def test_embedding_memory_does_not_grow_with_the_library(tmp_path: Path) -> None:
    """Each photo in flight holds a 224 x 224 x 3 model input (150 kB): holding a 40-photo
    library would add 4.8 MB over an 8-photo one. The pipeline keeps a fixed window (8
    photos here, with batches of 4)."""
    _peak_while_embedding(tmp_path / "warm-up", 4, tmp_path / "w.sqlite")
    small = _peak_while_embedding(tmp_path / "small", 8, tmp_path / "s.sqlite")
    large = _peak_while_embedding(tmp_path / "large", 40, tmp_path / "l.sqlite")
    assert large < small + 2_000_000, (small, large)
