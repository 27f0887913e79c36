"""Where the regions are: an R-MAC-style grid of overlapping squares on the feature map, the
pooling of the map over them, and their boxes on the upright photo.

The library's photos go through the network as their centre square (the model input, see
:func:`core.decode.model_input`), so a photo's stored regions cover that square; a box is given
relative to the whole upright (EXIF-oriented) photo: ``(x, y, w, h)`` in 0..1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]
Cells = tuple[int, int, int, int]  # top, left, bottom, right (exclusive) on the feature map

# (region side as a fraction of the map's side, regions per axis): 1 + 4 + 9 + 16 = 30 squares
# on a 7x7 map: sides 7, 5, 3, 2 cells (100 %, 71 %, 43 %, 29 % of the square), each scale
# overlapping its neighbours as R-MAC's do (Tolias et al. 2016).
SCALES = ((1.0, 1), (0.7, 2), (0.45, 3), (0.3, 4))
DIRECT_MAX = 64  # regions pooled one by one; more go through an integral image
MAX_REGIONS = 64  # region ids are photo_id * MAX_REGIONS + region number


def grid_cells(h: int, w: int) -> list[Cells]:
    """The regions of a feature map of ``h`` x ``w`` cells, largest first."""
    side_cells = min(h, w)
    cells: list[Cells] = []
    for fraction, per_axis in SCALES:
        side = max(1, round(fraction * side_cells))
        tops = np.unique(np.round(np.linspace(0, h - side, per_axis)).astype(int))
        lefts = np.unique(np.round(np.linspace(0, w - side, per_axis)).astype(int))
        cells += [(int(t), int(left), int(t) + side, int(left) + side)
                  for t in tops for left in lefts]
    assert len(cells) <= MAX_REGIONS
    return cells


def pool(maps: NDArray[np.float32], cells: list[Cells]) -> NDArray[np.float32]:
    """Mean of the feature maps ``(n, channels, h, w)`` over each region -> ``(n, R, channels)``.

    The mean, as the global embedding is pooled: the whole-map region *is* the embedding (before
    normalisation), so a head trained on embeddings can score regions (:mod:`core.regions`).
    Many regions (a search over windows) go through an integral image, one pass whatever
    their number; a few (the grid: 5 ms a batch of 8 here, the integral image 18) directly.
    """
    n, channels, h, w = maps.shape
    out = np.empty((n, len(cells), channels), dtype=np.float32)
    if len(cells) <= DIRECT_MAX:
        channels_last = np.ascontiguousarray(maps.transpose(0, 2, 3, 1))
        for r, (t, left, b, right) in enumerate(cells):
            out[:, r] = channels_last[:, t:b, left:right].mean(axis=(1, 2))
        return out
    integral = np.zeros((n, h + 1, w + 1, channels), dtype=np.float64)
    integral[:, 1:, 1:] = np.cumsum(np.cumsum(maps.transpose(0, 2, 3, 1), axis=1), axis=2)
    for r, (t, left, b, right) in enumerate(cells):
        total = (integral[:, b, right] - integral[:, t, right] - integral[:, b, left]
                 + integral[:, t, left])
        out[:, r] = total / ((b - t) * (right - left))
    return out


def crop_boxes(cells: list[Cells], h: int, w: int, width: int, height: int
               ) -> NDArray[np.float32]:
    """Boxes ``(R, 4)`` on an upright photo of ``width`` x ``height`` of regions of the map
    (``h`` x ``w`` cells) of its centre square (the model input)."""
    side = min(width, height)
    left0, top0 = (width - side) / 2, (height - side) / 2
    c = np.asarray(cells, dtype=np.float64)
    x0 = (left0 + c[:, 1] / w * side) / width
    y0 = (top0 + c[:, 0] / h * side) / height
    x1 = (left0 + c[:, 3] / w * side) / width
    y1 = (top0 + c[:, 2] / h * side) / height
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.float32)


def box_cells(box: Box, h: int, w: int) -> Cells:
    """The cells of a map of ``h`` x ``w`` (covering the whole image) that a relative box
    covers: those whose centres are inside it, at least one."""
    x, y, bw, bh = box
    left = min(w - 1, max(0, round(x * w)))
    top = min(h - 1, max(0, round(y * h)))
    right = max(left + 1, min(w, round((x + bw) * w)))
    bottom = max(top + 1, min(h, round((y + bh) * h)))
    return top, left, bottom, right


def check_box(box: Box) -> Box:
    """``box`` as floats, clipped to the photo; ValueError if it is empty or outside it."""
    x, y, w, h = (float(v) for v in box)
    if not all(np.isfinite((x, y, w, h))) or w <= 0 or h <= 0:
        raise ValueError(f"a region needs a positive width and height, got {box}")
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(1.0, x + w), min(1.0, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the region {box} is outside the photo (0..1)")
    return x0, y0, x1 - x0, y1 - y0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
