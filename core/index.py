"""Nearest-neighbour indexes over L2-normalised photo embeddings.

Backends share the :class:`Index` protocol: :class:`ExactIndex` (numpy brute force, the
reference), :class:`AnnoyIndex` (annoy trees over PCA-reduced vectors give candidates, re-ranked
exactly in full dimension) and :class:`PcaIndex` (a brute-force scan of the PCA-reduced vectors
gives the candidates instead: recall ~1.0 and quick to build, but linear in n; at 1M annoy is
2.7x faster). :func:`choose_index` picks exact or annoy from the library size.
Scores are cosine similarities, higher is better.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import annoy
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

# EXACT_THRESHOLD, measured on the 2-core dev machine at 2048-d. Exact search, quiet machine:
# 2.1 ms/query at 10k, 5.2 ms at 20k, 6.5 ms at 30k (p95 10 ms), 10.8 ms at 50k, 21 ms at
# 100k (linear in n). `python -m benchmarks.search --sizes 10000,30000,100000` on the busy
# machine (load ~7, OPENBLAS_NUM_THREADS=1), median CPU ms per query, exact vs annoy:
# 4.4 vs 2.6 at 10k, 12.8 vs 4.4 at 30k, 43 vs 10.7 at 100k; but annoy takes 7 s (10k) to 22 s
# (30k) to build against <1 s, and loses recall (0.947-0.985). Exact stays within the 10 ms
# budget up to ~30k photos on a quiet machine, so it is used below that.
EXACT_THRESHOLD = 30_000

_CHUNK = 16_384  # rows converted / scored at a time, bounds temporary memory (~128 MB at 2048-d)


@dataclass(frozen=True)
class Hit:
    """One search result: a photo and its cosine similarity to the query."""

    photo_id: int
    score: float


class Index(Protocol):
    """A nearest-neighbour index over photo embeddings (see STYLE.md section 5)."""

    name: ClassVar[str]

    def build(self, ids: NDArray[np.int64], vectors: NDArray[np.floating]) -> None: ...

    def query(
        self, vector: NDArray[np.floating], k: int, exclude: Collection[int] = ()
    ) -> list[Hit]: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Self: ...

    def __len__(self) -> int: ...


# ---------------------------------------------------------------------------------------------
# shared helpers


def _check_build(ids: NDArray[Any], vectors: NDArray[Any]) -> NDArray[np.int64]:
    """Validate build inputs; return the ids as an int64 array. Raises ValueError."""
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, dim), got shape {vectors.shape}")
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
    if len(ids) != len(vectors):
        raise ValueError(f"got {len(ids)} ids but {len(vectors)} vectors")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("ids must be unique")
    return ids.astype(np.int64, copy=True)


def _chunks(n: int, size: int = _CHUNK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _normalised_rows(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """Float32, C-contiguous, L2-normalised copy of `vectors`, converted in chunks."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for sl in _chunks(len(vectors)):
        block = out[sl]
        block[...] = vectors[sl]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError("vectors contain a zero, NaN or infinite row")
        block /= norms
    return out


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _check_query(vector: NDArray[np.floating], dim: int, k: int) -> NDArray[np.float32]:
    """Validate a query; return it as a normalised float32 vector. Raises ValueError."""
    _check_k(k)
    v = np.asarray(vector, dtype=np.float32)
    if v.shape != (dim,):
        raise ValueError(f"query vector must have shape ({dim},), got {v.shape}")
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("query vector is zero, NaN or infinite")
    return v / norm


def _exclude_array(exclude: Collection[int]) -> NDArray[np.int64]:
    return np.unique(np.fromiter(exclude, dtype=np.int64, count=len(exclude)))


def _top(scores: NDArray[np.float32], k: int) -> NDArray[np.intp]:
    """Positions of the k largest scores, best first (ties by position)."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.argsort(-scores, kind="stable")


def _hits(ids: NDArray[np.int64], scores: NDArray[np.float32], order: NDArray[np.intp],
          excluded: NDArray[np.int64], k: int) -> list[Hit]:
    """Hits for `order` (best first) with excluded ids dropped, at most k."""
    if len(excluded):
        order = order[~np.isin(ids[order], excluded)]
    order = order[:k]
    return [Hit(int(i), float(s)) for i, s in zip(ids[order], scores[order], strict=True)]


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Create `path` by calling `write` on a temporary name in the same folder, then os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_npz(path: Path, arrays: dict[str, NDArray[Any]]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwds

    _atomic_write(path, write)


# ---------------------------------------------------------------------------------------------
# exact


class ExactIndex:
    """Brute-force cosine search: one float32 matrix, scores = M @ v. The reference backend."""

    name: ClassVar[str] = "exact"

    def __init__(self) -> None:
        self._ids: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._matrix: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)

    @property
    def dim(self) -> int:
        return self._matrix.shape[1]

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: NDArray[np.int64], vectors: NDArray[np.floating]) -> None:
        """Index `vectors` (n, dim) under `ids`; float16 input is upcast once, in chunks.

        Rows are re-normalised so scores are exact cosines. Raises ValueError on bad input.
        """
        self._ids = _check_build(ids, vectors)
        self._matrix = _normalised_rows(vectors)

    def query(
        self, vector: NDArray[np.floating], k: int, exclude: Collection[int] = ()
    ) -> list[Hit]:
        """The k best hits for `vector`, best first, never an id in `exclude`."""
        _check_k(k)
        if not len(self):
            return []
        q = _check_query(vector, self.dim, k)
        excluded = _exclude_array(exclude)
        scores = self._matrix @ q
        return _hits(self._ids, scores, _top(scores, k + len(excluded)), excluded, k)

    def query_many(self, vectors: NDArray[np.floating], k: int) -> list[list[Hit]]:
        """Batch query (matrix-matrix product): one best-first hit list per row of `vectors`."""
        vectors = np.atleast_2d(vectors)
        _check_k(k)
        if not len(self) or not len(vectors):
            return [[] for _ in vectors]
        qs = np.stack([_check_query(v, self.dim, k) for v in vectors])
        out: list[list[Hit]] = []
        for sl in _chunks(len(qs), 64):
            for scores in qs[sl] @ self._matrix.T:
                out.append(_hits(self._ids, scores, _top(scores, k), self._ids[:0], k))
        return out

    def save(self, path: Path) -> None:
        """Write ids and the float32 matrix to one .npz file, atomically."""
        _save_npz(Path(path), {"ids": self._ids, "matrix": self._matrix})

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by :meth:`save`."""
        index = cls()
        with np.load(Path(path)) as data:
            index._ids = data["ids"]
            index._matrix = np.ascontiguousarray(data["matrix"], dtype=np.float32)
        return index


# ---------------------------------------------------------------------------------------------
# approximate: candidates over PCA-reduced vectors, exact re-rank

_MIN_CANDIDATES = 100  # candidates re-ranked exactly for k <= 25 (4 * k beyond that)
_PCA_SAMPLE = 20_000  # rows used to fit the projection
_TUNE_QUERIES = 200  # stored vectors used to tune the search effort at build time


def _top_axes(rows: NDArray[np.float32], r: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """The r leading (uncentred) principal axes of `rows`, as an (r, dim) matrix.

    Randomised subspace iteration on the Gram matrix: ~10x cheaper than a full eigh at 2048-d.
    """
    gram = rows.T @ rows
    probe = rng.standard_normal((len(gram), min(r + 16, len(gram))), dtype=np.float32)
    basis = np.linalg.qr(gram @ probe)[0]
    for _ in range(4):
        basis = np.linalg.qr(gram @ basis)[0]
    _, vecs = np.linalg.eigh(basis.T @ gram @ basis)  # ascending eigenvalues
    return np.ascontiguousarray((basis @ vecs[:, ::-1][:, :r]).T, dtype=np.float32)


class _ReRankedIndex:
    """Base of the approximate backends: candidates from a cheap search over the vectors
    projected on their top `reduced_dim` principal axes (uncentred, so dot products are kept),
    then an exact re-rank with the full vectors, kept as float16 (mmapped after :meth:`load`),
    so scores are exact cosines. The search effort (attribute named by `_EFFORT`) is tuned at
    build time, unless given, until recall@10 against exact search on stored vectors, each
    queried with itself excluded as the app does, reaches `target_recall`.
    """

    name: ClassVar[str]
    _EFFORT: ClassVar[str]

    def __init__(self, reduced_dim: int | None, target_recall: float, seed: int) -> None:
        if reduced_dim is not None and reduced_dim < 1:
            raise ValueError(f"reduced_dim must be >= 1 or None, got {reduced_dim}")
        self.reduced_dim = reduced_dim
        self.target_recall = target_recall
        self.seed = seed
        self._ids: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._vectors: NDArray[np.float16] = np.empty((0, 0), dtype=np.float16)
        self._inv_norms: NDArray[np.float32] = np.empty(0, dtype=np.float32)
        self._projection: NDArray[np.float32] | None = None

    # what a backend provides
    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]]) -> None:
        raise NotImplementedError

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        """At least min(want, n) positions of likely neighbours of reduced query `q`."""
        raise NotImplementedError

    def _effort_range(self) -> tuple[int, int]:
        """(where tuning starts, the effort that inspects everything)."""
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this configuration (saved with the index)."""
        raise NotImplementedError

    def _save_main(self, tmp: str) -> None:
        raise NotImplementedError

    def _load_main(self, path: Path, width: int) -> int:
        """Open the main file; return how many items it holds."""
        raise NotImplementedError

    # shared
    @property
    def dim(self) -> int:
        return self._vectors.shape[1]

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: NDArray[np.int64], vectors: NDArray[np.floating]) -> None:
        """Index `vectors` (n, dim) under `ids`: fit the projection, index the reduced vectors,
        tune the search effort. Raises ValueError on bad input."""
        ids = _check_build(ids, vectors)
        n, dim = vectors.shape
        rng = np.random.default_rng(self.seed)
        store = np.empty((n, dim), dtype=np.float16)
        inv_norms = np.empty(n, dtype=np.float32)
        for sl in _chunks(n):
            store[sl] = vectors[sl]
            norms = np.linalg.norm(store[sl].astype(np.float32), axis=1)
            if not np.all(np.isfinite(norms)) or np.any(norms == 0):
                raise ValueError("vectors contain a zero, NaN or infinite row")
            inv_norms[sl] = 1.0 / norms
        self._ids, self._vectors, self._inv_norms = ids, store, inv_norms
        self._projection = None
        if self.reduced_dim is not None and dim > self.reduced_dim and n:
            sample = np.sort(rng.choice(n, min(n, _PCA_SAMPLE), replace=False))
            self._projection = _top_axes(self._rows(sample), self.reduced_dim, rng)
        projection = self._projection
        width = dim if projection is None else len(projection)
        blocks = (self._rows(np.arange(sl.start, sl.stop)) for sl in _chunks(n))
        self._index_reduced(
            n, width, blocks if projection is None else (b @ projection.T for b in blocks))
        if getattr(self, self._EFFORT) is None:
            setattr(self, self._EFFORT, self._tune_effort(rng))
        log.info("%s index: %d items, %s", self.name, n, self._settings())

    def _rows(self, positions: NDArray[np.integer]) -> NDArray[np.float32]:
        """Stored vectors at `positions`, upcast and normalised."""
        return self._vectors[positions].astype(np.float32) * self._inv_norms[positions, None]

    def query(
        self, vector: NDArray[np.floating], k: int, exclude: Collection[int] = ()
    ) -> list[Hit]:
        """The k best hits for `vector`, best first, never an id in `exclude`."""
        _check_k(k)
        if not len(self):
            return []
        q = _check_query(vector, self.dim, k)
        return self._search(q, k, _exclude_array(exclude), getattr(self, self._EFFORT) or 0)

    def _search(self, q: NDArray[np.float32], k: int, excluded: NDArray[np.int64],
                effort: int) -> list[Hit]:
        n = len(self)
        q_reduced = self._projection @ q if self._projection is not None else q
        want = min(max(4 * (k + len(excluded)), _MIN_CANDIDATES), n)
        while True:
            pos = self._candidates(q_reduced, want, effort)
            scores = self._rows(pos) @ q
            hits = _hits(self._ids[pos], scores, _top(scores, len(pos)), excluded, k)
            if len(hits) == k or len(pos) == n:
                return hits
            want, effort = min(2 * want, n), 2 * effort  # too few left: look further

    def _tune_effort(self, rng: np.random.Generator) -> int:
        """Smallest effort (doubling, then one bisection) reaching target_recall.

        200 tuning queries: with 100, a setting tuned to 0.97 measured 0.947 on other queries."""
        start, everything = self._effort_range()
        n = len(self)
        if n <= _MIN_CANDIDATES:
            return everything
        queries = rng.choice(n, min(_TUNE_QUERIES, n), replace=False)
        qs = self._rows(queries)
        truth = self._ids[self._exact_top(qs, queries, 10)]

        def good_enough(effort: int) -> bool:
            found = 0
            for qpos, q, true in zip(queries, qs, truth, strict=True):
                hits = self._search(q, 10, self._ids[[qpos]], effort)
                found += len(np.intersect1d([h.photo_id for h in hits], true))
            log.debug("%s %s %d: recall@10 %.3f", self.name, self._EFFORT, effort,
                      found / truth.size)
            return found / truth.size >= self.target_recall

        effort, failed = start, 0
        while not good_enough(effort):
            if effort >= everything:
                return everything
            effort, failed = min(2 * effort, everything), effort
        between = int(np.sqrt(failed * effort))  # one geometric bisection: within 1.4x
        return between if failed and good_enough(between) else effort

    def _exact_top(self, qs: NDArray[np.float32], self_pos: NDArray[np.integer],
                   k: int) -> NDArray[np.int64]:
        """Exact top-k positions per query over the stored vectors, leaving out its own row."""
        best_s = np.full((len(qs), 0), -np.inf, dtype=np.float32)
        best_p = np.empty((len(qs), 0), dtype=np.int64)
        for sl in _chunks(len(self)):
            s = qs @ self._rows(np.arange(sl.start, sl.stop)).T
            own = (self_pos >= sl.start) & (self_pos < sl.stop)
            s[np.nonzero(own)[0], self_pos[own] - sl.start] = -np.inf
            cat_s = np.concatenate([best_s, s], axis=1)
            cat_p = np.concatenate([best_p, np.broadcast_to(np.arange(sl.start, sl.stop), s.shape)],
                                   axis=1)
            keep = np.argsort(-cat_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(cat_s, keep, axis=1)
            best_p = np.take_along_axis(cat_p, keep, axis=1)
        return best_p

    @staticmethod
    def _sidecars(path: Path) -> tuple[Path, Path]:
        return path.with_name(path.name + ".meta.npz"), path.with_name(path.name + ".vectors.npy")

    def save(self, path: Path) -> None:
        """Write `path` (the backend's own structure), `<path>.meta.npz` (ids, projection,
        settings) and `<path>.vectors.npy` (float16 vectors for re-ranking), each atomically."""
        path = Path(path)
        meta_path, vec_path = self._sidecars(path)
        projection = self._projection if self._projection is not None else np.empty((0, 0))
        settings = json.dumps({"settings": self._settings(), "dim": self.dim})
        _save_npz(meta_path, {"ids": self._ids, "inv_norms": self._inv_norms,
                              "projection": projection, "settings": np.array(settings)})

        def write_vectors(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, self._vectors)

        _atomic_write(vec_path, write_vectors)
        _atomic_write(path, self._save_main)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Open an index written by :meth:`save`; the big arrays are mmapped, not read.

        Raises ValueError when the files do not belong together (interrupted save): rebuild.
        """
        path = Path(path)
        meta_path, vec_path = cls._sidecars(path)
        with np.load(meta_path) as meta:
            saved = json.loads(str(meta["settings"]))
            index = cls(**saved["settings"])
            index._ids, index._inv_norms = meta["ids"], meta["inv_norms"]
            projection = meta["projection"]
        index._projection = projection if projection.size else None
        dim = saved["dim"]
        index._vectors = (np.load(vec_path, mmap_mode="r") if len(index._ids)
                          else np.empty((0, dim), dtype=np.float16))
        n_main = index._load_main(path, dim if index._projection is None else len(projection))
        if not n_main == len(index._ids) == len(index._vectors):
            raise ValueError(f"{path}: index files do not match each other; rebuild the index")
        return index


def _default_n_trees(n: int) -> int:
    """Trees for n items. Measured at 100k: recall depends on search_k, hardly on the number of
    trees (10 vs 20 trees: same recall at the same search_k), while build time and file size
    grow with it; so few trees."""
    return int(np.clip(n // 10_000, 10, 20))


class AnnoyIndex(_ReRankedIndex):
    """Annoy trees (angular) over the PCA-reduced vectors give candidates; exact re-rank.

    Annoy splits poorly in 2048-d (a leaf holds ~dim items), hence the projection to 256-d.
    `search_k` (items annoy inspects for k=10, scaled with k) is tuned at build unless given.
    """

    name: ClassVar[str] = "annoy"
    _EFFORT: ClassVar[str] = "search_k"

    def __init__(self, n_trees: int | None = None, search_k: int | None = None,
                 reduced_dim: int | None = 256, target_recall: float = 0.97,
                 seed: int = 0) -> None:
        super().__init__(reduced_dim, target_recall, seed)
        self.n_trees = n_trees
        self.search_k = search_k
        self._ann: annoy.AnnoyIndex | None = None

    def _settings(self) -> dict[str, Any]:
        return {"n_trees": self.n_trees, "search_k": self.search_k,
                "reduced_dim": self.reduced_dim, "target_recall": self.target_recall,
                "seed": self.seed}

    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]]) -> None:
        ann = annoy.AnnoyIndex(width, "angular")
        ann.set_seed(self.seed)
        i = 0
        for block in chunks:
            for row in block.tolist():
                ann.add_item(i, row)
                i += 1
        self.n_trees = self.n_trees or _default_n_trees(n)
        ann.build(self.n_trees, n_jobs=-1)
        self._ann = ann

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        assert self._ann is not None
        # search_k -1: annoy visits every leaf of every tree, so returns all n when asked
        search_k = -1 if want == len(self) else max(effort * want // _MIN_CANDIDATES, want)
        return np.asarray(self._ann.get_nns_by_vector(q.tolist(), want, search_k), np.int64)

    def _effort_range(self) -> tuple[int, int]:
        assert self.n_trees is not None
        return max(_MIN_CANDIDATES, len(self) // 50), len(self) * self.n_trees

    def _save_main(self, tmp: str) -> None:
        ann = self._ann
        if ann is None:  # never built: save an empty forest
            ann = annoy.AnnoyIndex(max(self.dim, 1), "angular")
            ann.build(1)
        ann.save(tmp)  # annoy then mmaps the file it wrote; os.replace keeps the mapping valid

    def _load_main(self, path: Path, width: int) -> int:
        self._ann = annoy.AnnoyIndex(max(width, 1), "angular")
        self._ann.load(str(path))
        return self._ann.get_n_items()


class PcaIndex(_ReRankedIndex):
    """Brute-force scan over the PCA-reduced vectors (float32) gives candidates; exact re-rank.

    At 2048 -> 256-d the scan reads 8x less memory than :class:`ExactIndex`, builds in seconds
    and needs no tuning of trees. `candidates` (for k=10, scaled with k) is tuned at build
    unless given.
    """

    name: ClassVar[str] = "pca"
    _EFFORT: ClassVar[str] = "candidates"

    def __init__(self, candidates: int | None = None, reduced_dim: int | None = 256,
                 target_recall: float = 0.97, seed: int = 0) -> None:
        super().__init__(reduced_dim, target_recall, seed)
        self.candidates = candidates
        self._matrix: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)

    def _settings(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "reduced_dim": self.reduced_dim,
                "target_recall": self.target_recall, "seed": self.seed}

    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]]) -> None:
        self._matrix = np.empty((n, width), dtype=np.float32)
        start = 0
        for block in chunks:
            self._matrix[start : start + len(block)] = block
            start += len(block)

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        n = len(self)
        count = min(max(effort * want // _MIN_CANDIDATES, want), n)
        if count == n:
            return np.arange(n, dtype=np.int64)
        return np.argpartition(-(self._matrix @ q), count - 1)[:count].astype(np.int64)

    def _effort_range(self) -> tuple[int, int]:
        return _MIN_CANDIDATES, max(len(self), _MIN_CANDIDATES)

    def _save_main(self, tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, self._matrix)

    def _load_main(self, path: Path, width: int) -> int:
        self._matrix = np.load(path, mmap_mode="r") if len(self._ids) else np.empty((0, width),
                                                                                     np.float32)
        return len(self._matrix)


# ---------------------------------------------------------------------------------------------
# registry and feedback

INDEXES: dict[str, type[ExactIndex] | type[AnnoyIndex] | type[PcaIndex]] = {
    ExactIndex.name: ExactIndex,
    AnnoyIndex.name: AnnoyIndex,
    PcaIndex.name: PcaIndex,
}


def make_index(name: str, **kwargs: Any) -> Index:
    """A new, empty index of backend `name`; kwargs go to its constructor. Raises ValueError."""
    try:
        cls = INDEXES[name]
    except KeyError:
        raise ValueError(
            f"unknown index {name!r}; valid names: {', '.join(sorted(INDEXES))}"
        ) from None
    return cls(**kwargs)


def choose_index(n: int) -> str:
    """Backend name for a library of n photos: exact below EXACT_THRESHOLD, else annoy."""
    return ExactIndex.name if n < EXACT_THRESHOLD else AnnoyIndex.name


def rocchio(positives: NDArray[np.floating], negatives: NDArray[np.floating] | None = None,
            alpha: float = 1.0, beta: float = 0.75) -> NDArray[np.float32]:
    """Query vector for "more like these, less like those": alpha*mean(pos) - beta*mean(neg),
    L2-normalised. Rows of `positives` (n, d) and `negatives` (m, d) are embeddings; a 1-D
    array counts as one row. Raises ValueError on no positives, mismatched dims or a zero result.
    """
    pos = np.atleast_2d(np.asarray(positives, dtype=np.float32))
    if pos.ndim != 2 or pos.shape[0] == 0:
        raise ValueError("rocchio needs at least one positive vector")
    query = alpha * pos.mean(axis=0)
    if negatives is not None and np.size(negatives):
        neg = np.atleast_2d(np.asarray(negatives, dtype=np.float32))
        if neg.ndim != 2 or neg.shape[1] != pos.shape[1]:
            raise ValueError(f"negatives have shape {neg.shape}, positives {pos.shape}")
        query = query - beta * neg.mean(axis=0)
    norm = float(np.linalg.norm(query))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("feedback cancels out: the query vector is zero")
    return (query / norm).astype(np.float32)
