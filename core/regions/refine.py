"""Finer boxes for the best hits of a region search: the hit photo's whole feature map (not
only the centre square its stored regions cover) is pooled over windows of the query box's
shape at the query's scales, at every one-cell step, reduced like the stored regions, and the
window most like the query is the hit's box and score. TiefVision's bounding-box search,
done on the map of one forward pass per hit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.index import Hit
from core.regions.grid import Cells, pool
from core.regions.pca import RegionReduction, unit_rows

if TYPE_CHECKING:
    from core.embed.cnn import Embedder

SCALE = 2.0  # the photo at twice the library's scale: cells of 16 px of the library's view


@dataclass(frozen=True)
class Query:
    """A region query: its codes (unit rows), each one's scale (the box's longer side in
    pixels of the library's scale) and the box's aspect ratio (width / height)."""

    codes: NDArray[np.float32]
    sides: list[float]
    aspect: float


def window_shape(side_px: float, aspect: float, cell_px: float) -> tuple[int, int]:
    """(rows, columns) of cells of a box whose longer side is ``side_px`` and aspect ratio
    ``aspect``, on a map whose cells are ``cell_px`` wide."""
    longer = max(1, round(side_px / cell_px))
    shorter = max(1, round(longer * min(aspect, 1 / aspect)))
    return (shorter, longer) if aspect >= 1 else (longer, shorter)


def locate(embedder: Embedder, image: Image.Image, query: Query,
           reduction: RegionReduction) -> tuple[float, tuple[float, float, float, float]]:
    """(score, box) of the window of ``image`` (upright, whole) most like the query: at each
    of its scales, every position of a window of the query box's shape and size, on the
    image's feature map at :data:`SCALE` times the library's scale."""
    w, h = image.size
    factor = SCALE * embedder.input_size / min(w, h)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    fmap = embedder.map_of(image.resize(size, Image.Resampling.BILINEAR))
    _c, mh, mw = fmap.shape
    cell_px = size[1] / mh / SCALE  # a cell, in pixels of the library's scale
    best = (-2.0, (0.0, 0.0, 1.0, 1.0))
    for code, side in zip(query.codes, query.sides, strict=True):
        rows, cols = window_shape(side, query.aspect, cell_px)
        rows, cols = min(rows, mh), min(cols, mw)
        cells: list[Cells] = [(t, left, t + rows, left + cols)
                              for t in range(mh - rows + 1) for left in range(mw - cols + 1)]
        scores = unit_rows(reduction.reduce(pool(fmap[None], cells)[0])) @ code
        i = int(np.argmax(scores))
        if scores[i] > best[0]:
            t, left, b, right = cells[i]
            best = (float(scores[i]), (left / mw, t / mh, (right - left) / mw, (b - t) / mh))
    score, box = best
    return score, (round(box[0], 4), round(box[1], 4), round(box[2], 4), round(box[3], 4))


def refined(hits: list[Hit], images: list[Image.Image | None], embedder: Embedder,
            query: Query, reduction: RegionReduction) -> list[Hit]:
    """``hits`` with the boxes and scores of :func:`locate` (a hit whose image is None, not
    readable, keeps its own), best first."""
    out = []
    for hit, image in zip(hits, images, strict=True):
        if image is None:
            out.append(hit)
            continue
        score, box = locate(embedder, image, query, reduction)
        out.append(Hit(hit.photo_id, max(score, hit.score), hit.time, box))
    return sorted(out, key=lambda h: -h.score)
