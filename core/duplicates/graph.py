"""The neighbour graph at a radius, and connected components with a cap on group size.

:func:`radius_pairs` finds every pair of photos whose embeddings have a cosine similarity of
at least ``radius`` without the n^2 comparison: the vectors are projected on their
``FINE_DIM`` leading principal axes (uncentred, as the search index projects); the first
``COARSE_DIM`` of those split the library into inverted lists by spherical k-means (FAISS),
each vector a member of its nearest list and querying its ``PROBES`` nearest; pairs are
scored in the fine projection, and those near the radius are re-scored exactly in full
dimension. Near-duplicates are far closer than the radius of the lists, so they share a list;
the benchmark measures the recall against brute force (``python -m benchmarks.duplicates``).

:func:`radius_pairs_streamed` does the same from blocks of vectors (read from the catalog a
block at a time): what it holds is the projection (``n x COARSE_DIM`` float32 plus ``n x
FINE_DIM`` float16: 0.75 GB at 1M photos), never the full vectors; the few candidate pairs
are re-scored by the caller's ``exact``. Both give the same pairs for the same vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from core.index.reduced import orthonormal_columns

log = logging.getLogger(__name__)

EXACT_MAX = 6_000  # up to this many vectors, score every pair exactly (in blocks)
FINE_DIM = 256  # projection the pairs are scored in (at 64, ~16 candidates a photo to
# re-score exactly on the 1M benchmark's vectors; at 256, 0.08)
COARSE_DIM = 64  # its leading axes, from which the lists are made
LIST_SIZE = 512  # vectors per inverted list, on average (k-means and filing cost n^2 / size,
# scoring pairs n * size: 512 balances them at 1M)
PROBES = 3  # lists each vector is filed in
MARGIN = 0.03  # reduced scores this far below the radius are still re-scored exactly
BOUND_SLACK = 2e-3  # the Cauchy-Schwarz bound's room for float16 rounding
_BLOCK = 2048  # rows scored at a time
PROJECT_BLOCK = 16_384  # rows projected at a time
_SAMPLE = 512  # rows that fit the projection
_KMEANS_ITERS = 8
_KMEANS_PER_LIST = 64  # k-means training rows per list


class Exact(Protocol):
    """Exact cosine similarities of the pairs of rows (i[k], j[k])."""

    def __call__(self, i: NDArray[np.int64], j: NDArray[np.int64]) -> NDArray[np.float32]: ...


Pairs = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]


def sample_positions(n: int, seed: int = 0) -> NDArray[np.int64]:
    """The rows (sorted) whose vectors fit the projection of :func:`radius_pairs_streamed`."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, min(n, _SAMPLE), replace=False)).astype(np.int64)


def radius_pairs(vectors: NDArray[np.floating], radius: float, *, max_per_row: int = 16,
                 seed: int = 0, low: float | None = None, low_per_row: int = 2) -> Pairs:
    """Pairs (i, j), i < j, of rows of L2-normalised ``vectors`` with cosine >= ``radius``.

    Each row keeps at most its ``max_per_row`` most similar partners (a burst of 200 frames
    does not make 20,000 pairs). ``low`` (below ``radius``): also each row's ``low_per_row``
    most similar partners with a cosine in [low, radius) (where rotated copies sit, which the
    caller checks further; above EXACT_MAX rows their similarity is the projection's
    approximation, to be re-scored by the caller). Returns (i, j, similarity) arrays sorted
    by similarity, highest first.
    """
    n = len(vectors)
    if n > EXACT_MAX:
        blocks = (vectors[start:start + PROJECT_BLOCK] for start in range(0, n, PROJECT_BLOCK))
        return radius_pairs_streamed(
            n, vectors[sample_positions(n, seed)], blocks,
            lambda i, j: _rowwise_dots(vectors, i, j), radius, max_per_row=max_per_row,
            seed=seed, low=low, low_per_row=low_per_row)
    if n < 2:
        return _empty()
    low = None if low is None or low >= radius else low
    with _one_blas_thread():
        i, j, s = _collect(_exact_blocks(vectors, radius, low, low_per_row))
    return _finished(i, j, s, n, radius, low, max_per_row, low_per_row)


def radius_pairs_streamed(n: int, sample: NDArray[np.floating],
                          blocks: Iterable[NDArray[np.floating]], exact: Exact, radius: float,
                          *, max_per_row: int = 16, seed: int = 0, low: float | None = None,
                          low_per_row: int = 2) -> Pairs:
    """:func:`radius_pairs` over ``n`` vectors given as consecutive ``blocks`` (any sizes),
    never held at once. ``sample``: the rows at :func:`sample_positions` ``(n, seed)``;
    ``exact(i, j)``: the exact similarities of rows i and j (the candidates, a few per
    photo)."""
    if n < 2:
        return _empty()
    low = None if low is None or low >= radius else low
    with _one_blas_thread():
        reduced = _Reduced.project(n, np.asarray(sample, np.float32), blocks)
        near, approx = _collect(reduced.pairs(radius, seed, low, low_per_row))
        i, j, s = _unique(near[0], near[1], near[2], n)
        log.debug("%d pairs near the radius to score exactly", len(i))
        exact_s = np.asarray(exact(i, j), np.float32) if len(i) else s
        good = exact_s >= radius
        i, j, s = (np.concatenate([i[good], approx[0]]), np.concatenate([j[good], approx[1]]),
                   np.concatenate([exact_s[good], approx[2]]))
    return _finished(i, j, s, n, radius, low, max_per_row, low_per_row)


def _finished(i: NDArray[np.int64], j: NDArray[np.int64], s: NDArray[np.float32], n: int,
              radius: float, low: float | None, max_per_row: int, low_per_row: int) -> Pairs:
    if low is None:
        return _strongest(i, j, s, n, max_per_row)
    high = s >= radius
    hi, hj, hs = _strongest(i[high], j[high], s[high], n, max_per_row)
    li, lj, ls = _strongest(i[~high], j[~high], s[~high], n, low_per_row)
    order = np.argsort(-np.concatenate([hs, ls]), kind="stable")
    return (np.concatenate([hi, li])[order], np.concatenate([hj, lj])[order],
            np.concatenate([hs, ls])[order])


def _empty() -> Pairs:
    empty = np.zeros(0, np.int64)
    return empty, empty.copy(), np.zeros(0, np.float32)


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


class _Reduced:
    """The projection of the vectors: ``coarse`` (unit rows, float32) makes the lists,
    ``fine`` (unit rows, float16) scores the pairs."""

    def __init__(self, coarse: NDArray[np.float32], fine: NDArray[np.float16],
                 inside: NDArray[np.float32], outside: NDArray[np.float32]) -> None:
        self.coarse, self.fine = coarse, fine
        # each vector's length inside the fine projection and outside it: x.y is at most
        # fine_x.fine_y * inside_x * inside_y + outside_x * outside_y (Cauchy-Schwarz)
        self.inside, self.outside = inside, outside

    @classmethod
    def project(cls, n: int, sample: NDArray[np.float32],
                blocks: Iterable[NDArray[np.floating]]) -> _Reduced:
        dim = sample.shape[1]
        axes = _principal_axes(sample, min(FINE_DIM, dim, len(sample)))
        coarse_dim = min(COARSE_DIM, len(axes))
        fine_dim = len(axes) if dim > FINE_DIM else dim  # small vectors: scored as they are
        coarse = np.empty((n, coarse_dim), np.float32)
        fine = np.empty((n, fine_dim), np.float16)
        inside, outside = np.empty(n, np.float32), np.empty(n, np.float32)
        done = 0
        for block in _rechunked(blocks, PROJECT_BLOCK):
            rows = np.asarray(block, np.float32)
            small = rows @ axes.T if dim > FINE_DIM else rows
            stop = done + len(rows)
            coarse[done:stop] = _unit(small[:, :coarse_dim] if dim > FINE_DIM
                                      else rows @ axes[:coarse_dim].T)
            length = np.linalg.norm(small, axis=1)
            fine[done:stop] = small / np.maximum(length, 1e-12)[:, None]
            inside[done:stop] = length
            outside[done:stop] = np.sqrt(np.maximum(
                np.einsum("ij,ij->i", rows, rows) - length * length, 0))
            done = stop
        if done != n:
            raise ValueError(f"{done} vectors given, {n} announced")
        return cls(coarse, fine, inside, outside)

    def pairs(self, radius: float, seed: int, low: float | None, low_per_row: int
              ) -> Iterator[tuple[Pairs, Pairs]]:
        """(near the radius: to re-score exactly; the low band: approximate) per block."""
        n_lists = max(1, len(self.coarse) // LIST_SIZE)
        for members, queries in _file_in_lists(self.coarse, _kmeans(self.coarse, n_lists,
                                                                     seed)):
            yield from self._list_pairs(members, queries, radius, low, low_per_row)

    def _list_pairs(self, members: NDArray[np.int64], queries: NDArray[np.int64],
                    radius: float, low: float | None, low_per_row: int
                    ) -> Iterator[tuple[Pairs, Pairs]]:
        """A list's queries against its members in the fine projection: the pairs near the
        radius, and each query's ``low_per_row`` best down to ``low`` (approximate)."""
        if not len(members) or not len(queries):
            return
        local = np.asarray(self.fine[members], np.float32)
        for start in range(0, len(queries), _BLOCK):
            q = queries[start:start + _BLOCK]
            scores = np.asarray(self.fine[q], np.float32) @ local.T
            a, b = np.nonzero(scores >= radius - MARGIN)
            i, j, near_s = q[a], members[b], scores[a, b]
            # not its own partner, and only pairs that may reach the radius: 1/7 of those
            # near it in the projection on the 1M benchmark, none lost
            most = (near_s * self.inside[i] * self.inside[j]
                    + self.outside[i] * self.outside[j])
            keep = (i != j) & (most >= radius - BOUND_SLACK)
            i, j = i[keep], j[keep]
            near = (np.minimum(i, j), np.maximum(i, j), near_s[keep])
            approx: Pairs = _empty()
            if low is not None:  # not re-scored: the caller checks the few kept
                scores[q[:, None] == members[None, :]] = -np.inf
                low_a, low_b = _top_low(scores.copy(), radius - MARGIN, low - MARGIN,
                                        low_per_row)
                sims = np.minimum(scores[low_a, low_b], radius - 1e-4).astype(np.float32)
                i, j = q[low_a], members[low_b]
                approx = (np.minimum(i, j), np.maximum(i, j), sims)
            yield near, approx


def _unit(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _rechunked(blocks: Iterable[NDArray[np.floating]], size: int
               ) -> Iterator[NDArray[np.floating]]:
    """The rows of ``blocks`` again, in blocks of ``size`` (the last may be shorter): the
    projection does not depend on how the caller's blocks were cut."""
    held: list[NDArray[np.floating]] = []
    count = 0
    for block in blocks:
        while len(block):
            take = block[:size - count]
            held.append(take)
            count += len(take)
            block = block[len(take):]
            if count == size:
                yield held[0] if len(held) == 1 else np.concatenate(held)
                held, count = [], 0
    if count:
        yield held[0] if len(held) == 1 else np.concatenate(held)


def _kmeans(x: NDArray[np.float32], k: int, seed: int) -> NDArray[np.float32]:
    """k unit centroids of the rows of x (spherical k-means, FAISS, on ~64 rows a list)."""
    faiss = _faiss()
    if k <= 1:
        return _unit(x.mean(axis=0, keepdims=True) + 1e-6).astype(np.float32)
    kmeans = faiss.Kmeans(x.shape[1], k, niter=_KMEANS_ITERS, seed=seed + 1, spherical=True,
                          max_points_per_centroid=_KMEANS_PER_LIST, verbose=False)
    kmeans.train(np.ascontiguousarray(x))
    return np.asarray(kmeans.centroids, np.float32)


def _faiss() -> Any:
    import faiss  # a few hundred ms: only for libraries above EXACT_MAX

    return faiss


def _file_in_lists(reduced: NDArray[np.float32], centroids: NDArray[np.float32]
                   ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """For each list, (members, queries): each row is a member of its nearest list only and
    queries its PROBES nearest lists (three times fewer products than filing every row in
    three lists, the same pairs found). The nearest lists come from FAISS's flat search
    (blocked products with a running top-k: numpy's full score matrix and argpartition
    took ~50 s at 1M photos)."""
    n_lists = len(centroids)
    probes = min(PROBES, n_lists)
    index = _faiss().IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids))
    assign = np.empty((len(reduced), probes), np.int64)
    for start in range(0, len(reduced), 65_536):
        _, found = index.search(np.ascontiguousarray(reduced[start:start + 65_536]), probes)
        assign[start:start + 65_536] = found
    nearest = assign[:, 0].copy()
    rows = np.arange(len(reduced), dtype=np.int64)

    def split(lists: NDArray[np.int64], owners: NDArray[np.int64]) -> list[NDArray[np.int64]]:
        order = np.argsort(lists, kind="stable")
        bounds = np.searchsorted(lists[order], np.arange(n_lists + 1))
        return [owners[order[bounds[k]:bounds[k + 1]]] for k in range(n_lists)]

    members = split(nearest, rows)
    queries = split(assign.ravel(), np.repeat(rows, probes))
    yield from zip(members, queries, strict=True)


def _rowwise_dots(full: NDArray[np.floating], i: NDArray[np.int64], j: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
    out = np.empty(len(i), np.float32)
    for start in range(0, len(i), 4096):
        a = np.asarray(full[i[start:start + 4096]], dtype=np.float32)
        b = np.asarray(full[j[start:start + 4096]], dtype=np.float32)
        out[start:start + 4096] = np.einsum("ij,ij->i", a, b)
    return out


def _collect(blocks: Iterable[Any]) -> Any:
    """Concatenate the (i, j, s) triples of ``blocks``; blocks of two triples (near,
    approximate) give two concatenated triples."""
    parts = list(blocks)
    if parts and isinstance(parts[0][0], tuple):
        return _collect(p[0] for p in parts), _collect(p[1] for p in parts)
    if not parts:
        return _empty()
    return (np.concatenate([p[0] for p in parts]).astype(np.int64),
            np.concatenate([p[1] for p in parts]).astype(np.int64),
            np.concatenate([p[2] for p in parts]).astype(np.float32))


def _unique(i: NDArray[np.int64], j: NDArray[np.int64], s: NDArray[np.float32], n: int
            ) -> Pairs:
    """Each pair once (it may come from several lists)."""
    _, first = np.unique(i * n + j, return_index=True)
    return i[first], j[first], s[first]


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
