"""Nearest-neighbour indexes over L2-normalised embeddings: the :class:`Index` protocol and its
backends (exact, PCA re-rank, IVF, annoy) behind a registry (:mod:`~core.index.registry`)."""

from core.index.registry import (
    APPROXIMATE,
    EXACT_THRESHOLD,
    INDEXES,
    AnnoyIndex,
    ExactIndex,
    FaissIndex,
    Hit,
    Index,
    IvfIndex,
    PcaIndex,
    choose_index,
    make_index,
    rocchio,
)

__all__ = ["APPROXIMATE", "EXACT_THRESHOLD", "INDEXES", "AnnoyIndex", "ExactIndex", "FaissIndex",
           "Hit", "Index", "IvfIndex", "PcaIndex", "choose_index", "make_index", "rocchio"]
