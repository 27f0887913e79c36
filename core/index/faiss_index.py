"""FAISS inverted lists of 8-bit scalar-quantised, PCA-reduced vectors, with exact re-rank
(see :mod:`core.index`).

The index holds 256 bytes a photo (one byte per dimension of the 256-d projection) plus its
list layout, so a million photos cost ~260 MB of RAM for the search itself; the full float16
vectors used for the exact re-rank stay on disk, memory-mapped
(:class:`~core.index.reduced.ReRankedIndex`), and only the candidates' rows are read. faiss
releases the GIL while it trains, adds and searches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from core.index.reduced import MIN_CANDIDATES, ReRankedIndex

_TRAIN_PER_LIST = 40  # training rows per list (faiss warns below 39)
# Product quantisation (PQ32, 32 bytes a vector) trained 100-300x slower than SQ8 here
# (281 s for 10k rows on 2 busy cores, SQ8 0.9 s) and needs a sample per code book.
_CODEC = "SQ8"


def _default_n_lists(n: int) -> int:
    """~4 sqrt(n) lists (250 at 10k, 1,265 at 100k, 4,000 at 1M), with at least 40 rows each
    so that every list's centroid is trained on enough rows."""
    return max(1, min(round(4 * float(np.sqrt(n))), n // _TRAIN_PER_LIST))


def _faiss() -> Any:
    import faiss  # a few hundred ms: only when this backend is used

    # No omp_set_num_threads here: it is process-wide and would leave torch one thread. One
    # query runs on one thread anyway (faiss parallelises over queries).
    return faiss


class FaissIndex(ReRankedIndex):
    """FAISS ``IVF{lists},SQ8`` (inner product) over the PCA-reduced vectors gives candidates;
    exact re-rank in full dimension. ``nprobe`` (lists scanned for k=10) is tuned at build
    unless given."""

    name: ClassVar[str] = "faiss"
    _EFFORT: ClassVar[str] = "nprobe"

    def __init__(self, n_lists: int | None = None, nprobe: int | None = None,
                 reduced_dim: int | None = 256, target_recall: float = 0.97,
                 seed: int = 0) -> None:
        super().__init__(reduced_dim, target_recall, seed)
        self.n_lists = n_lists
        self.nprobe = nprobe
        self._index: Any = None

    def _settings(self) -> dict[str, Any]:
        return {"n_lists": self.n_lists, "nprobe": self.nprobe,
                "reduced_dim": self.reduced_dim, "target_recall": self.target_recall,
                "seed": self.seed}

    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]],
                       rng: np.random.Generator) -> None:
        faiss = _faiss()
        self.n_lists = min(self.n_lists or _default_n_lists(n), max(n, 1))
        if n == 0:  # nothing to train on: an empty flat index answers nothing
            self._index = faiss.IndexFlatIP(max(width, 1))
            return
        index = faiss.index_factory(width, f"IVF{self.n_lists},{_CODEC}",
                                    faiss.METRIC_INNER_PRODUCT)
        # The training sample is read on its own and the rows are added a block at a time:
        # the reduced vectors of the whole library (1 GB at 1M) are never held at once.
        sample = np.sort(rng.choice(n, min(n, _TRAIN_PER_LIST * self.n_lists), replace=False))
        index.cp.seed = self.seed
        index.train(np.ascontiguousarray(self._reduced_rows(sample), dtype=np.float32))
        for block in chunks:
            index.add(np.ascontiguousarray(block, dtype=np.float32))
        self._index = index

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        assert self._index is not None and self.n_lists is not None
        # effort is nprobe for k=10 (MIN_CANDIDATES); more candidates scan more lists
        self._index.nprobe = min(self.n_lists, max(1, effort * want // MIN_CANDIDATES))
        _, found = self._index.search(q[None, :], want)
        found = found[0]
        found = found[found >= 0]
        if len(found) < min(want, len(self)):  # too few in the scanned lists: scan them all
            self._index.nprobe = self.n_lists
            _, found = self._index.search(q[None, :], want)
            found = found[0][found[0] >= 0]
        return found.astype(np.int64)

    def _effort_range(self) -> tuple[int, int]:
        assert self.n_lists is not None
        return max(1, self.n_lists // 256), self.n_lists

    def _save_main(self, tmp: str) -> None:
        faiss = _faiss()
        if self._index is None:  # never built: an empty flat index keeps the format
            faiss.write_index(faiss.IndexFlatIP(max(self.dim, 1)), tmp)
        else:
            faiss.write_index(self._index, tmp)

    def _load_main(self, path: Path, width: int) -> int:
        self._index = _faiss().read_index(str(path))
        return int(self._index.ntotal)
