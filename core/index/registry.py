"""Nearest-neighbour indexes over L2-normalised photo embeddings.

Backends share the :class:`Index` protocol: :class:`ExactIndex` (numpy brute force, the
reference; :mod:`core.index.exact`) and four that search PCA-reduced vectors for candidates,
then re-rank them exactly in full dimension (:mod:`core.index.reduced`): :class:`FaissIndex`
scans FAISS inverted lists of 8-bit codes (:mod:`core.index.faiss_index`), :class:`IvfIndex`
scans the few k-means lists nearest the query (:mod:`core.index.ivf`), :class:`PcaIndex`
scans every reduced vector (:mod:`core.index.pca`), :class:`AnnoyIndex` walks annoy trees
(:mod:`core.index.annoy_index`).
:func:`choose_index` picks exact or the approximate default (faiss) from the library size.
Scores are cosine similarities, higher is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.index.annoy_index import AnnoyIndex
from core.index.base import Hit, Index
from core.index.exact import ExactIndex
from core.index.faiss_index import FaissIndex
from core.index.ivf import IvfIndex
from core.index.pca import PcaIndex

__all__ = ["APPROXIMATE", "EXACT_THRESHOLD", "INDEXES", "AnnoyIndex", "ExactIndex", "FaissIndex",
           "Hit", "Index", "IvfIndex", "PcaIndex", "choose_index", "make_index", "rocchio"]

# EXACT_THRESHOLD, measured on the 2-core dev machine (load 1.7-2.9, 2026-11-23), 2048-d,
# `python -m benchmarks.search --sizes 10000,100000` and `--sizes 1000000`: exact 1.9-8.0 ms a
# query at 10k, 55 ms at 100k, 285 ms at 1M. Below 10k exact stays under ~8 ms even on busy
# cores and needs no build.
# APPROXIMATE, measured in one run on the same machine under load 16-20 (2026-12-02,
# `python -m benchmarks.search --sizes 100000 --indexes faiss,ivf --repeat 1`, and annoy in a
# run beside them): at 100k faiss (IVF lists of SQ8 codes) 0.81 ms a query (CPU 0.81 ms),
# recall@10 0.998, a 28 MB index; the hand-written ivf 1.00 ms (0.994), 102 MB; annoy 10.8 ms
# of CPU (0.981), 117 MB. faiss is the fastest, the smallest in memory (256 bytes a photo
# beside the mmapped vectors) and a well-kept library, so it is the default; annoy, the
# product owner's first choice, stays available (Searcher(kind="annoy"), benchmarks).
EXACT_THRESHOLD = 10_000
APPROXIMATE = "faiss"

INDEXES: dict[str, type[ExactIndex] | type[IvfIndex] | type[PcaIndex] | type[AnnoyIndex]
              | type[FaissIndex]] = {
    ExactIndex.name: ExactIndex,
    FaissIndex.name: FaissIndex,
    IvfIndex.name: IvfIndex,
    PcaIndex.name: PcaIndex,
    AnnoyIndex.name: AnnoyIndex,
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
    """Backend name for a library of n photos: exact below EXACT_THRESHOLD, else APPROXIMATE."""
    return ExactIndex.name if n < EXACT_THRESHOLD else APPROXIMATE


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
