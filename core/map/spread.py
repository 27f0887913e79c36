"""Spread thumbnails over a map so that none hides another (as PixPlot snaps to a grid).

Each point asks for the grid cell under it; a taken cell sends it to the nearest free cell
within a few rings around, and a point with no free cell nearby is left as a dot. One
thumbnail per cell means no overlaps at any zoom, and a tight pile of similar photos opens
up into a block of thumbnails around the pile's place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

MAX_RING = 3  # how far (in cells) a thumbnail may move from its point


def spread_on_grid(
    points: NDArray[np.float64],
    cell: float,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    order: Sequence[int] | NDArray[np.intp] | None = None,
    max_ring: int = MAX_RING,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Place points (pixels, (n, 2)) on a grid of ``cell`` px squares, one per cell.

    ``bounds`` (x0, y0, x1, y1) keeps whole cells inside that box; ``order`` says who
    chooses first (e.g. selected photos). Returns the rows placed and their cell centres.
    """
    points = np.asarray(points, dtype=np.float64)
    rows = np.arange(len(points)) if order is None else np.asarray(order, dtype=np.intp)
    if cell <= 0 or not len(rows):
        return np.zeros(0, dtype=np.intp), np.zeros((0, 2))
    if bounds is None:
        origin = np.array([0.0, 0.0])
        limit = None
    else:
        origin = np.array(bounds[:2], dtype=np.float64)
        limit = (max(1, int((bounds[2] - bounds[0]) // cell)),
                 max(1, int((bounds[3] - bounds[1]) // cell)))
    taken: set[tuple[int, int]] = set()
    placed: list[int] = []
    centres: list[tuple[float, float]] = []
    rings = _ring_offsets(max_ring)
    for row in rows:
        want = (points[row] - origin) / cell - 0.5  # in cell units, cell centres at integers
        home = np.rint(want).astype(int)
        if limit is not None:
            home = np.clip(home, 0, np.array(limit) - 1)
        best = None
        for ring in rings:
            free = [(int(home[0] + dx), int(home[1] + dy)) for dx, dy in ring]
            free = [c for c in free if c not in taken and (
                limit is None or (0 <= c[0] < limit[0] and 0 <= c[1] < limit[1]))]
            if free:
                best = min(free, key=lambda c: (c[0] - want[0]) ** 2 + (c[1] - want[1]) ** 2)
                break
        if best is None:
            continue
        taken.add(best)
        placed.append(int(row))
        centres.append((origin[0] + (best[0] + 0.5) * cell, origin[1] + (best[1] + 0.5) * cell))
    return np.asarray(placed, dtype=np.intp), np.asarray(centres, dtype=np.float64).reshape(-1, 2)


def thumbnail_side(n: int, width: float, height: float, *, largest: int = 112,
                   smallest: int = 28) -> int:
    """The thumbnail size in px for ``n`` photos over ``width`` × ``height`` px: they scale
    with the room each photo has; 0 when even ``smallest`` is too big (draw dots)."""
    if n <= 0:
        return largest
    side = int(math.sqrt(width * height / n) * 0.9)
    return min(largest, side) if side >= smallest else 0


def _ring_offsets(max_ring: int) -> list[list[tuple[int, int]]]:
    rings: list[list[tuple[int, int]]] = [[(0, 0)]]
    for r in range(1, max_ring + 1):
        rings.append([(dx, dy) for dx in range(-r, r + 1) for dy in range(-r, r + 1)
                      if max(abs(dx), abs(dy)) == r])
    return rings
