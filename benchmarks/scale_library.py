"""The big library of ``benchmarks.scale``: N photos catalogued through the product's own code.

Layout of a fixture (cached under ``~/.cache/lookalike-bench-scale/n{N}``, re-used by the next
run, and resumed where it stopped if a build was interrupted):

- ``photos/d000/IMG_000000.jpg`` …: N tiny placeholder files, 1,000 a folder, hard links to
  200 distinct 64x48 JPEGs (a link costs a directory entry, not a file's blocks);
- ``home/``: XDG_DATA_HOME / XDG_CACHE_HOME of the benchmark, which hold the catalog;
- the catalog's photo rows come from the product's scan (:func:`core.scan.scan` over the
  folder), their metadata and embeddings from :meth:`Catalog.store_results`, the call the
  embedding pass makes, a chunk of photos at a time.

The embeddings are synthetic but clustered as real ones are: 3,000 scenes of very
different sizes (log-normal), each a centre in a 96-d "semantic" subspace of the 1280-d
space (the dimension of the default model, EfficientNet-Lite0) plus spread inside and
outside that subspace; 1 % of the photos are near-copies of the photo before them
(cosine ~0.98, taken a second later with the same camera), as bursts and re-saves are.
Each photo gets its own content hash (the placeholder files share 200 contents, which
would make every 5,000th photo an exact duplicate of the others): the catalog describes a
library of N distinct photos. A chunk's vectors depend only on its number, so a resumed
build writes what an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lookalike-bench-scale"
MODEL = "efficientnet_lite0"
WEIGHTS = "none"  # the app and CLI are started with --weights none (no download)
DIM = 1280
PER_FOLDER = 1000
DISTINCT = 200
CHUNK = 20_000  # photos per embedding transaction
SCENES = 3000
SUBSPACE = 96
DUPLICATE_SHARE = 0.01
CAMERAS = ("Canon EOS 5D Mark IV", "NIKON D750", "FC3170", "iPhone 13", "X-T3")


def model_key() -> str:
    from core.embed.models import model_key as key

    return key(MODEL, WEIGHTS)


class Fixture:
    """Paths of one cached library of ``n`` photos."""

    def __init__(self, n: int, cache: Path = CACHE) -> None:
        self.n = n
        self.base = cache / f"n{n}"
        self.photos = self.base / "photos"
        self.home = self.base / "home"

    def env(self) -> dict[str, str]:
        """Environment variables that make the product find this fixture's catalog."""
        return {"XDG_DATA_HOME": str(self.home / "data"),
                "XDG_CACHE_HOME": str(self.home / "cache"),
                "XDG_CONFIG_HOME": str(self.home / "config")}

    @property
    def ready(self) -> bool:
        return (self.base / "ready").exists()

    @contextlib.contextmanager
    def environ(self) -> Iterator[None]:
        from benchmarks._common import environ

        with environ(**self.env()):
            yield

    def catalog_path(self) -> Path:
        with self.environ():
            from core.paths import default_catalog_path

            return default_catalog_path(Path(os.path.abspath(self.photos)))


def build(n: int, cache: Path = CACHE) -> tuple[Fixture, float]:
    """The fixture of ``n`` photos, built (or finished) if needed; seconds spent building."""
    fixture = Fixture(n, cache)
    if fixture.ready:
        return fixture, 0.0
    start = time.perf_counter()
    _write_files(fixture)
    with fixture.environ():
        from core.catalog import Catalog
        from core.jobs import run
        from core.scan import scan

        with Catalog.open(fixture.photos, create=True) as catalog:
            if catalog.photo_count() < n:
                result = run(scan(catalog))
                log.info("scan: %s (%.0f s)", result, time.perf_counter() - start)
            _store_embeddings(catalog, n)
    (fixture.base / "ready").touch()
    seconds = time.perf_counter() - start
    log.info("fixture n=%d ready in %.0f s", n, seconds)
    return fixture, seconds


def _write_files(fixture: Fixture) -> None:
    from benchmarks import synthetic

    sources = fixture.base / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for i in range(DISTINCT):
        path = sources / f"src_{i:03d}.jpg"
        if not path.exists():
            synthetic.write_jpeg(path, synthetic.scene(seed=70_000 + i, size=(64, 48)),
                                 quality=80)
    done = fixture.base / "files.done"
    if done.exists():
        return
    for k in range(fixture.n):
        folder = fixture.photos / f"d{k // PER_FOLDER:04d}"
        if k % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.link(sources / f"src_{k % DISTINCT:03d}.jpg", folder / f"IMG_{k:07d}.jpg")
    done.touch()


def _store_embeddings(catalog: object, n: int) -> None:
    """Metadata and embeddings of every photo without one, a chunk of ids at a time."""
    from core.catalog import Catalog, PhotoMeta

    assert isinstance(catalog, Catalog)
    key = model_key()
    world = World()
    done = catalog.conn.execute("SELECT coalesce(max(photo_id), 0) FROM embeddings "
                                "WHERE model = ?", (key,)).fetchone()[0]
    ids = np.array([r[0] for r in catalog.conn.execute(
        "SELECT id FROM photos WHERE id > ? ORDER BY id", (done - done % CHUNK,))], np.int64)
    for first in range(0, len(ids), CHUNK):
        chunk_ids = ids[first:first + CHUNK]
        number = int(chunk_ids[0] - 1) // CHUNK
        vectors, when, camera = world.chunk(number, len(chunk_ids))
        batch = [(int(pid), PhotoMeta(_hash(int(pid)), 64, 48, _date(float(t)),
                                      CAMERAS[int(c)]), vectors[k])
                 for k, (pid, t, c) in enumerate(zip(chunk_ids, when, camera, strict=True))]
        catalog.store_results(key, batch, [])
        log.info("embeddings: %d of %d", int(chunk_ids[-1]), n)


def _hash(photo_id: int) -> str:
    return hashlib.blake2b(photo_id.to_bytes(8, "little"), digest_size=16).hexdigest()


def _date(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


class World:
    """The scenes every chunk draws from (fixed by seed 0)."""

    def __init__(self, dim: int = DIM) -> None:
        rng = np.random.default_rng(0)
        self.dim = dim
        self.basis = rng.standard_normal((SUBSPACE, dim), dtype=np.float32) / np.sqrt(SUBSPACE)
        self.centres = rng.standard_normal((SCENES, SUBSPACE), dtype=np.float32)
        sizes = rng.lognormal(0.0, 1.2, SCENES)
        self.p = sizes / sizes.sum()
        self.spread = rng.uniform(0.25, 0.6, SCENES).astype(np.float32)
        self.start = rng.uniform(1.2e9, 1.75e9, SCENES)  # each scene's photos cluster in time

    def chunk(self, number: int, rows: int
              ) -> tuple[NDArray[np.float16], NDArray[np.float64], NDArray[np.int64]]:
        """(float16 unit vectors, capture times, camera numbers) of one chunk of photos."""
        rng = np.random.default_rng(1000 + number)
        scene = rng.choice(SCENES, size=rows, p=self.p)
        inside = (self.centres[scene]
                  + self.spread[scene, None] * rng.standard_normal((rows, SUBSPACE),
                                                                   dtype=np.float32))
        x = inside @ self.basis
        x += 0.55 * rng.standard_normal((rows, self.dim), dtype=np.float32)
        when = self.start[scene] + rng.exponential(3e6, rows)
        camera = scene % len(CAMERAS)
        copies = np.flatnonzero(rng.random(rows) < DUPLICATE_SHARE)
        copies = copies[copies > 0]
        x[copies] = x[copies - 1] + 0.12 * rng.standard_normal((len(copies), self.dim),
                                                                 dtype=np.float32)
        when[copies] = when[copies - 1] + 1.0
        camera[copies] = camera[copies - 1]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float16), when, camera


def size_breakdown(catalog_path: Path, n: int, dim: int = DIM) -> dict[str, float]:
    """The catalog file's size, and its size a photo beyond the vectors' own bytes."""
    import sqlite3

    total = catalog_path.stat().st_size
    for suffix in ("-wal",):
        extra = catalog_path.with_name(catalog_path.name + suffix)
        if extra.exists():
            total += extra.stat().st_size
    with sqlite3.connect(f"{catalog_path.as_uri()}?mode=ro", uri=True) as conn:
        vectors = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] * dim * 2
    return {"total_mb": total / 1e6, "vectors_mb": vectors / 1e6,
            "beyond_vectors_bytes": (total - vectors) / max(n, 1)}
