"""The best hits of a region search, looked at again: each hit photo's visual feature map
(the network's last map at 1/16 of its input, :func:`core.embed.feature_map.visual_module`:
finer cells and more visual than the last map the stored regions pool) of the *whole* photo
is pooled over every window of the query box's shape at every size and one-cell step, and the
window most like the query is the hit's box and score. TiefVision's bounding-box search, on
the map of one forward pass per hit; the hits are ranked again by it.

Why: the stored regions are a fixed grid on the last, coarse map of the centre square, so an
object rarely fills one (with the box's exact cells, the visual map found every pasted object's
photos in the benchmark; the grid of the last map, 4 in 10). The visual descriptors are
whitened by a PCA learned on the candidates' own cells (no state to store).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.index import Hit
from core.regions.pca import RegionReduction, fit_reduction, unit_rows

if TYPE_CHECKING:
    from core.embed.cnn import Embedder

WHITEN_DIM = 64  # axes of the candidates' whitening (the visual map has 112 channels for Lite0)
SCALE = 1.5  # the photos at 1.5x the library's scale (cells of ~11 px of it): on the benchmark,
# recall@10 0.73 and boxes with IoU >= 0.5 0.77, against 0.67 and 0.60 at 1x (2.25x the cost)


@dataclass(frozen=True)
class Query:
    """A region query: its raw visual descriptors ``(S, channels)`` (one a scale) and the
    box's aspect ratio (width / height)."""

    visual: NDArray[np.float32]
    aspect: float


def visual_map(embedder: Embedder, image: Image.Image) -> NDArray[np.float32]:
    """The visual feature map ``(channels, h, w)`` of the whole upright ``image`` at
    :data:`SCALE` times the library's scale (its shorter side the model input's)."""
    w, h = image.size
    factor = SCALE * embedder.input_size / min(w, h)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return embedder.visual_of(image.resize(size, Image.Resampling.BILINEAR))


def windows(h: int, w: int, aspect: float) -> NDArray[np.int64]:
    """Every window ``(n, 4)`` (top, left, bottom, right) of a ``h`` x ``w`` map with the
    aspect ratio ``aspect`` (in cells), its longer side 2 cells to the whole map."""
    out = []
    for longer in range(2, max(h, w) + 1):
        shorter = max(1, round(longer * min(aspect, 1 / aspect)))
        rows, cols = (shorter, longer) if aspect >= 1 else (longer, shorter)
        if rows > h or cols > w:
            continue
        grid = np.meshgrid(np.arange(h - rows + 1), np.arange(w - cols + 1), indexing="ij")
        tops, lefts = grid[0].ravel(), grid[1].ravel()
        out.append(np.stack([tops, lefts, tops + rows, lefts + cols], axis=1))
    if not out:
        return np.asarray([[0, 0, h, w]], np.int64)
    return np.concatenate(out).astype(np.int64)


def window_means(fmap: NDArray[np.float32], cells: NDArray[np.int64]) -> NDArray[np.float32]:
    """The mean of ``fmap`` ``(channels, h, w)`` over each window, through an integral image."""
    c, h, w = fmap.shape
    integral = np.zeros((h + 1, w + 1, c), np.float64)
    integral[1:, 1:] = np.cumsum(np.cumsum(fmap.transpose(1, 2, 0), axis=0), axis=1)
    t, left, b, r = cells.T
    total = integral[b, r] - integral[t, r] - integral[b, left] + integral[t, left]
    return (total / ((b - t) * (r - left))[:, None]).astype(np.float32)


def whitening(maps: list[NDArray[np.float32]], query: Query) -> RegionReduction:
    """A whitened PCA of the candidates' cells and the query's descriptors."""
    cells = [m.reshape(m.shape[0], -1).T for m in maps]
    return fit_reduction(np.concatenate([*cells, query.visual]), len(maps), WHITEN_DIM)


def locate(fmap: NDArray[np.float32], query: Query, reduction: RegionReduction
           ) -> tuple[float, tuple[float, float, float, float]]:
    """(score, box relative to the photo) of the window of ``fmap`` most like the query."""
    _c, h, w = fmap.shape
    cells = windows(h, w, query.aspect)
    means = window_means(fmap, cells)
    q = unit_rows(reduction.reduce(query.visual))
    scores = (unit_rows(reduction.reduce(means)) @ q.T).max(axis=1)
    # the whitened cosine ranks photos better, the plain one places the box better
    # (benchmarks/README.md, regions)
    i = int(np.argmax((unit_rows(means) @ unit_rows(query.visual).T).max(axis=1)))
    t, left, b, r = (int(v) for v in cells[i])
    box = (left / w, t / h, (r - left) / w, (b - t) / h)
    return float(scores.max()), (round(box[0], 4), round(box[1], 4), round(box[2], 4),
                              round(box[3], 4))


def refined(hits: list[Hit], images: Iterable[Image.Image | None], embedder: Embedder,
            query: Query) -> list[Hit]:
    """``hits`` ranked again by :func:`locate` (score and box), best first; ``images``: the
    hits' images in order (read as they are needed). A hit whose image is None (not
    readable) keeps its box and comes after, its score capped below."""
    maps = {h.photo_id: visual_map(embedder, im) for h, im in zip(hits, images, strict=True)
            if im is not None}
    if not maps:
        return hits
    reduction = whitening(list(maps.values()), query)
    found = []
    for hit in hits:
        if hit.photo_id in maps:
            score, box = locate(maps[hit.photo_id], query, reduction)
            found.append(Hit(hit.photo_id, score, hit.time, box))
    found.sort(key=lambda h: -h.score)
    floor = found[-1].score
    return found + [Hit(h.photo_id, min(h.score, floor), h.time, h.box)
                    for h in hits if h.photo_id not in maps]
