"""Clips in the search: their kept frames in the index, a clip ranked by its best frame.

The search index holds the photos' embeddings and the clips' kept frames (ids ``-frames.id``,
see :mod:`core.video.store`), not the clips' own poster rows. A query asks the index for more
hits than it returns, then :func:`collapse` keeps each clip's best frame only, as one hit on
the clip that carries the frame's time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.index import Hit
from core.video import store


def search_data(catalog: Catalog, model: str
                ) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
    """(ids, float16 vectors) to index: the photos' embeddings, clips replaced by their
    kept frames."""
    ids, vectors = catalog.stored_embeddings(model)
    frame_ids, frame_vectors = store.frame_embeddings(catalog, model)
    if not len(frame_ids):
        return ids, vectors
    clips = np.fromiter(store.durations(catalog).keys(), np.int64)
    keep = ~np.isin(ids, clips)
    if not len(ids):
        return frame_ids, frame_vectors
    return (np.concatenate([ids[keep], frame_ids]),
            np.concatenate([vectors[keep], frame_vectors]))


def search_blocks(catalog: Catalog, model: str
                  ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float16]]]:
    """What :func:`search_data` returns, a block of rows at a time (for a build that does not
    hold the library's vectors: 2.6 GB at 1M photos of the default model)."""
    clips = np.fromiter(store.durations(catalog).keys(), np.int64)
    for ids, vectors in catalog.embedding_blocks(model, 16_384):
        keep = ~np.isin(ids, clips)
        yield (ids, vectors) if keep.all() else (ids[keep], vectors[keep])
    frame_ids, frame_vectors = store.frame_embeddings(catalog, model)
    if len(frame_ids):
        yield frame_ids, frame_vectors


def expand_exclude(catalog: Catalog, model: str, exclude: Collection[int]) -> set[int]:
    """``exclude`` plus the kept frames of the clips in it (a clip never finds itself)."""
    return set(exclude) | set(store.clip_frame_ids(catalog, exclude, model))


def collapse(catalog: Catalog, raw: list[Hit]) -> list[Hit]:
    """Hits best first with frames turned into hits on their clip (with the frame's time),
    each clip once, at its best frame."""
    owners = store.frame_owners(catalog, [-h.photo_id for h in raw if h.photo_id < 0])
    out: list[Hit] = []
    seen: set[int] = set()
    for hit in raw:
        if hit.photo_id < 0:
            owner = owners.get(-hit.photo_id)
            if owner is None:  # the frame went since the index was built
                continue
            hit = Hit(owner[0], hit.score, owner[1])
        if hit.photo_id in seen:
            continue
        seen.add(hit.photo_id)
        out.append(hit)
    return out


def query_collapsed(catalog: Catalog, query: Callable[[int], list[Hit]], k: int,
                    size: int) -> list[Hit]:
    """The k best distinct items: asks ``query(n)`` for more raw hits until k clips and
    photos are found or the index (``size`` entries) is exhausted."""
    want = k
    while True:
        raw = query(min(max(want, 1), max(size, 1)))
        hits = collapse(catalog, raw)
        if len(hits) >= k or want >= size or len(raw) < want:
            return hits[:k]
        want = want * 4 + 16
