"""The cluster map: a 2-D layout of a library's embeddings where similar photos sit together.

Embeddings are reduced to 50 dimensions with a randomized PCA, then laid out with
umap-learn (cosine metric, seeded). The map is stored in the catalog with the parameters
that made it and the catalog generation it shows, and reused until the embeddings change.
Photos added since are placed with the fitted model's ``transform`` (the fitted PCA and
UMAP are pickled beside the catalog); too many new photos, or ``recompute``, refit. A video
clip is laid out as its kept frames, one point each (:func:`map_points`).

Measured here (2 cores shared with other work, synthetic 2048-d embeddings,
``python -m benchmarks.map``): numba compiles umap's code for 40-110 s the first time it
runs in a process (51 s at load 3), so the app calls :func:`warm_up` in the background
soon after start and shows :func:`pca_layout` (or the stored map) at once. Warm, a
10,000-photo map takes 16 s (PCA 1 s, UMAP 14 s, clusters 0.7 s) and a 50,000-photo one
48 s (7 + 40 + 0.7 s). Seeding (``random_state``) makes umap lay out single-threaded; on
these two cores the unseeded, parallel layout was no faster (10k: 15-18 s seeded, 20 s
unseeded), so maps are always seeded and reproducible. The nearest-neighbour search always
takes the approximate (NN-descent) path, even for small libraries, so one warm-up compiles
everything a real map needs.

UMAP cannot be interrupted mid-fit: the fit runs in a helper thread while the job keeps
yielding progress; on cancel the job raises at once and the fit's result is discarded when
it ends. umap runs one fit or transform at a time per process (:data:`_ENGINE`). The app
runs this module in :mod:`core.map.engine`'s child process instead (numba, LAPACK and
umap hold the GIL for seconds), where cancel kills the fit; the CLI runs it in-process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.errors import LookalikeError
from core.jobs import Job, Progress, check_cancel
from core.map.clusters import find_clusters
from core.map.sampled import SAMPLED_ABOVE, compute_sampled, sampled_pca_layout
from core.map.store import (
    MapParams,
    MapResult,
    StoredMap,
    embedding_digests,
    load_fitted,
    load_map,
    map_model_path,
    read_map,
    save_fitted,
    store_map,
)

__all__ = ["MapParams", "MapPoints", "MapResult", "compute_map", "initial_layout",
           "is_current", "load_map", "map_model_path", "map_points", "pca_layout", "warm_up",
           "warm_up_job"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MIN_UMAP_PHOTOS = 16  # fewer photos: the map is a plain 2-D PCA
REFIT_FRACTION = 0.5  # more photos placed by transform than this share of the fit: refit
TICK_S = 0.1  # how often a job reports progress while umap works


class _Engine:
    """umap and numba state of this process: one fit or transform at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.warm = False


_ENGINE = _Engine()


# -- public verbs ----------------------------------------------------------------------------


def compute_map(
    catalog: Catalog,
    model: str,
    *,
    seed: int = 42,
    recompute: bool = False,
    cancel: threading.Event | None = None,
) -> Job[MapResult]:
    """The map of ``model``'s embeddings: stored if current, updated, or fitted.

    Phases: "loading", "pca", "umap", "clusters". The map is written in one transaction at
    the end, so a cancelled or killed job leaves the previous map as it was. Raises
    :class:`LookalikeError` when no photo has an embedding yet, Cancelled when cancelled.
    """
    start = time.perf_counter()
    params = MapParams(seed=seed)
    generation = catalog.generation(model)
    stored = None if recompute else read_map(catalog, model)
    if stored is not None and stored.result.params == params \
            and stored.result.generation == generation:
        yield Progress("loading", 1, 1, "The map is up to date")
        return replace(stored.result, how="cached", seconds=time.perf_counter() - start)
    if catalog.embedded_count(model) > SAMPLED_ABOVE:
        result = yield from compute_sampled(catalog, model, params, generation, stored, cancel,
                                            REFIT_FRACTION)
        return replace(result, seconds=time.perf_counter() - start)
    yield Progress("loading", 0, 1, "Reading embeddings")
    points = map_points(catalog, model)
    check_cancel(cancel)
    if not len(points.keys):
        raise LookalikeError("No photo has been analysed yet: index the library first.")
    digests = embedding_digests(points.vectors)
    if stored is not None and stored.result.params == params and stored.result.method == "umap":
        fitted = load_fitted(map_model_path(catalog, model), stored.token)
        if fitted is not None:
            updated = yield from _update(catalog, stored, fitted, points, digests,
                                         generation, cancel)
            if updated is not None:
                return replace(updated, seconds=time.perf_counter() - start)
    result = yield from _fit(catalog, model, points, digests, params, generation, cancel)
    return replace(result, seconds=time.perf_counter() - start)


@dataclass(frozen=True)
class MapPoints:
    """What a map lays out: per point its key (photo id, or ``-frames.id`` for a clip's
    kept frame), embedding, item (photo or clip id) and time in its clip (NaN: a photo;
    ``times`` None when there is no clip)."""

    keys: NDArray[np.int64]
    vectors: NDArray[np.float32]
    ids: NDArray[np.int64]
    times: NDArray[np.float64] | None


def map_points(catalog: Catalog, model: str) -> MapPoints:
    """The photos' embeddings and, for each clip, its kept frames' (not the clip's poster)."""
    from core.video.search import search_data
    from core.video.store import frame_owners

    keys, half = search_data(catalog, model)
    vectors = half.astype(np.float32)
    frames = np.flatnonzero(keys < 0)
    if not len(frames):
        return MapPoints(keys, vectors, keys, None)
    owners = frame_owners(catalog, (-keys[frames]).tolist())
    keep = np.ones(len(keys), dtype=bool)
    ids = keys.copy()
    times = np.full(len(keys), np.nan)
    for k in frames:
        owner = owners.get(-int(keys[k]))
        if owner is None:  # deleted since (a scan in another thread)
            keep[k] = False
        else:
            ids[k], times[k] = owner
    return MapPoints(keys[keep], vectors[keep], ids[keep], times[keep])


def is_current(catalog: Catalog, model: str, result: MapResult) -> bool:
    """Whether ``result`` shows the embeddings as they are now."""
    return result.how != "preview" and result.generation == catalog.generation(model)


def pca_layout(catalog: Catalog, model: str) -> MapResult:
    """An instant map (2-D randomized PCA, no clusters) to show while UMAP computes."""
    start = time.perf_counter()
    generation = catalog.generation(model)
    if catalog.embedded_count(model) > SAMPLED_ABOVE:  # no full-dimension copy
        ids, xy = sampled_pca_layout(catalog, model)
        return MapResult(model, ids, xy, np.full(len(ids), -1, np.int32), (), MapParams(),
                         generation, "pca", "preview", time.perf_counter() - start)
    points = map_points(catalog, model)
    n = len(points.keys)
    xy = _pca_2d(points.vectors) if n > 2 else np.zeros((n, 2), np.float32)
    return MapResult(model, points.ids, xy, np.full(n, -1, np.int32), (), MapParams(),
                     generation, "pca", "preview", time.perf_counter() - start,
                     times=points.times, keys=points.keys)


def initial_layout(catalog: Catalog, model: str) -> MapResult:
    """What to show at once: the stored map (even if stale), else :func:`pca_layout`."""
    return load_map(catalog, model) or pca_layout(catalog, model)


def warm_up() -> float:
    """Compile umap's numba code on a tiny dataset (40-70 s on first use in a process) so
    the first real map is fast; returns the seconds spent. Thread-safe; cheap when warm."""
    start = time.perf_counter()
    with _ENGINE.lock:
        _compile()
    return time.perf_counter() - start


def warm_up_job(cancel: threading.Event | None = None) -> Job[float]:
    """:func:`warm_up` as a job: cancelling returns at once (the compile goes on, in a
    daemon thread that does not hold up the app's exit)."""
    start = time.perf_counter()
    if not _ENGINE.warm:
        yield from _in_thread(_compile, "warm-up", "Preparing the map engine", cancel)
    return time.perf_counter() - start


def _compile() -> None:
    """Fit and transform a tiny dataset (call with the engine lock held)."""
    if _ENGINE.warm:
        return
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    data = rng.standard_normal((300, MapParams.pca_dims)).astype(np.float32)
    reducer = _make_umap(MapParams(), len(data), n_epochs=5)
    reducer.fit(data)
    reducer.transform(data[:5])
    _ENGINE.warm = True
    log.info("umap warmed up in %.1f s", time.perf_counter() - start)


# -- fitting and updating --------------------------------------------------------------------


def _fit(catalog: Catalog, model: str, points: MapPoints, digests: NDArray[np.int64],
         params: MapParams, generation: int, cancel: threading.Event | None) -> Job[MapResult]:
    vectors = points.vectors
    n = len(vectors)
    dims = max(2, min(params.pca_dims, n - 1, vectors.shape[1]))
    pca, reduced = yield from _in_thread(
        lambda: _pca(vectors, dims, params.seed), "pca", f"Reducing {n:,} embeddings", cancel,
        engine=False)
    reducer = None
    if n < MIN_UMAP_PHOTOS:
        method, xy = "pca", np.ascontiguousarray(reduced[:, :2])
    else:
        reducer = yield from _in_thread(
            lambda: _make_umap(params, n).fit(reduced), "umap", f"Laying out {n:,} photos",
            cancel)
        method, xy = "umap", np.asarray(reducer.embedding_, dtype=np.float32)
    check_cancel(cancel)
    yield Progress("clusters", 0, 1, "Finding clusters")
    labels, info = find_clusters(points.ids, xy, seed=params.seed)
    check_cancel(cancel)
    token = uuid.uuid4().hex
    if reducer is not None:
        save_fitted(map_model_path(catalog, model),
                     {"token": token, "pca": pca, "umap": reducer, "fit_ids": points.keys})
    result = MapResult(model, points.ids, xy, labels, info, params, generation, method,
                       "fitted", times=points.times, keys=points.keys)
    store_map(catalog, result, digests, token, fitted_at=time.time())
    yield Progress("clusters", 1, 1, f"{len(info)} clusters")
    return result


def _update(catalog: Catalog, stored: StoredMap, fitted: dict[str, Any], points: MapPoints,
            digests: NDArray[np.int64], generation: int,
            cancel: threading.Event | None) -> Job[MapResult | None]:
    """Keep the stored points, place new or changed photos with transform; None: refit."""
    old = stored.result
    ids, vectors = points.keys, points.vectors
    position = {int(i): k for k, i in enumerate(old.keys if old.keys is not None else old.ids)}
    source = np.array([position.get(int(i), -1) for i in ids], dtype=np.int64)
    same = source >= 0
    same[same] = stored.digests[source[same]] == digests[same]
    new = np.flatnonzero(~same)
    fit_ids = fitted["fit_ids"]
    unfitted = len(np.setdiff1d(ids, fit_ids, assume_unique=True))
    if unfitted > REFIT_FRACTION * len(fit_ids):
        log.info("map: %d of %d photos were not in the fit; refitting", unfitted, len(ids))
        return None
    xy = np.empty((len(ids), 2), dtype=np.float32)
    xy[same] = old.xy[source[same]]
    if len(new):
        reduced = np.ascontiguousarray(fitted["pca"].transform(vectors[new]), dtype=np.float32)
        xy[new] = yield from _in_thread(
            lambda: fitted["umap"].transform(reduced), "umap",
            f"Placing {len(new):,} new photos", cancel)
    check_cancel(cancel)
    yield Progress("clusters", 0, 1, "Finding clusters")
    labels, info = find_clusters(points.ids, xy, seed=old.params.seed)
    check_cancel(cancel)
    result = MapResult(old.model, points.ids, xy, labels, info, old.params, generation, "umap",
                       "updated", placed=len(new), times=points.times, keys=points.keys)
    store_map(catalog, result, digests, stored.token, fitted_at=stored.fitted_at)
    yield Progress("clusters", 1, 1, f"{len(info)} clusters")
    return result


def _pca(vectors: NDArray[np.float32], dims: int, seed: int) -> tuple[Any, NDArray[np.float32]]:
    """Fit a randomized PCA; returns (the PCA, C-contiguous float32 coordinates)."""
    from sklearn.decomposition import PCA

    # Two power iterations explain as much variance as sklearn's default (7) here, 4x faster.
    pca = PCA(dims, svd_solver="randomized", iterated_power=2, random_state=seed)
    # umap's numba code compiles again for every array layout: keep it C-contiguous.
    return pca, np.ascontiguousarray(pca.fit_transform(vectors), dtype=np.float32)


def _pca_2d(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """A 2-D randomized PCA in plain numpy, for the preview in an app thread: numpy's BLAS
    and LAPACK calls release the GIL (sklearn's go through scipy, which holds it)."""
    mean, components = _pca_2d_axes(vectors)
    return np.ascontiguousarray(vectors @ components - mean @ components, dtype=np.float32)


def _pca_2d_axes(vectors: NDArray[np.float32], oversample: int = 10
                 ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(mean, (dim, 2) principal axes) of ``vectors``, by randomized PCA."""
    mean = vectors.mean(axis=0)
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((vectors.shape[1], oversample)).astype(np.float32)
    y = vectors @ basis - mean @ basis  # (vectors - mean) @ basis, without the centred copy
    for _ in range(2):  # power iterations, re-orthonormalised
        q = np.linalg.qr(y)[0]
        z = vectors.T @ q - np.outer(mean, q.sum(axis=0))
        y = vectors @ z - mean @ z
    q = np.linalg.qr(y)[0]
    small = q.T @ vectors - np.outer(q.sum(axis=0), mean)  # q.T @ (vectors - mean)
    components = np.linalg.svd(small, full_matrices=False)[2][:2].T
    return mean, components


def _make_umap(params: MapParams, n: int, n_epochs: int | None = None) -> Any:
    import umap  # 2 s to import (numba): only when a map is made

    # umap finds exact neighbours below 4,096 photos, and pynndescent's NN-descent (numba
    # code that cannot be cached, ~36 s to compile per process) only from there on
    return umap.UMAP(
        n_components=2, metric=params.metric, n_neighbors=min(params.n_neighbors, n - 1),
        min_dist=params.min_dist, random_state=params.seed, transform_seed=params.seed,
        n_jobs=1, n_epochs=n_epochs, verbose=False,
    )


def _in_thread(fn: Callable[[], T], phase: str, text: str, cancel: threading.Event | None,
               *, engine: bool = True) -> Job[T]:
    """Run ``fn`` in a helper thread (holding the umap engine lock if ``engine``), yielding
    busy progress every :data:`TICK_S`. On cancel, raise at once; ``fn`` runs to its end in
    the background and its result is dropped (umap cannot be interrupted)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            if engine:
                with _ENGINE.lock:
                    box["started"] = True
                    box["value"] = fn()
            else:
                box["started"] = True
                box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the job's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"lookalike-map-{phase}", daemon=True)
    start = time.perf_counter()
    yield Progress(phase, 0, 0, text)  # announce the phase, however quickly it ends
    thread.start()
    while True:
        thread.join(TICK_S)
        if not thread.is_alive():
            break
        check_cancel(cancel)
        waited = time.perf_counter() - start
        if "started" in box:
            note = "" if _ENGINE.warm or not engine else " (first map: compiling, ~1 min)"
            yield Progress(phase, 0, 0, f"{text}{note} · {waited:.0f} s")
        else:
            yield Progress(phase, 0, 0, f"Waiting for the map engine · {waited:.0f} s")
    if "error" in box:
        raise box["error"]
    if engine:
        _ENGINE.warm = True
    return box["value"]
