"""An exhaustive scan of PCA-reduced vectors with exact re-rank (:class:`PcaIndex`), and the
helpers it shares with the inverted lists of :mod:`core.index.ivf`. See :mod:`core.index`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from core.index.base import load_npy, save_npy
from core.index.reduced import MIN_CANDIDATES, ReRankedIndex


def fill(n: int, width: int, chunks: Iterator[NDArray[np.float32]]) -> NDArray[np.float32]:
    matrix = np.empty((n, width), dtype=np.float32)
    start = 0
    for block in chunks:
        matrix[start : start + len(block)] = block
        start += len(block)
    return matrix


class PcaIndex(ReRankedIndex):
    """Brute-force scan over the PCA-reduced vectors (float32) gives candidates; exact re-rank.

    The scan reads n * reduced_dim * 4 bytes a query (51 MB at 100k, 128-d): memory-bound and
    linear in n; :class:`IvfIndex` scans a few lists instead. `candidates` (for k=10, scaled
    with k) is tuned at build unless given.
    """

    name: ClassVar[str] = "pca"
    _EFFORT: ClassVar[str] = "candidates"

    def __init__(self, candidates: int | None = None, reduced_dim: int | None = 128,
                 target_recall: float = 0.97, seed: int = 0) -> None:
        super().__init__(reduced_dim, target_recall, seed)
        self.candidates = candidates
        self._matrix: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)

    def _settings(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "reduced_dim": self.reduced_dim,
                "target_recall": self.target_recall, "seed": self.seed}

    def _index_reduced(self, n: int, width: int, chunks: Iterator[NDArray[np.float32]],
                       rng: np.random.Generator) -> None:
        self._matrix = fill(n, width, chunks)

    def _candidates(self, q: NDArray[np.float32], want: int, effort: int) -> NDArray[np.int64]:
        n = len(self)
        count = min(max(effort * want // MIN_CANDIDATES, want), n)
        if count == n:
            return np.arange(n, dtype=np.int64)
        return largest(self._matrix @ q, count)

    def _effort_range(self) -> tuple[int, int]:
        return MIN_CANDIDATES, max(len(self), MIN_CANDIDATES)

    def _save_main(self, tmp: str) -> None:
        save_npy(tmp, self._matrix)

    def _load_main(self, path: Path, width: int) -> int:
        self._matrix = load_npy(path, (len(self._ids), width), np.float32)
        return len(self._matrix)


def largest(scores: NDArray[np.float32], count: int) -> NDArray[np.int64]:
    """Positions of the `count` largest scores, in no particular order."""
    if count >= len(scores):
        return np.arange(len(scores), dtype=np.int64)
    cut = len(scores) - count
    return np.argpartition(scores, cut)[cut:].astype(np.int64)  # no negated copy of the scores


def unit_rows(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
