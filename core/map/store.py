"""The stored cluster map: its types, its rows in the catalog (schema 3), and the fitted
PCA + UMAP pickled beside the catalog (written atomically, named by a token the map row
holds, so a map and its fitted model always belong together)."""

from __future__ import annotations

import json
import logging
import pickle
import re
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.files import write_bytes_atomic
from core.map.clusters import Cluster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapParams:
    """What makes a map (stored with it, like FiftyOne's visualization results)."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    pca_dims: int = 50
    seed: int = 42

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MapParams | None:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True, eq=False)
class MapResult:
    """A map: point ``i`` is photo ``ids[i]`` at ``xy[i]`` in cluster ``clusters[i]``.

    A video clip is one point per kept frame: its id repeats, and ``times[i]`` is the
    frame's time in seconds (NaN for a photo; ``times`` is None when no point is a frame).
    ``keys[i]`` tells the points apart: a photo's id, or a frame's search id (``-frames.id``).

    ``method``: "umap", or "pca" (the instant preview, or a library too small for UMAP).
    ``how`` this call got it: "fitted", "updated" (new photos placed with transform),
    "cached" (stored and current), "loaded" (read as stored) or "preview".
    """

    model: str
    ids: NDArray[np.int64]
    xy: NDArray[np.float32]
    clusters: NDArray[np.int32]
    cluster_info: tuple[Cluster, ...]
    params: MapParams
    generation: int
    method: str
    how: str
    seconds: float = 0.0  # time this call took
    placed: int = 0  # points placed with transform by this call
    times: NDArray[np.float64] | None = None  # per point: a clip frame's time, NaN: photo
    keys: NDArray[np.int64] | None = None  # per point: photo id or -frame id (None: ids)

    def __len__(self) -> int:
        return len(self.ids)

    def time_at(self, row: int) -> float | None:
        """The time in its clip of point ``row``, or None for a photo."""
        if self.times is None or np.isnan(self.times[row]):
            return None
        return float(self.times[row])

    def item_count(self) -> int:
        """Photos and clips on the map (a clip counts once, however many frames)."""
        return len(np.unique(self.ids)) if self.times is not None else len(self.ids)

    def describe(self) -> str:
        """"1,234 photos" or "1,230 photos and clips (52 clip frames)"."""
        if self.times is None:
            return f"{len(self):,} photos"
        frames = int(np.count_nonzero(~np.isnan(self.times)))
        return f"{self.item_count():,} photos and clips ({frames:,} clip frames)"


@dataclass(frozen=True)
class StoredMap:
    """A stored map, the embedding digests it was placed from, and its fit (its points'
    keys are ``result.keys``)."""

    result: MapResult
    digests: NDArray[np.int64]
    token: str
    fitted_at: float


def load_map(catalog: Catalog, model: str) -> MapResult | None:
    """The stored map of ``model`` as it is (maybe older than the embeddings), or None."""
    stored = read_map(catalog, model)
    return stored.result if stored else None


def map_model_path(catalog: Catalog, model: str) -> Path:
    """Where the fitted PCA + UMAP of ``model`` are kept (beside the catalog)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return catalog.path.parent / f"map-{slug}.pkl"


def embedding_digests(vectors: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """crc32 of each embedding as stored (float16): tells a changed photo from a kept one."""
    half = np.ascontiguousarray(vectors, dtype=np.float16)
    return np.fromiter((zlib.crc32(row) for row in half), dtype=np.int64, count=len(half))


# -- storage ---------------------------------------------------------------------------------


def store_map(catalog: Catalog, result: MapResult, digests: NDArray[np.int64], token: str,
              *, fitted_at: float) -> None:
    """Replace the stored map of ``result.model`` in one transaction."""
    model = result.model
    keys = result.keys if result.keys is not None else result.ids
    points = [(int(i), model, float(x), float(y), int(c), int(d), int(i))
              for i, (x, y), c, d in zip(keys, result.xy, result.clusters, digests,
                                          strict=True) if i > 0]
    frame_points = [(-int(i), model, float(x), float(y), int(c), int(d), -int(i))
                    for i, (x, y), c, d in zip(keys, result.xy, result.clusters, digests,
                                                strict=True) if i < 0]
    with catalog.transaction() as tx:
        tx.execute("DELETE FROM maps WHERE model = ?", (model,))
        tx.execute(
            "INSERT INTO maps (model, generation, method, params, fit_token, fitted_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (model, result.generation, result.method, result.params.to_json(), token,
             fitted_at, time.time()),
        )
        # A photo removed meanwhile (by a scan in another thread) is left out.
        tx.executemany(
            "INSERT INTO map_points (photo_id, model, x, y, cluster, digest) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM photos WHERE id = ?)",
            points,
        )
        tx.executemany(  # a clip's kept frames (a frame gone meanwhile is left out)
            "INSERT INTO map_frame_points (frame_id, model, x, y, cluster, digest) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM frames WHERE id = ?)",
            frame_points,
        )
        tx.executemany(
            "INSERT INTO map_clusters (model, cluster, size, x, y, representatives) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(model, c.number, c.size, c.centre[0], c.centre[1], json.dumps(c.representatives))
             for c in result.cluster_info],
        )


def read_map(catalog: Catalog, model: str) -> StoredMap | None:
    """The stored map of ``model`` with what updating it needs, or None."""
    row = catalog.conn.execute(
        "SELECT generation, method, params, fit_token, fitted_at FROM maps WHERE model = ?",
        (model,),
    ).fetchone()
    if row is None:
        return None
    params = MapParams.from_json(row[2])
    if params is None:
        return None
    rows = catalog.conn.execute(
        "SELECT photo_id, x, y, cluster, digest FROM map_points WHERE model = ? "
        "ORDER BY photo_id", (model,),
    ).fetchall()
    frames = catalog.conn.execute(
        "SELECT -p.frame_id, p.x, p.y, p.cluster, p.digest, f.photo_id, f.time "
        "FROM map_frame_points p JOIN frames f ON f.id = p.frame_id WHERE p.model = ? "
        "ORDER BY p.frame_id", (model,),
    ).fetchall()
    table = np.array(rows + [r[:5] for r in frames], dtype=np.float64).reshape(-1, 5)
    clusters = tuple(
        Cluster(number, size, (x, y), tuple(json.loads(reps)))
        for number, size, x, y, reps in catalog.conn.execute(
            "SELECT cluster, size, x, y, representatives FROM map_clusters WHERE model = ? "
            "ORDER BY cluster", (model,))
    )
    keys = np.array([r[0] for r in rows] + [r[0] for r in frames], dtype=np.int64)
    ids = np.array([r[0] for r in rows] + [r[5] for r in frames], dtype=np.int64)
    times = (np.array([np.nan] * len(rows) + [r[6] for r in frames], dtype=np.float64)
             if frames else None)
    result = MapResult(model, ids, table[:, 1:3].astype(np.float32),
                       table[:, 3].astype(np.int32), clusters, params, row[0], row[1], "loaded",
                       times=times, keys=keys)
    digests = np.array([r[4] for r in rows] + [r[4] for r in frames], dtype=np.int64)
    return StoredMap(result, digests, row[3], row[4])


def save_fitted(path: Path, fitted: dict[str, Any]) -> None:
    """Pickle the fitted PCA + UMAP (and its token and ids) atomically; a failure only logs."""
    try:
        write_bytes_atomic(path, pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as exc:
        log.warning("could not save the fitted map model to %s: %s", path, exc)


def load_fitted(path: Path, token: str) -> dict[str, Any] | None:
    """The pickled fit that made the stored map, or None (missing, stale or unreadable)."""
    try:
        with path.open("rb") as fh:
            fitted = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means: refit
        log.warning("cannot read the fitted map model %s (%s); refitting", path, exc)
        return None
    if not isinstance(fitted, dict) or fitted.get("token") != token:
        return None
    return fitted
