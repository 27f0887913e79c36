"""Maps of very large libraries: UMAP fitted on a sample, every other photo placed with
``transform``, a block of embeddings at a time.

Above :data:`SAMPLED_ABOVE` photos a full UMAP fit would hold every embedding as float32
(5 GB at 1M photos of the default 1280-d model) and take hours on a laptop. Instead (the
method umap-learn's documentation gives for data too big to fit): a seeded sample of
:data:`FIT_SAMPLE` photos is reduced with PCA and laid out by UMAP; then the whole library is
read from the catalog a block at a time, each block is projected with the fitted PCA and
placed with the fitted UMAP's ``transform`` (the sample's own photos keep their fitted
places). Memory stays at the sample, one block and the 2-D points. An update (photos added
since, or changed) places only those photos, in the same pass; more new photos than
:data:`~core.map.layout.REFIT_FRACTION` of the library at fit time refits. Not yet done here:
a video clip is one point (its poster embedding), not one point per kept frame as on the
maps of smaller libraries.
"""

from __future__ import annotations

import threading
import time
import uuid
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.jobs import Job, Progress, check_cancel
from core.map.clusters import find_clusters
from core.map.store import (
    MapParams,
    MapResult,
    StoredMap,
    embedding_digests,
    load_fitted,
    map_model_path,
    save_fitted,
    store_map,
)

SAMPLED_ABOVE = 200_000  # photos: larger libraries are mapped from a fitted sample
FIT_SAMPLE = 50_000  # photos UMAP is fitted on (48 s here for 50k, 2048-d)
PLACE_BLOCK = 20_000  # embeddings read, projected and placed at a time
PREVIEW_SAMPLE = 20_000  # rows the preview's 2-D PCA is fitted on


def embedded_ids(catalog: Catalog, model: str) -> NDArray[np.int64]:
    """Ids of the photos with an embedding of ``model``, in id order."""
    rows = catalog.conn.execute(
        "SELECT photo_id FROM embeddings WHERE model = ? ORDER BY photo_id", (model,))
    return np.fromiter((r[0] for r in rows), np.int64)


def compute_sampled(catalog: Catalog, model: str, params: MapParams, generation: int,
                    stored: StoredMap | None, cancel: threading.Event | None,
                    refit_fraction: float) -> Job[MapResult]:
    """The map of a large library: the stored one updated, or a new sampled fit."""
    from core.map.layout import _in_thread, _make_umap, _pca

    all_ids = embedded_ids(catalog, model)
    fitted = None
    if stored is not None and stored.result.params == params and stored.result.method == "umap":
        fitted = load_fitted(map_model_path(catalog, model), stored.token)
        if fitted is not None:
            added = len(np.setdiff1d(all_ids, stored.result.ids, assume_unique=True))
            if added > refit_fraction * fitted.get("covered", len(fitted["fit_ids"])):
                fitted = None
    if fitted is None:
        stored = None
        rng = np.random.default_rng(params.seed)
        sample = np.sort(rng.choice(all_ids, min(FIT_SAMPLE, len(all_ids)), replace=False))
        yield Progress("loading", 0, 1, f"Reading a sample of {len(sample):,} embeddings")
        sample, vectors = catalog.embeddings(model, sample)
        check_cancel(cancel)
        dims = max(2, min(params.pca_dims, len(sample) - 1, vectors.shape[1]))
        pca, reduced = yield from _in_thread(
            lambda: _pca(vectors, dims, params.seed), "pca",
            f"Reducing a sample of {len(sample):,} embeddings", cancel, engine=False)
        del vectors
        reducer = yield from _in_thread(
            lambda: _make_umap(params, len(sample)).fit(reduced), "umap",
            f"Laying out a sample of {len(sample):,} photos", cancel)
        fitted = {"token": uuid.uuid4().hex, "pca": pca, "umap": reducer, "fit_ids": sample,
                  "sampled": True, "covered": len(all_ids), "fitted_at": time.time()}
    ids, xy, digests, placed = yield from _place(catalog, model, fitted, stored, len(all_ids),
                                                 cancel)
    check_cancel(cancel)
    yield Progress("clusters", 0, 1, "Finding clusters")
    labels, info = find_clusters(ids, xy, seed=params.seed)
    check_cancel(cancel)
    how = "updated" if stored is not None else "fitted"
    if stored is None:
        save_fitted(map_model_path(catalog, model), fitted)
    result = MapResult(model, ids, xy, labels, info, params, generation, "umap", how,
                       placed=placed)
    fitted_at = stored.fitted_at if stored is not None else fitted["fitted_at"]
    store_map(catalog, result, digests, fitted["token"], fitted_at=fitted_at)
    yield Progress("clusters", 1, 1, f"{len(info)} clusters")
    return result


def _place(catalog: Catalog, model: str, fitted: dict[str, Any], stored: StoredMap | None,
           total: int, cancel: threading.Event | None
           ) -> Job[tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64], int]]:
    """One pass over the library: each photo's place on the map (kept, fitted or placed
    with transform), and its embedding's digest. Returns (ids, xy, digests, placed)."""
    from core.map.layout import _in_thread

    fit_ids = np.asarray(fitted["fit_ids"], np.int64)
    fit_xy = np.asarray(fitted["umap"].embedding_, np.float32)
    parts: list[tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]] = []
    done = placed = 0
    for ids, block in catalog.embedding_blocks(model, PLACE_BLOCK):
        check_cancel(cancel)
        digests = embedding_digests(block)
        xy = np.full((len(ids), 2), np.nan, np.float32)
        if stored is not None:
            old = stored.result
            keys = old.keys if old.keys is not None else old.ids  # sorted, as read_map reads
            at = np.minimum(np.searchsorted(keys, ids), max(len(keys) - 1, 0))
            same = (keys[at] == ids) & (stored.digests[at] == digests) if len(keys) \
                else np.zeros(len(ids), bool)
            xy[same] = old.xy[at[same]]
        else:
            at = np.minimum(np.searchsorted(fit_ids, ids), len(fit_ids) - 1)
            same = fit_ids[at] == ids
            xy[same] = fit_xy[at[same]]
        new = np.flatnonzero(~same)
        if len(new):
            reduced = np.ascontiguousarray(
                fitted["pca"].transform(block[new].astype(np.float32)), dtype=np.float32)
            umap_model = fitted["umap"]
            xy[new] = yield from _in_thread(
                partial(umap_model.transform, reduced), "umap",
                f"Placing photos: {done:,} of {total:,}", cancel)
            placed += len(new)
        done += len(ids)
        parts.append((ids, xy, digests))
    if not parts:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.float32), np.zeros(0, np.int64), 0
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), placed)


def sampled_pca_layout(catalog: Catalog, model: str) -> tuple[NDArray[np.int64],
                                                              NDArray[np.float32]]:
    """(ids, 2-D points) of a quick preview: a 2-D PCA fitted on a sample, applied to the
    whole library a block at a time (no full float32 copy of the embeddings)."""
    from core.map.layout import _pca_2d_axes

    all_ids = embedded_ids(catalog, model)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(all_ids, min(PREVIEW_SAMPLE, len(all_ids)), replace=False))
    _, vectors = catalog.embeddings(model, sample)
    mean, axes = _pca_2d_axes(vectors)
    shift = mean @ axes
    ids_out, xy_out = [], []
    for ids, block in catalog.embedding_blocks(model, PLACE_BLOCK):
        ids_out.append(ids)
        xy_out.append((block.astype(np.float32) @ axes - shift).astype(np.float32))
    return np.concatenate(ids_out), np.ascontiguousarray(np.concatenate(xy_out))
