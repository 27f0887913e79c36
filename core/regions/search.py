"""Search by a region: the query box pooled from its photo's feature map, matched against
every stored region through the same index layer as photos (:func:`core.index.choose_index`:
exact below the threshold, approximate above), then grouped by photo: a photo ranks by its
best-matching region, whose box its hit carries.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.catalog import Catalog
from core.index import Hit, Index, choose_index, make_index
from core.regions.grid import MAX_REGIONS, Box, box_cells, check_box, pool
from core.regions.pca import RegionReduction, unit_rows
from core.regions.store import all_regions, generation_key, load_reduction

if TYPE_CHECKING:
    from core.embed.cnn import Embedder

REGION_LISTS = 1024  # faiss inverted lists at most: training more on millions of regions
# takes minutes for no gain at this dimension


def query_descriptor(embedder: Embedder, image: Image.Image, box: Box) -> NDArray[np.float32]:
    """The raw descriptor ``(channels,)`` of ``box`` (relative to the upright ``image``): the
    whole image's feature map (at the library's scale) pooled over the box's cells."""
    fmap = embedder.whole_map(image)
    _c, h, w = fmap.shape
    return pool(fmap[None], [box_cells(check_box(box), h, w)])[0, 0]


def make_region_index(n_photos: int) -> Index:
    """The backend for the regions of ``n_photos`` photos (see :func:`choose_index`)."""
    kind = choose_index(n_photos)
    if kind == "faiss":
        lists = min(REGION_LISTS, max(1, round(4 * float(np.sqrt(n_photos * 30)))))
        return make_index(kind, reduced_dim=None, n_lists=lists)
    if kind == "exact":
        return make_index(kind)
    return make_index(kind, reduced_dim=None)


class RegionSearch:
    """Nearest regions over the stored regions of one model, grouped by photo; the index is
    built on first use and again when the regions change."""

    def __init__(self, catalog: Catalog, model: str) -> None:
        self.catalog = catalog
        self.model = model
        self._lock = threading.Lock()
        self._generation = -1
        self._index: Index | None = None
        self._ids: NDArray[np.int64] = np.zeros(0, np.int64)
        self._boxes: NDArray[np.float16] = np.zeros((0, 4), np.float16)

    def reduction(self) -> RegionReduction:
        """The library's reduction; LookupError if no regions are stored yet."""
        reduction = load_reduction(self.catalog, self.model)
        if reduction is None:
            raise LookupError(f"no regions are stored for {self.model} yet: index the library")
        return reduction

    def _current(self) -> Index:
        with self._lock:
            generation = self.catalog.generation(generation_key(self.model))
            if self._index is None or generation != self._generation:
                ids, boxes, codes = all_regions(self.catalog, self.model)
                index = make_region_index(len(np.unique(ids // MAX_REGIONS)))
                if len(ids):
                    index.build(ids, unit_rows(codes).astype(np.float16))
                self._index, self._ids, self._boxes = index, ids, boxes
                self._generation = generation
            return self._index

    def by_code(self, code: NDArray[np.float32], k: int = 20,
                exclude: Collection[int] = ()) -> list[Hit]:
        """Photos (not in ``exclude``) ranked by their region nearest to ``code`` (a reduced
        descriptor), best first; each hit's ``box`` is that region's."""
        index = self._current()
        excluded = [p * MAX_REGIONS + r for p in exclude for r in range(MAX_REGIONS)]
        excluded = [i for i in excluded if _contains(self._ids, i)]
        return [Hit(h.photo_id // MAX_REGIONS, h.score, box=self._box(h.photo_id))
                for h in group_hits(index, code, k, excluded)]

    def _box(self, region_id: int) -> tuple[float, float, float, float]:
        pos = int(np.searchsorted(self._ids, region_id))
        x, y, w, h = (float(v) for v in self._boxes[pos])
        return round(x, 4), round(y, 4), round(w, 4), round(h, 4)

    def by_image(self, embedder: Embedder, image: Image.Image, box: Box, k: int = 20,
                 exclude: Collection[int] = ()) -> list[Hit]:
        """Photos with a region most like ``box`` of ``image`` (see :meth:`by_code`)."""
        raw = query_descriptor(embedder, image, box)
        return self.by_code(self.reduction().reduce(raw), k, exclude)


def group_hits(index: Index, code: NDArray[np.float32], k: int,
               excluded: Collection[int]) -> list[Hit]:
    """The best region of each of the ``k`` photos with the regions nearest to ``code``
    (hits of region ids ``photo_id * MAX_REGIONS + r``, best first), none in ``excluded``:
    the index is asked for more regions until ``k`` photos are found or none is left."""
    n = len(index)
    if not n:
        return []
    want = min(n, max(100, 8 * k))
    while True:
        best: dict[int, Hit] = {}
        for hit in index.query(code, want, exclude=excluded):
            best.setdefault(hit.photo_id // MAX_REGIONS, hit)
            if len(best) == k:
                return list(best.values())
        if want >= n - len(excluded):
            return list(best.values())
        want = min(n, want * 4)


def _contains(sorted_ids: NDArray[np.int64], value: int) -> bool:
    pos = int(np.searchsorted(sorted_ids, value))
    return pos < len(sorted_ids) and int(sorted_ids[pos]) == value


def region_vectors(catalog: Catalog, photo_id: int, model_key: str
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """A photo's regions: boxes ``(R, 4)`` (x, y, w, h on the upright photo) and each region's
    vector mapped back into the embedding space ``(R, dim)`` (unit length), so that a head
    trained on embeddings scores them (Oquab et al.'s patch scoring); None if not stored."""
    from core.regions.store import photo_regions

    stored = photo_regions(catalog, photo_id, model_key)
    reduction = load_reduction(catalog, model_key)
    if stored is None or reduction is None:
        return None
    boxes, codes = stored
    return boxes, reduction.restore(codes)


def image_of(path: Path, embedder: Embedder) -> Image.Image:
    """The upright image of ``path``, decoded at the size the region query needs."""
    from core import decode, thumbnails

    return decode.decode_file(path, min_side=max(embedder.input_size,
                                                 thumbnails.THUMBNAIL_SIZE)).image
