"""Inverted lists over PCA-reduced vectors with exact re-rank (:class:`IvfIndex`): k-means
lists, a query scans the nearest few. See :mod:`core.index`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from core.index.base import load_npy, matvec, save_npy
from core.index.pca import fill, largest, unit_rows
from core.index.reduced import MIN_CANDIDATES, ReRankedIndex

_KMEANS_ITERS = 8
_KMEANS_SAMPLE = 64  # training rows per list (faiss warns below 39)
_ASSIGN_CHUNK = 4096  # rows scored against all centroids at a time (32 MB at 2000 lists)


def _default_n_lists(n: int) -> int:
    """~2 sqrt(n) lists (200 at 10k, 632 at 100k, 2000 at 1M), at least 8 rows each.

    Measured at 100k, 256-d (benchmark data, 500 subjects): 316 lists need 12k rows scanned for
    recall 0.96; 632 lists reach 0.98 with 3.4k rows; more lists cost k-means time."""
    return max(1, min(round(2 * float(np.sqrt(n))), n // 8))


def _nearest(x: NDArray[np.float32], centroids: NDArray[np.float32]) -> NDArray[np.int64]:
    """For each row of x, the centroid with the largest dot product, in chunks."""
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), _ASSIGN_CHUNK):
        stop = min(start + _ASSIGN_CHUNK, len(x))
        out[start:stop] = np.argmax(x[start:stop] @ centroids.T, axis=1)
    return out


def kmeans(x: NDArray[np.float32], k: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """k unit centroids of the directions of x (spherical k-means on a sample)."""
    sample = unit_rows(x[np.sort(rng.choice(len(x), min(len(x), _KMEANS_SAMPLE * k),
                                             replace=False))])
    centroids = sample[rng.choice(len(sample), k, replace=False)]
    for _ in range(_KMEANS_ITERS):
        assign = _nearest(sample, centroids)
        counts = np.bincount(assign, minlength=k)
        full = counts > 0
        sums = np.empty_like(centroids)
        sums[full] = np.add.reduceat(sample[np.argsort(assign, kind="stable")],
                                     (np.cumsum(counts) - counts)[full])
        sums[~full] = sample[rng.choice(len(sample), k - int(full.sum()), replace=False)]
        centroids = unit_rows(sums)
    return centroids


class IvfIndex(ReRankedIndex):
    """Inverted lists: k-means splits the PCA-reduced vectors into `n_lists` lists (stored
    contiguously, float32); a query scans the `nprobe` lists whose centroids are nearest (scaled
    with k), then re-ranks its best candidates exactly. `nprobe` is tuned at build unless given;
    an effort above n_lists scans every list and re-ranks more candidates. Tuned to 0.98, not
    0.97: at 10k, nprobe tuned to 0.97 measured 0.956 and 0.979 on two other sets of queries.
    """

    name: ClassVar[str] = "ivf"
    _EFFORT: ClassVar[str] = "nprobe"

    def __init__(self, n_lists: int | None = None, nprobe: int | None = None,
                 reduced_dim: int | None = 256, target_recall: float = 0.98,
                 seed: int = 0) -> None:
        super().__init__(reduced_dim, target_recall, seed)
        if n_lists is not None and n_lists < 1:
            raise ValueError(f"n_lists must be >= 1 or None, got {n_lists}")
        self.n_lists = n_lists
        self.nprobe = nprobe
        self._matrix: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)  # list by list
        self._centroids: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)
        self._offsets: NDArray[np.int64] = np.zeros(1, dtype=np.int64)  # list i: rows o[i]:o[i+1]
        self._order: NDArray[np.int64] = np.empty(0, dtype=np.int64)  # row -> position

    def _settings(self) -> dict[str, Any]:
        return {"n_lists": self.n_lists, "nprobe": self.nprobe,
                "reduced_dim": self.reduced_dim, "target_recall": self.target_recall,
                "seed": self.seed}

    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]],
                       rng: np.random.Generator) -> None:
        reduced = fill(n, width, chunks)
        self.n_lists = min(self.n_lists or _default_n_lists(n), max(n, 1))
        if not n:
            self._matrix, self._centroids = reduced, np.empty((0, width), np.float32)
            self._offsets, self._order = np.zeros(1, np.int64), np.empty(0, np.int64)
            return
        self._centroids = kmeans(reduced, self.n_lists, rng)
        assign = _nearest(reduced, self._centroids)
        self._order = np.argsort(assign, kind="stable")
        self._matrix = reduced[self._order]
        counts = np.bincount(assign, minlength=self.n_lists)
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        n, n_lists = len(self), len(self._centroids)
        probes = min(max(effort * want // MIN_CANDIDATES, 1), n_lists)
        count = min(max(want, want * effort // n_lists), n)
        if probes == n_lists:
            if count == n:
                return np.arange(n, dtype=np.int64)
            return self._order[largest(self._matrix @ q, count)]
        centroid_scores = matvec(self._centroids, q)
        lists = largest(centroid_scores, probes)
        sizes = self._offsets[lists + 1] - self._offsets[lists]
        if sizes.sum() < count:  # small lists: take the next nearest ones until enough rows
            ranked = np.argsort(-centroid_scores)
            enough = np.cumsum(np.diff(self._offsets)[ranked]) >= count
            lists = ranked[: int(np.argmax(enough)) + 1]
            sizes = self._offsets[lists + 1] - self._offsets[lists]
        starts = self._offsets[lists]
        scores = np.empty(int(sizes.sum()), dtype=np.float32)
        at = 0
        for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
            matvec(self._matrix[start : start + size], q, out=scores[at : at + size])
            at += size
        rows = np.arange(len(scores)) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        return self._order[rows[largest(scores, count)]]

    def _effort_range(self) -> tuple[int, int]:
        n_lists = max(len(self._centroids), 1)
        return 1, n_lists * max(-(-len(self) // MIN_CANDIDATES), 1)

    def _meta_arrays(self) -> dict[str, NDArray[Any]]:
        return {"x_centroids": self._centroids, "x_offsets": self._offsets,
                "x_order": self._order}

    def _restore_meta(self, meta: Mapping[str, NDArray[Any]]) -> None:
        self._centroids = np.ascontiguousarray(meta["x_centroids"], dtype=np.float32)
        self._offsets, self._order = meta["x_offsets"], meta["x_order"]

    def _save_main(self, tmp: str) -> None:
        save_npy(tmp, self._matrix)

    def _load_main(self, path: Path, width: int) -> int:
        self._matrix = load_npy(path, (len(self._ids), width), np.float32)
        if len(self._order) != len(self._matrix) or self._offsets[-1] != len(self._matrix):
            return -1  # the lists belong to other vectors: load() asks for a rebuild
        return len(self._matrix)
