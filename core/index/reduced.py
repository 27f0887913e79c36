"""Base of the approximate backends: candidates from a cheap search over PCA-reduced vectors,
then an exact re-rank in full dimension (see :mod:`core.index`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from core.files import atomic_write
from core.index.base import (
    Hit,
    check_build,
    check_k,
    check_query,
    chunks,
    exclude_array,
    hits,
    load_npy,
    matvec,
    release_pages,
    save_npy,
    save_npz,
    stream_npy,
    top,
)

log = logging.getLogger(__name__)

MIN_CANDIDATES = 100  # candidates re-ranked exactly for k <= 25 (4 * k beyond that)
_PCA_SAMPLE = 20_000  # rows used to fit the projection
_TUNE_QUERIES = 200  # stored vectors used to tune the search effort at build time


def top_axes(rows: NDArray[np.float32], r: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """The r leading (uncentred) principal axes of `rows`, as an (r, dim) matrix.

    Randomised subspace iteration on the Gram matrix: ~10x cheaper than a full eigh at 2048-d.
    """
    gram = (rows.T @ rows).astype(np.float32, copy=False)
    probe = rng.standard_normal((len(gram), min(r + 16, len(gram))), dtype=np.float32)
    basis = orthonormal_columns(gram @ probe)
    for _ in range(4):
        basis = orthonormal_columns(gram @ basis)
    _, vecs = np.linalg.eigh(basis.T @ gram @ basis)  # ascending eigenvalues
    return np.ascontiguousarray((basis @ vecs[:, ::-1][:, :r]).T, dtype=np.float32)


def orthonormal_columns(block: NDArray[np.float32]) -> NDArray[np.float32]:
    """An orthonormal basis of the columns of ``block`` (dim, k): Gram-Schmidt done twice.

    Not ``np.linalg.qr``: LAPACK runs with the GIL held (150 ms at 2048 x 272, which froze
    the app's window while an index was built in the background); these matrix-vector
    products release it between columns. A dependent column comes out as zeros.
    """
    q = np.array(block, dtype=np.float32, order="F")
    for j in range(q.shape[1]):
        v = q[:, j]
        for _ in range(2):  # the second pass restores the orthogonality the first loses
            if j:
                v -= q[:, :j] @ (q[:, :j].T @ v)
        norm = float(np.linalg.norm(v))
        v *= 1 / norm if norm > 1e-12 else 0.0
    return np.ascontiguousarray(q)


class ReRankedIndex:
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
    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]],
                       rng: np.random.Generator) -> None:
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

    def _meta_arrays(self) -> dict[str, NDArray[Any]]:
        """Small arrays of the backend, saved in the meta file (names start with "x_")."""
        return {}

    def _restore_meta(self, meta: Mapping[str, NDArray[Any]]) -> None:
        """Take back what :meth:`_meta_arrays` saved."""

    # shared
    @property
    def dim(self) -> int:
        return self._vectors.shape[1]

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: NDArray[np.int64], vectors: NDArray[np.floating]) -> None:
        """Index `vectors` (n, dim) under `ids`: fit the projection, index the reduced vectors,
        tune the search effort. Raises ValueError on bad input."""
        ids = check_build(ids, vectors)
        n, dim = vectors.shape
        rng = np.random.default_rng(self.seed)
        # float16 rows as the catalog stores them are kept as they are (a 100k library's
        # vectors are 400 MB: no second copy while the index builds).
        reuse = vectors.dtype == np.float16 and vectors.flags.c_contiguous
        store = vectors if reuse else np.empty((n, dim), dtype=np.float16)
        inv_norms = np.empty(n, dtype=np.float32)
        for sl in chunks(n):
            if not reuse:
                store[sl] = vectors[sl]
            norms = np.linalg.norm(store[sl].astype(np.float32), axis=1)
            if not np.all(np.isfinite(norms)) or np.any(norms == 0):
                raise ValueError("vectors contain a zero, NaN or infinite row")
            inv_norms[sl] = 1.0 / norms
        self._ids, self._vectors, self._inv_norms = ids, store, inv_norms
        self._index_all(rng)

    def build_streamed(self, blocks: Iterable[tuple[NDArray[np.int64], NDArray[np.floating]]],
                       path: Path) -> None:
        """Build from ``(ids, vectors)`` blocks and save to ``path`` (as :meth:`save`), never
        holding the library's full vectors in memory: they are written to the vectors file
        as they come, then memory-mapped, and each pass over them releases the pages it
        read. What stays in memory is the backend's own structure (256 bytes a photo for
        faiss), the ids and the norms. Raises ValueError on bad input."""
        path = Path(path)
        meta_path, vec_path = self._sidecars(path)
        id_blocks: list[NDArray[np.int64]] = []
        norm_blocks: list[NDArray[np.float32]] = []

        def checked() -> Iterator[NDArray[np.floating]]:
            for block_ids, block in blocks:
                ids = check_build(block_ids, block)
                norms = np.linalg.norm(np.asarray(block, dtype=np.float32), axis=1)
                if not np.all(np.isfinite(norms)) or np.any(norms == 0):
                    raise ValueError("vectors contain a zero, NaN or infinite row")
                id_blocks.append(ids)
                norm_blocks.append((1.0 / norms).astype(np.float32))
                yield block

        def write(tmp: str) -> None:
            for _ in stream_npy(tmp, checked(), np.float16):
                pass
            ids = np.concatenate(id_blocks) if id_blocks else np.empty(0, np.int64)
            if len(np.unique(ids)) != len(ids):
                raise ValueError("ids must be unique")
            self._ids = ids
            self._inv_norms = (np.concatenate(norm_blocks) if norm_blocks
                               else np.empty(0, np.float32))
            dim = int(np.load(tmp, mmap_mode="r").shape[1]) if len(ids) else 0
            self._vectors = load_npy(Path(tmp), (len(ids), dim), np.float16)
            self._index_all(np.random.default_rng(self.seed))
            self._save_meta(meta_path)

        atomic_write(vec_path, write)
        atomic_write(path, self._save_main)

    def _index_all(self, rng: np.random.Generator) -> None:
        """Fit the projection, index the reduced vectors, tune the search effort."""
        n, dim = self._vectors.shape
        self._projection = None
        if self.reduced_dim is not None and dim > self.reduced_dim and n:
            sample = np.sort(rng.choice(n, min(n, _PCA_SAMPLE), replace=False))
            self._projection = top_axes(self._rows(sample), self.reduced_dim, rng)
        projection = self._projection
        width = dim if projection is None else len(projection)
        self._index_reduced(n, width, self._reduced_blocks(), rng)
        release_pages(self._vectors)
        if getattr(self, self._EFFORT) is None:
            setattr(self, self._EFFORT, self._tune_effort(rng))
            release_pages(self._vectors)
        log.info("%s index: %d items, %s", self.name, n, self._settings())

    def _reduced_blocks(self) -> Iterator[NDArray[np.float32]]:
        """Every stored vector, normalised and projected, a chunk at a time; the pages of
        memory-mapped vectors are released after each chunk (resident memory stays at a
        chunk, not the library)."""
        for sl in chunks(len(self._ids)):
            rows = self._rows(np.arange(sl.start, sl.stop))
            yield rows if self._projection is None else rows @ self._projection.T
            release_pages(self._vectors)

    def _reduced_rows(self, positions: NDArray[np.integer]) -> NDArray[np.float32]:
        """Stored vectors at `positions`, normalised and projected, a chunk at a time (a
        backend's training sample, read without a pass over the whole library)."""
        width = len(self._projection) if self._projection is not None else self.dim
        out = np.empty((len(positions), width), dtype=np.float32)
        for sl in chunks(len(positions)):
            rows = self._rows(positions[sl])
            out[sl] = rows if self._projection is None else rows @ self._projection.T
        release_pages(self._vectors)
        return out

    def _rows(self, positions: NDArray[np.integer]) -> NDArray[np.float32]:
        """Stored vectors at `positions`, upcast and normalised."""
        return self._vectors[positions].astype(np.float32) * self._inv_norms[positions, None]

    def query(
        self, vector: NDArray[np.floating], k: int, exclude: Collection[int] = ()
    ) -> list[Hit]:
        """The k best hits for `vector`, best first, never an id in `exclude`."""
        check_k(k)
        if not len(self):
            return []
        q = check_query(vector, self.dim, k)
        return self._search(q, k, exclude_array(exclude), getattr(self, self._EFFORT) or 0)

    def _search(self, q: NDArray[np.float32], k: int, excluded: NDArray[np.int64],
                effort: int) -> list[Hit]:
        n = len(self)
        q_reduced = matvec(self._projection, q) if self._projection is not None else q
        want = min(max(4 * (k + len(excluded)), MIN_CANDIDATES), n)
        while True:
            pos = self._candidates(q_reduced, want, effort)
            # exact cosines: upcast the candidates' float16 rows once, scale the scores
            scores = matvec(self._vectors[pos].astype(np.float32), q) * self._inv_norms[pos]
            found = hits(self._ids[pos], scores, top(scores, len(pos)), excluded, k)
            if len(found) == k or len(pos) == n:
                return found
            want, effort = min(2 * want, n), 2 * effort  # too few left: look further

    def _tune_effort(self, rng: np.random.Generator) -> int:
        """Smallest effort (doubling, then one bisection) reaching target_recall.

        200 tuning queries: with 100, a setting tuned to 0.97 measured 0.947 on other queries."""
        start, everything = self._effort_range()
        n = len(self)
        if n <= MIN_CANDIDATES:
            return everything
        queries = rng.choice(n, min(_TUNE_QUERIES, n), replace=False)
        qs = self._rows(queries)
        truth = self._ids[self._exact_top(qs, queries, 10)]

        def good_enough(effort: int) -> bool:
            found = 0
            for qpos, q, true in zip(queries, qs, truth, strict=True):
                got = self._search(q, 10, self._ids[[qpos]], effort)
                found += len(np.intersect1d([h.photo_id for h in got], true))
            log.debug("%s %s %d: recall@10 %.3f", self.name, self._EFFORT, effort,
                      found / truth.size)
            return found / truth.size >= self.target_recall

        effort, failed = start, 0
        while not good_enough(effort):
            if effort >= everything:
                return everything
            effort, failed = min(2 * effort, everything), effort
        between = int(np.sqrt(failed * effort))  # one geometric bisection: within 1.4x
        return between if failed and between > failed and good_enough(between) else effort

    def _exact_top(self, qs: NDArray[np.float32], self_pos: NDArray[np.integer],
                   k: int) -> NDArray[np.int64]:
        """Exact top-k positions per query (in no order) over the stored vectors, leaving out its
        own row."""
        best_s = np.full((len(qs), 0), -np.inf, dtype=np.float32)
        best_p = np.empty((len(qs), 0), dtype=np.int64)
        for sl in chunks(len(self)):
            s = qs @ self._rows(np.arange(sl.start, sl.stop)).T
            release_pages(self._vectors)
            own = (self_pos >= sl.start) & (self_pos < sl.stop)
            s[np.nonzero(own)[0], self_pos[own] - sl.start] = -np.inf
            cat_s = np.concatenate([best_s, s], axis=1)
            cat_p = np.concatenate([best_p, np.broadcast_to(np.arange(sl.start, sl.stop), s.shape)],
                                   axis=1)
            keep = np.argpartition(-cat_s, min(k, cat_s.shape[1]) - 1, axis=1)[:, :k]
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
        self._save_meta(meta_path)
        atomic_write(vec_path, lambda tmp: save_npy(tmp, self._vectors))
        atomic_write(path, self._save_main)

    def _save_meta(self, meta_path: Path) -> None:
        projection = self._projection if self._projection is not None else np.empty((0, 0))
        settings = json.dumps({"settings": self._settings(), "dim": self.dim})
        save_npz(meta_path, {"ids": self._ids, "inv_norms": self._inv_norms,
                             "projection": projection, "settings": np.array(settings),
                             **self._meta_arrays()})

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
            index._restore_meta({key: meta[key] for key in meta.files if key.startswith("x_")})
        index._projection = projection if projection.size else None
        dim = saved["dim"]
        index._vectors = load_npy(vec_path, (len(index._ids), dim), np.float16)
        n_main = index._load_main(path, dim if index._projection is None else len(projection))
        if not n_main == len(index._ids) == len(index._vectors):
            raise ValueError(f"{path}: index files do not match each other; rebuild the index")
        return index
