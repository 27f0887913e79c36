"""The neighbour graph at a radius, and connected components with a cap on group size.

:func:`radius_pairs` finds every pair of photos whose embeddings have a cosine similarity of
at least ``radius`` without the n^2 comparison: the vectors are projected on their leading
principal axes (uncentred, as the search index projects), split into inverted lists by
spherical k-means (the IVF index's, :mod:`core.index.ivf`), each vector a member of its
nearest list and querying its ``PROBES`` nearest; pairs are scored in the projection, and
those near the radius are re-scored exactly in full dimension. Near-duplicates are far closer than
the radius of the lists, so they share a list; the benchmark measures the recall against
brute force (``python -m benchmarks.duplicates``). Memory: the float16 vectors as stored,
plus ``n x reduced_dim`` float32, plus one list's block of scores at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext

import numpy as np
from numpy.typing import NDArray

from core.index.ivf import kmeans
from core.index.reduced import orthonormal_columns

EXACT_MAX = 6_000  # up to this many vectors, score every pair exactly (in blocks)
REDUCED_DIM = 64
LIST_SIZE = 256  # vectors per inverted list, on average
PROBES = 3  # lists each vector is filed in
MARGIN = 0.03  # reduced scores this far below the radius are still re-scored exactly
_BLOCK = 2048  # rows scored at a time
FLOAT32_BUDGET = 1 << 30  # bytes of float32 vectors held at once (100k x 2048 = 0.8 GB)
_SAMPLE = 512  # rows that fit the projection


def radius_pairs(vectors: NDArray[np.floating], radius: float, *, max_per_row: int = 16,
                 seed: int = 0, low: float | None = None, low_per_row: int = 2
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """Pairs (i, j), i < j, of rows of L2-normalised ``vectors`` with cosine >= ``radius``.

    Each row keeps at most its ``max_per_row`` most similar partners (a burst of 200 frames
    does not make 20,000 pairs). ``low`` (below ``radius``): also each row's ``low_per_row``
    most similar partners with a cosine in [low, radius) (where rotated copies sit, which the
    caller checks further; above EXACT_MAX rows their similarity is the projection's
    approximation, to be re-scored by the caller). Returns (i, j, similarity) arrays sorted
    by similarity, highest first.
    """
    n = len(vectors)
    if n < 2:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), np.zeros(0, np.float32)
    low = None if low is None or low >= radius else low
    with _one_blas_thread():
        if n <= EXACT_MAX:
            blocks = _exact_blocks(vectors, radius, low, low_per_row)
        else:
            blocks = _listed_blocks(vectors, radius, seed, low, low_per_row)
        i, j, s = _collect(blocks)
    if low is None:
        return _strongest(i, j, s, n, max_per_row)
    high = s >= radius
    hi, hj, hs = _strongest(i[high], j[high], s[high], n, max_per_row)
    li, lj, ls = _strongest(i[~high], j[~high], s[~high], n, low_per_row)
    order = np.argsort(-np.concatenate([hs, ls]), kind="stable")
    return (np.concatenate([hi, li])[order], np.concatenate([hj, lj])[order],
            np.concatenate([hs, ls])[order])


def _top_low(scores: NDArray[np.float32], radius: float, low: float, k: int
             ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(row, column) of each row's ``k`` best scores in [low, radius) (``scores`` is
    modified: taken ones are set to -inf)."""
    scores[scores >= radius] = -np.inf
    rows_out, cols_out = [], []
    everyone = np.arange(len(scores))
    for _ in range(min(k, scores.shape[1])):
        cols = scores.argmax(axis=1)
        best = scores[everyone, cols]
        keep = best >= low
        rows_out.append(everyone[keep])
        cols_out.append(cols[keep])
        scores[everyone, cols] = -np.inf
    return (np.concatenate(rows_out).astype(np.int64),
            np.concatenate(cols_out).astype(np.int64))


def _one_blas_thread() -> AbstractContextManager[object]:
    """BLAS on one thread: the graph is many small products, which OpenBLAS's threads made
    several times slower on a busy 2-core machine (threadpoolctl comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _exact_blocks(vectors: NDArray[np.floating], radius: float, low: float | None = None,
                  low_per_row: int = 2
                  ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]:
    full = np.asarray(vectors, dtype=np.float32)
    for start in range(0, len(full), _BLOCK):
        scores = full[start:start + _BLOCK] @ full.T
        diagonal = np.arange(len(scores))
        scores[diagonal, start + diagonal] = -np.inf  # not its own partner
        rows, cols = np.nonzero(scores >= radius)
        sims = scores[rows, cols]
        if low is not None:
            low_rows, low_cols = _top_low(scores.copy(), radius, low, low_per_row)
            rows, cols = np.concatenate([rows, low_rows]), np.concatenate([cols, low_cols])
            sims = np.concatenate([sims, scores[low_rows, low_cols]])
        rows_abs = rows + start
        yield np.minimum(rows_abs, cols), np.maximum(rows_abs, cols), sims


def _listed_blocks(vectors: NDArray[np.floating], radius: float, seed: int,
                   low: float | None = None, low_per_row: int = 2
                   ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]:
    rng = np.random.default_rng(seed)
    n, dim = vectors.shape
    sample = np.asarray(vectors[np.sort(rng.choice(n, min(n, _SAMPLE), replace=False))],
                        dtype=np.float32)
    axes = _principal_axes(sample, REDUCED_DIM)
    # float16 -> float32 is slow in numpy: convert once, when it fits in the budget
    full = (np.empty((n, dim), np.float32) if n * dim * 4 <= FLOAT32_BUDGET else None)
    reduced = np.empty((n, REDUCED_DIM), np.float32)
    for start in range(0, n, 16_384):
        block = np.asarray(vectors[start:start + 16_384], dtype=np.float32)
        if full is not None:
            full[start:start + 16_384] = block
        small = block @ axes.T
        small /= np.maximum(np.linalg.norm(small, axis=1, keepdims=True), 1e-12)
        reduced[start:start + 16_384] = small
    n_lists = max(1, n // LIST_SIZE)
    centroids = kmeans(reduced, n_lists, rng)
    for members, queries in _file_in_lists(reduced, centroids):
        yield from _list_pairs(vectors if full is None else full, reduced, members, queries,
                               radius, low, low_per_row)


def _principal_axes(sample: NDArray[np.float32], r: int) -> NDArray[np.float32]:
    """The r leading uncentred principal axes of ``sample`` (m, dim), as (r, dim).

    Subspace iteration on the m x m Gram matrix (with m well below dim the cheap side), as
    :func:`core.index.reduced.top_axes` does: a full LAPACK ``eigh`` of even 512 x 512 took
    3-7 s on the busy 2-core machine (thread contention); only an (r+16)-square one is left.
    """
    gram = (sample @ sample.T).astype(np.float32, copy=False)
    rng = np.random.default_rng(0)
    basis = orthonormal_columns(gram @ rng.standard_normal((len(gram), min(r + 16, len(gram))),
                                                           dtype=np.float32))
    for _ in range(4):
        basis = orthonormal_columns(gram @ basis)
    values, vecs = np.linalg.eigh(basis.T @ gram @ basis)
    order = np.argsort(values)[::-1][:r]
    top, values = basis @ vecs[:, order], values[order]
    axes = (top.T @ sample) / np.sqrt(np.maximum(values, 1e-12))[:, None]
    return np.ascontiguousarray(axes, dtype=np.float32)


def _file_in_lists(reduced: NDArray[np.float32], centroids: NDArray[np.float32]
                   ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """For each list, (members, queries): each row is a member of its nearest list only and
    queries its PROBES nearest lists (three times fewer products than filing every row in
    three lists, the same pairs found)."""
    n_lists = len(centroids)
    probes = min(PROBES, n_lists)
    assign = np.empty((len(reduced), probes), np.int64)
    nearest = np.empty(len(reduced), np.int64)
    for start in range(0, len(reduced), 4096):
        scores = reduced[start:start + 4096] @ centroids.T
        assign[start:start + 4096] = np.argpartition(-scores, probes - 1, axis=1)[:, :probes]
        nearest[start:start + 4096] = scores.argmax(axis=1)
    rows = np.arange(len(reduced), dtype=np.int64)

    def split(lists: NDArray[np.int64], owners: NDArray[np.int64]) -> list[NDArray[np.int64]]:
        order = np.argsort(lists, kind="stable")
        bounds = np.searchsorted(lists[order], np.arange(n_lists + 1))
        return [owners[order[bounds[k]:bounds[k + 1]]] for k in range(n_lists)]

    members = split(nearest, rows)
    queries = split(assign.ravel(), np.repeat(rows, probes))
    yield from zip(members, queries, strict=True)


def _list_pairs(full: NDArray[np.floating], reduced: NDArray[np.float32],
                members: NDArray[np.int64], queries: NDArray[np.int64], radius: float,
                low: float | None = None, low_per_row: int = 2
                ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]:
    """The pairs at the radius between a list's queries and its members: reduced scores,
    then exact re-scores of those near the radius; and each query's ``low_per_row`` best
    reduced scores down to ``low`` with their reduced (approximate) scores."""
    if not len(members) or not len(queries):
        return
    local = reduced[members]
    for start in range(0, len(queries), _BLOCK):
        q = queries[start:start + _BLOCK]
        scores = reduced[q] @ local.T
        scores[q[:, None] == members[None, :]] = -np.inf  # not its own partner
        scores_copy = scores.copy() if low is not None else scores
        a, b = np.nonzero(scores >= radius - MARGIN)
        i, j = q[a], members[b]
        if len(i):
            exact = _rowwise_dots(full, i, j)
            good = exact >= radius
            yield np.minimum(i, j)[good], np.maximum(i, j)[good], exact[good]
        if low is not None:  # reduced scores, not re-scored: the caller checks the few kept
            low_a, low_b = _top_low(scores, radius - MARGIN, low - MARGIN, low_per_row)
            approx = np.minimum(scores_copy[low_a, low_b], radius - 1e-4)
            i, j = q[low_a], members[low_b]
            yield np.minimum(i, j), np.maximum(i, j), approx.astype(np.float32)


def _rowwise_dots(full: NDArray[np.floating], i: NDArray[np.int64], j: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
    out = np.empty(len(i), np.float32)
    for start in range(0, len(i), 4096):
        a = np.asarray(full[i[start:start + 4096]], dtype=np.float32)
        b = np.asarray(full[j[start:start + 4096]], dtype=np.float32)
        out[start:start + 4096] = np.einsum("ij,ij->i", a, b)
    return out


def _collect(blocks: Iterable[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]
             ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    parts = list(blocks)
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), np.zeros(0, np.float32)
    return (np.concatenate([p[0] for p in parts]).astype(np.int64),
            np.concatenate([p[1] for p in parts]).astype(np.int64),
            np.concatenate([p[2] for p in parts]).astype(np.float32))


def _strongest(i: NDArray[np.int64], j: NDArray[np.int64], s: NDArray[np.float32], n: int,
               max_per_row: int) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                          NDArray[np.float32]]:
    """Unique pairs, each row keeping its ``max_per_row`` best; sorted by similarity."""
    key = i * n + j
    key, first = np.unique(key, return_index=True)
    i, j, s = i[first], j[first], s[first]
    order = np.argsort(-s, kind="stable")
    i, j, s = i[order], j[order], s[order]
    # rank of each pair among the pairs of i and of j, best first
    ends = np.concatenate([i, j])
    rank = np.empty(len(ends), np.int64)
    by_end = np.argsort(ends, kind="stable")  # stable keeps the similarity order
    sorted_ends = ends[by_end]
    starts = np.searchsorted(sorted_ends, sorted_ends, side="left")
    rank[by_end] = np.arange(len(ends)) - starts
    keep = (rank[:len(i)] < max_per_row) | (rank[len(i):] < max_per_row)
    return i[keep], j[keep], s[keep]


class CappedUnion:
    """Union-find whose sets never grow past ``cap`` members: a union that would is refused.

    Edges offered strongest first build tight groups before loose links could chain them
    into one huge group (the "thousands of false groups" of one-slider tools).
    """

    def __init__(self, n: int, cap: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)
        self.cap = cap

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:
            parent[x], x = root, int(parent[x])
        return root

    def union(self, a: int, b: int) -> bool:
        """Join the sets of a and b unless that passes the cap; True if they are now one."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.size[ra] + self.size[rb] > self.cap:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def groups(self, min_size: int = 2) -> list[list[int]]:
        """The sets of at least ``min_size`` members, each sorted, largest first."""
        roots = np.array([self.find(x) for x in range(len(self.parent))], dtype=np.int64)
        order = np.argsort(roots, kind="stable")
        bounds = np.flatnonzero(np.diff(roots[order])) + 1
        out = [part.tolist() for part in np.split(order, bounds) if len(part) >= min_size]
        out.sort(key=lambda g: (-len(g), g[0]))
        return out
