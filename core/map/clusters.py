"""Groups of points on the cluster map: automatic clusters, and colourings by folder,
capture date or label, with the palette the map view and the PNG export share.

Clusters are found on the 2-D map with HDBSCAN. sklearn's HDBSCAN slows down
quadratically past ~10,000 points (measured here: 0.5 s at 10k, ~60 s at 100k), so large
maps are clustered on a seeded sample of 10,000 points and every other point takes the
cluster of its nearest sampled neighbour.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.labels import LabelStore

CLUSTER_SAMPLE = 10_000  # HDBSCAN runs on at most this many points
REPRESENTATIVES = 6  # photos shown for a cluster, nearest its centre first
MAX_CATEGORIES = 19  # legend entries before the rest are lumped into "Other"

# Tableau-like categorical palette (RGB), readable on dark and light backgrounds.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
    (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (186, 176, 172),
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (174, 199, 232),
)
NONE_COLOUR = (120, 120, 120)  # points in no cluster, without a date or a label
# Viridis stops, for ordered categories (dates): interpolated across the legend.
_SEQUENTIAL = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


@dataclass(frozen=True)
class Cluster:
    """An automatic cluster: ``number`` (0 = largest), size, centre on the map, and the
    ids of the photos nearest the centre (its most typical photos, best first)."""

    number: int
    size: int
    centre: tuple[float, float]
    representatives: tuple[int, ...]


def find_clusters(
    ids: NDArray[np.int64], xy: NDArray[np.float32], *, seed: int = 0
) -> tuple[NDArray[np.int32], tuple[Cluster, ...]]:
    """Cluster map points; returns (cluster number per point, -1 for none; the clusters).

    The minimum cluster size grows with the library (√n / 2, at least 3), so a small
    library gets clusters of a few near-duplicates and a large one a readable few dozen.
    """
    from sklearn.cluster import HDBSCAN  # a second to import: only when clustering
    from sklearn.neighbors import KDTree

    n = len(xy)
    labels = np.full(n, -1, dtype=np.int32)
    if n < 6:
        return labels, ()
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, CLUSTER_SAMPLE, replace=False)) if n > CLUSTER_SAMPLE \
        else np.arange(n)
    points = np.asarray(xy[sample], dtype=np.float64)
    size = max(3, round(np.sqrt(len(sample)) / 2))
    found = HDBSCAN(min_cluster_size=size, min_samples=min(size, 8), copy=True).fit_predict(
        points
    )
    if len(sample) < n:
        nearest = KDTree(points).query(np.asarray(xy, dtype=np.float64), k=1,
                                       return_distance=False)[:, 0]
        found = found[nearest]
    # Number clusters by size, largest first.
    counts = Counter(int(c) for c in found if c >= 0)
    order = {old: new for new, (old, _n) in enumerate(
        sorted(counts.items(), key=lambda item: (-item[1], item[0])))}
    for old, new in order.items():
        labels[found == old] = new
    clusters = []
    for number in range(len(order)):
        members = np.flatnonzero(labels == number)
        centre = xy[members].mean(axis=0)
        distance = np.linalg.norm(xy[members] - centre, axis=1)
        nearest_members = members[np.argsort(distance, kind="stable")[:REPRESENTATIVES]]
        clusters.append(Cluster(number, len(members), (float(centre[0]), float(centre[1])),
                                tuple(int(i) for i in ids[nearest_members])))
    return labels, tuple(clusters)


# -- colourings ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Colouring:
    """How to colour the map: ``values[i]`` indexes ``legend`` for point i (-1: grey).

    ``sequential``: the categories are ordered (dates) and get a gradient, not a palette.
    """

    name: str
    values: NDArray[np.int32]
    legend: tuple[str, ...]
    counts: tuple[int, ...]
    sequential: bool = False

    def colours(self) -> list[tuple[int, int, int]]:
        """The RGB colour of each legend entry."""
        n = len(self.legend)
        if not self.sequential:
            return [PALETTE[i % len(PALETTE)] for i in range(n)]
        return [_gradient(i / max(1, n - 1)) for i in range(n)]

    def members(self, entry: int) -> NDArray[np.intp]:
        """Point indices of legend entry ``entry`` (-1: the uncoloured points)."""
        return np.flatnonzero(self.values == entry)


def colourings(
    catalog: Catalog, ids: NDArray[np.int64], clusters: NDArray[np.int32],
    model: str | None = None,
) -> dict[str, Callable[[], Colouring]]:
    """The ways to colour a map of ``ids``, by name; each is computed when called (it may
    read the catalog: call it off the GUI thread). Each label set adds its labels, and its
    predicted labels where it has a head trained on ``model``."""
    from core.labels.heads import trained_models  # torch: only when labels exist

    options: dict[str, Callable[[], Colouring]] = {
        "Cluster": partial(by_cluster, clusters),
        "Folder": partial(by_folder, catalog, ids),
        "Capture date": partial(by_date, catalog, ids),
    }
    for label_set in LabelStore(catalog).sets():
        options[f"Label: {label_set.name}"] = partial(by_label, catalog, ids, label_set.id)
        if model is not None and model in trained_models(catalog, label_set.id):
            options[f"Predicted: {label_set.name}"] = partial(
                by_prediction, catalog, ids, label_set.id, model)
    return options


def by_cluster(clusters: NDArray[np.int32]) -> Colouring:
    """The automatic clusters (see :func:`find_clusters`)."""
    n = int(clusters.max()) + 1 if len(clusters) else 0
    counts = np.bincount(clusters[clusters >= 0], minlength=n)
    legend = tuple(f"Cluster {i + 1}" for i in range(n))
    return Colouring("Cluster", clusters.astype(np.int32), legend,
                     tuple(int(c) for c in counts))


def by_folder(catalog: Catalog, ids: NDArray[np.int64]) -> Colouring:
    """The folder each photo is in: the first level below what all photos share."""
    parts = {p.id: PurePath(os.path.relpath(p.path.parent, catalog.root)).parts
             for p in catalog.photos(int(i) for i in ids)}
    parts = {pid: () if p == (".",) else p for pid, p in parts.items()}
    common = 0
    while parts and all(len(p) > common for p in parts.values()) \
            and len({p[common] for p in parts.values()}) == 1:
        common += 1
    names = {pid: p[common] if len(p) > common else (p[-1] if p else "(top folder)")
             for pid, p in parts.items()}
    return _categorical("Folder", [names.get(int(i)) for i in ids])


def by_date(catalog: Catalog, ids: NDArray[np.int64]) -> Colouring:
    """Capture year (or month, when all photos are from one year), oldest first."""
    dates = {p.id: p.captured_at for p in catalog.photos(int(i) for i in ids) if p.captured_at}
    years = {d[:4] for d in dates.values()}
    width = 7 if len(years) == 1 else 4
    keys = [dates[int(i)][:width] if int(i) in dates else None for i in ids]
    return _categorical("Capture date", keys, ordered=True)


def by_label(catalog: Catalog, ids: NDArray[np.int64], set_id: int) -> Colouring:
    """The photo's label in a label set (its first, for multi-label sets)."""
    store = LabelStore(catalog)
    names = {label.id: label.name for label in store.labels(set_id)}
    assigned = store.photo_labels(set_id)
    keys = [names.get(assigned[int(i)][0]) if int(i) in assigned else None for i in ids]
    name = f"Label: {store.get_set(set_id).name}"
    return _categorical(name, keys, order=list(names.values()))


def by_prediction(catalog: Catalog, ids: NDArray[np.int64], set_id: int,
                  model: str) -> Colouring:
    """The label the set's trained head finds most likely for each photo."""
    from core.labels.review import load_predictions

    store = LabelStore(catalog)
    names = {label.id: label.name for label in store.labels(set_id)}
    predictions = load_predictions(catalog, set_id, model)
    best: dict[int, str | None] = {}
    if predictions is not None:
        top = predictions.probs.argmax(axis=1)
        best = {int(pid): names.get(predictions.label_ids[t])
                for pid, t in zip(predictions.photo_ids, top, strict=True)}
    keys = [best.get(int(i)) for i in ids]
    name = f"Predicted: {store.get_set(set_id).name}"
    return _categorical(name, keys, order=list(names.values()))


def _categorical(name: str, keys: Sequence[str | None], *, ordered: bool = False,
                 order: Sequence[str] | None = None) -> Colouring:
    """A colouring from one key per point (None: uncoloured); rare keys become "Other"."""
    counts = Counter(k for k in keys if k is not None)
    if order is not None:
        legend = [k for k in order if k in counts]
    elif ordered:
        legend = sorted(counts)
    else:
        legend = [k for k, _n in counts.most_common()]
    other = -1  # where keys left out of the legend go
    if len(legend) > MAX_CATEGORIES + 1:
        kept = {k for k, _n in counts.most_common(MAX_CATEGORIES)}
        legend = [k for k in legend if k in kept] + ["Other"]
        other = len(legend) - 1
    position = {k: i for i, k in enumerate(legend[: len(legend) if other < 0 else other])}
    values = np.array([-1 if k is None else position.get(k, other) for k in keys],
                      dtype=np.int32)
    sizes = np.bincount(values[values >= 0], minlength=len(legend))
    return Colouring(name, values, tuple(legend), tuple(int(s) for s in sizes),
                     sequential=ordered)


def _gradient(t: float) -> tuple[int, int, int]:
    """The viridis colour at ``t`` in [0, 1]."""
    pos = t * (len(_SEQUENTIAL) - 1)
    i = min(int(pos), len(_SEQUENTIAL) - 2)
    f = pos - i
    a, b = _SEQUENTIAL[i], _SEQUENTIAL[i + 1]
    return (round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f),
            round(a[2] + (b[2] - a[2]) * f))


# -- selecting points ------------------------------------------------------------------------


def in_rectangle(xy: NDArray[np.float32], corner_a: tuple[float, float],
                 corner_b: tuple[float, float]) -> NDArray[np.intp]:
    """Indices of the points inside the rectangle spanned by two corners."""
    (x0, x1), (y0, y1) = sorted((corner_a[0], corner_b[0])), sorted((corner_a[1], corner_b[1]))
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    return np.flatnonzero(inside)


def in_polygon(xy: NDArray[np.float32], polygon: NDArray[np.float64]) -> NDArray[np.intp]:
    """Indices of the points inside ``polygon`` ((m, 2) vertices; even-odd rule)."""
    polygon = np.asarray(polygon, dtype=np.float64)
    if len(polygon) < 3 or not len(xy):
        return np.zeros(0, dtype=np.intp)
    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0])
                                & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    px = xy[candidates, 0].astype(np.float64)
    py = xy[candidates, 1].astype(np.float64)
    inside = np.zeros(len(candidates), dtype=bool)
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1, strict=True):  # ray casting, one edge at a time
        crosses = (ay > py) != (by > py)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = ax + (py - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (px < x_at)
    return candidates[inside]


def nearest_point(xy: NDArray[np.float32], at: tuple[float, float],
                  pixel: tuple[float, float], radius_px: float) -> int | None:
    """Index of the point nearest ``at`` within ``radius_px`` screen pixels, or None.

    ``pixel`` is the size of one screen pixel in map units along x and y.
    """
    if not len(xy) or pixel[0] <= 0 or pixel[1] <= 0:
        return None
    dx = (xy[:, 0] - at[0]) / pixel[0]
    dy = (xy[:, 1] - at[1]) / pixel[1]
    distance = dx * dx + dy * dy
    best = int(np.argmin(distance))
    return best if distance[best] <= radius_px * radius_px else None
