"""Brute-force search, the reference backend (see :mod:`core.index`)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from core.index.base import (
    Hit,
    check_build,
    check_k,
    check_query,
    chunks,
    exclude_array,
    hits,
    normalised_rows,
    save_npz,
    top,
)


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
        self._ids = check_build(ids, vectors)
        self._matrix = normalised_rows(vectors)

    def query(
        self, vector: NDArray[np.floating], k: int, exclude: Collection[int] = ()
    ) -> list[Hit]:
        """The k best hits for `vector`, best first, never an id in `exclude`."""
        check_k(k)
        if not len(self):
            return []
        q = check_query(vector, self.dim, k)
        excluded = exclude_array(exclude)
        scores = self._matrix @ q
        return hits(self._ids, scores, top(scores, k + len(excluded)), excluded, k)

    def query_many(self, vectors: NDArray[np.floating], k: int) -> list[list[Hit]]:
        """Batch query (matrix-matrix product): one best-first hit list per row of `vectors`."""
        vectors = np.atleast_2d(vectors)
        check_k(k)
        if not len(self) or not len(vectors):
            return [[] for _ in vectors]
        qs = np.stack([check_query(v, self.dim, k) for v in vectors])
        out: list[list[Hit]] = []
        for sl in chunks(len(qs), 64):
            for scores in qs[sl] @ self._matrix.T:
                out.append(hits(self._ids, scores, top(scores, k), self._ids[:0], k))
        return out

    def save(self, path: Path) -> None:
        """Write ids and the float32 matrix to one .npz file, atomically."""
        save_npz(Path(path), {"ids": self._ids, "matrix": self._matrix})

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read an index written by :meth:`save`."""
        index = cls()
        with np.load(Path(path)) as data:
            index._ids = data["ids"]
            index._matrix = np.ascontiguousarray(data["matrix"], dtype=np.float32)
        return index
