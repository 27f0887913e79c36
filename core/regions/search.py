"""Search by a region: the query box pooled from its photo's feature map, matched against
every stored region through the same index layer as photos (:func:`core.index.choose_index`:
exact below the threshold, approximate above), then grouped by photo: a photo ranks by its
best-matching region, whose box its hit carries.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.catalog import Catalog
from core.index import Hit, Index, choose_index, make_index
from core.jobs import Job, Progress, check_cancel
from core.regions.grid import MAX_REGIONS, Box, box_cells, check_box, pool
from core.regions.pca import RegionReduction, unit_rows
from core.regions.refine import SCALE, Query, refined
from core.regions.store import all_regions, generation_key, load_reduction, region_count

if TYPE_CHECKING:
    from core.embed.cnn import Embedder

log = logging.getLogger(__name__)

EXACT_STAND_IN_MAX = 100_000  # photos (3M regions, 770 MB as float32) searched exactly while
# the approximate index is missing (see core.search.EXACT_STAND_IN_MAX)
MAX_QUERY_SIDE = 1024  # px: a region query's image at most this long (a small box's scale)
MIN_QUERY_SIDE = 32  # px: one cell of the feature map
SCALE_STEP = 1.25  # between the scales a region query is made at
# Tuned recall of the regions' nearest neighbours: a photo is found by any one of its 30, and
# grouping needs the top ~100 regions right to rank 10 photos (benchmarks/regions.py).
REGION_RECALL = 0.99
REGION_LISTS = 1024  # faiss inverted lists at most: training more on millions of regions
# takes minutes for no gain at this dimension


def query_descriptors(embedder: Embedder, image: Image.Image, box: Box
                      ) -> tuple[NDArray[np.float32], list[float]]:
    """Raw descriptors ``(S, channels)`` of ``box`` (relative to the upright ``image``) at the
    scales of the stored regions, and those scales (the box's longer side in pixels of the
    library's scale): the whole image is scaled so that the box's longer side is as long as a
    stored region's side, then its feature map is pooled over the box's cells. The same
    object may be large in one photo and small in another: each scale is searched.
    """
    last, _visual, sides = query_maps(embedder, image, box)
    return last, sides


def query_maps(embedder: Embedder, image: Image.Image, box: Box, visual_scale: float = 1.0
               ) -> tuple[NDArray[np.float32], NDArray[np.float32], list[float]]:
    """As :func:`query_descriptors`, with the visual map's descriptors of the box too, at
    ``visual_scale`` times each scale (from the same passes if 1): (last ``(S, channels)``,
    visual ``(S, visual channels)``, scales)."""
    box = check_box(box)
    w, h = image.size
    box_side = max(box[2] * w, box[3] * h)
    last, visual, sides = [], [], []
    # and at its own scale: the photo as the library's are scaled (a copy of it matches there)
    own = box_side * embedder.input_size / min(w, h)
    scales: list[float] = list(region_sides(embedder.input_size))
    if min(abs(own / s - 1) for s in scales) > 0.05:
        scales.append(round(own))
    factors = [side / box_side for side in scales if max(w, h) * side / box_side
               <= MAX_QUERY_SIDE]
    if not factors:  # a tiny box on a huge image: the largest scale allowed
        factors = [MAX_QUERY_SIDE / max(w, h)]
    for factor in factors:
        maps = embedder.maps_of(_scaled(image, factor))
        last.append(pool(maps[0][None], [box_cells(box, *maps[0].shape[1:])])[0, 0])
        fine = maps[1]
        if visual_scale != 1:  # the photos are ranked again at another scale
            fine = embedder.visual_of(_scaled(image, factor * visual_scale))
        visual.append(pool(fine[None], [box_cells(box, *fine.shape[1:])])[0, 0])
        sides.append(box_side * factor)
    return np.stack(last), np.stack(visual), sides


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    w, h = image.size
    size = (max(MIN_QUERY_SIDE, round(w * factor)), max(MIN_QUERY_SIDE, round(h * factor)))
    return image.resize(size, Image.Resampling.BILINEAR)


def region_sides(input_size: int) -> list[int]:
    """The scales a region query is made at: the box's longer side in pixels of the library's
    scale, from the smallest stored region's side (2 cells of 7: 64 px) to the whole
    input, in steps of 1.25x (a scale between the stored regions' also finds them)."""
    smallest = input_size * 2 / 7
    steps = int(np.floor(np.log(input_size / smallest) / np.log(SCALE_STEP))) + 1
    return [round(smallest * SCALE_STEP ** i) for i in range(steps)] + [input_size]


def make_region_index(n_photos: int, kind: str | None = None) -> Index:
    """The backend for the regions of ``n_photos`` photos (``kind``, or by
    :func:`choose_index`)."""
    kind = kind or choose_index(n_photos)
    if kind == "faiss":
        lists = min(REGION_LISTS, max(1, round(4 * float(np.sqrt(n_photos * 30)))))
        return make_index(kind, reduced_dim=None, n_lists=lists, target_recall=REGION_RECALL)
    if kind == "exact":
        return make_index(kind)
    return make_index(kind, reduced_dim=None, target_recall=REGION_RECALL)


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

    @property
    def index_path(self) -> Path:
        """Where the approximate index of a large library's regions is saved."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model)
        return self.catalog.path.parent / f"regions-{slug}.ann"

    def _current(self) -> Index:
        """The index of the current regions: exact below the threshold; above it the saved
        approximate one, or exact search standing in until :meth:`build_index` has run
        (up to EXACT_STAND_IN_MAX photos; beyond, it is built now)."""
        with self._lock:
            generation = self.catalog.generation(generation_key(self.model))
            if self._index is None or generation != self._generation:
                ids, boxes, codes = all_regions(self.catalog, self.model)
                n_photos = len(np.unique(ids // MAX_REGIONS))
                kind = make_region_index(n_photos).name
                index = self._load_saved(kind, generation)
                if index is None and kind != "exact" and n_photos > EXACT_STAND_IN_MAX:
                    index = self._build_and_save(ids, codes, generation)
                if index is None:
                    index = _built(make_region_index(0), ids, codes)
                self._index, self._ids, self._boxes = index, ids, boxes
                self._generation = generation
            return self._index

    def build_index(self, cancel: threading.Event | None = None) -> Job[bool]:
        """Build and save the approximate index of a large library's regions if none is
        saved for the current ones (a job, as :meth:`core.search.Searcher.build_index`).
        Returns whether it built one."""
        generation = self.catalog.generation(generation_key(self.model))
        n_photos = region_count(self.catalog, self.model)
        kind = make_region_index(n_photos).name
        if kind == "exact" or self._stamp_matches(kind, generation):
            return False
        yield Progress("region index", 0, 1, f"Building the region index of {n_photos:,} photos")
        ids, _boxes, codes = all_regions(self.catalog, self.model)
        check_cancel(cancel)
        self._build_and_save(ids, codes, generation)
        with self._lock:
            self._index = None  # the next query loads it
        yield Progress("region index", 1, 1, "Region index ready")
        return True

    def _stamp_matches(self, kind: str, generation: int) -> bool:
        try:
            saved = json.loads(self.index_path.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return False
        return bool(saved == {"generation": generation, "kind": kind}
                    and self.index_path.exists())

    def _load_saved(self, kind: str, generation: int) -> Index | None:
        if kind == "exact" or not self._stamp_matches(kind, generation):
            return None
        try:
            return type(make_index(kind)).load(self.index_path)
        except (OSError, ValueError) as exc:
            log.warning("rebuilding the region index: %s", exc)
            return None

    def _build_and_save(self, ids: NDArray[np.int64], codes: NDArray[np.float16],
                        generation: int) -> Index:
        index = _built(make_region_index(len(np.unique(ids // MAX_REGIONS))), ids, codes)
        try:
            index.save(self.index_path)
            self.index_path.with_suffix(".json").write_text(
                json.dumps({"generation": generation, "kind": index.name}))
        except OSError as exc:  # a read-only catalog folder: kept in memory only
            log.warning("could not save the region index: %s", exc)
        return index

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
                 exclude: Collection[int] = (),
                 open_photos: Callable[[list[int]], Iterable[Image.Image | None]] | None = None,
                 refine: int = 0) -> list[Hit]:
        """Photos with a region most like ``box`` of ``image`` at any of the stored regions'
        scales (see :func:`query_descriptors` and :meth:`by_code`). The best ``refine``
        photos (``refine`` may exceed ``k``: they are candidates) are ranked again, with finer
        boxes, on their images' visual maps (:mod:`core.regions.refine`; ``open_photos``:
        photo ids -> their upright images, or None for one not readable, in order: read
        ahead while the maps are computed)."""
        reduction = self.reduction()
        raw, visual, _sides = query_maps(embedder, image, box,
                                         SCALE if refine and open_photos is not None else 1.0)
        codes = reduction.reduce(raw)
        wanted = max(k, refine if open_photos is not None else 0)
        best: dict[int, Hit] = {}
        for code in codes:
            for hit in self.by_code(code, wanted, exclude):
                if hit.photo_id not in best or hit.score > best[hit.photo_id].score:
                    best[hit.photo_id] = hit
        hits = sorted(best.values(), key=lambda h: -h.score)[:wanted]
        if not refine or open_photos is None:
            return hits[:k]
        top = hits[:refine]
        images = open_photos([h.photo_id for h in top])
        box = check_box(box)
        query = Query(visual, (box[2] * image.size[0]) / (box[3] * image.size[1]))
        return (refined(top, images, embedder, query) + hits[refine:])[:k]


def _built(index: Index, ids: NDArray[np.int64], codes: NDArray[np.float16]) -> Index:
    if len(ids):
        index.build(ids, unit_rows(codes).astype(np.float16))
    return index


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
    """The upright image of ``path``, decoded at the size the region query needs (its
    shorter side at least the refining scale's, :data:`core.regions.refine.SCALE`)."""
    from core import decode, thumbnails

    side = max(round(SCALE * embedder.input_size), thumbnails.THUMBNAIL_SIZE)
    return decode.decode_file(path, min_side=side).image
