"""Annoy trees over PCA-reduced vectors, with exact re-rank (see :mod:`core.index`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import annoy
import numpy as np
from numpy.typing import NDArray

from core.index.reduced import MIN_CANDIDATES, ReRankedIndex


def _default_n_trees(n: int) -> int:
    """Trees for n items. Measured at 100k: recall depends on search_k, hardly on the number of
    trees (10 vs 20 trees: same recall at the same search_k), while build time and file size
    grow with it; so few trees."""
    return int(np.clip(n // 10_000, 10, 20))


class AnnoyIndex(ReRankedIndex):
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

    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]],
                       rng: np.random.Generator) -> None:
        ann = annoy.AnnoyIndex(width, "angular")
        ann.set_seed(self.seed)
        i = 0
        for block in chunks:
            for row in block:  # row by row: a whole block's tolist() (4M floats) held the
                ann.add_item(i, row.tolist())  # GIL for ~200 ms and froze the app's window
                i += 1
        self.n_trees = self.n_trees or _default_n_trees(n)
        ann.build(self.n_trees, n_jobs=-1)
        self._ann = ann

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        assert self._ann is not None
        # search_k -1: annoy visits every leaf of every tree, so returns all n when asked
        search_k = -1 if want == len(self) else max(effort * want // MIN_CANDIDATES, want)
        return np.asarray(self._ann.get_nns_by_vector(q.tolist(), want, search_k), np.int64)

    def _effort_range(self) -> tuple[int, int]:
        assert self.n_trees is not None
        return max(MIN_CANDIDATES, len(self) // 50), len(self) * self.n_trees

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
