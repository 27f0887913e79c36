"""Region descriptors from the indexing pass: each batch's feature maps pooled over the grid
(:mod:`~core.regions.grid`), reduced (:mod:`~core.regions.pca`) and stored with their boxes
(:mod:`~core.regions.store`) in the batch's own transaction.

The reduction is learned on the library: until it is, the raw descriptors of the first
:data:`LEARN_ON` photos wait in memory (about 40 MB), then it is fitted and they are written
in one transaction. A pass stopped before that leaves those photos without regions: the next
pass describes them again (:func:`~core.regions.store.missing_regions`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.regions.grid import crop_boxes, grid_cells, pool
from core.regions.pca import RegionReduction, fit_reduction
from core.regions.store import load_reduction, save_reduction, write_regions

log = logging.getLogger(__name__)

LEARN_ON = 256  # photos the reduction is learned on (30 regions each)

Raw = tuple[int, NDArray[np.float32], NDArray[np.float32]]  # photo id, boxes, raw descriptors


def describe(maps: NDArray[np.float32], sizes: Sequence[tuple[int, int]]
             ) -> tuple[NDArray[np.float32], list[NDArray[np.float32]]]:
    """Raw region descriptors ``(n, R, channels)`` of feature maps ``(n, channels, h, w)`` of
    the photos' centre squares, and each photo's boxes on the upright photo (``sizes``:
    width, height)."""
    _n, _c, h, w = maps.shape
    cells = grid_cells(h, w)
    return pool(maps, cells), [crop_boxes(cells, h, w, *size) for size in sizes]


class RegionWriter:
    """Stores the regions of each batch of one model's indexing pass (see the module)."""

    def __init__(self, catalog: Catalog, model: str, learn_on: int = LEARN_ON) -> None:
        self.catalog = catalog
        self.model = model
        self.learn_on = learn_on
        self.reduction: RegionReduction | None = load_reduction(catalog, model)
        self._waiting: list[Raw] = []

    def batch(self, ids: Sequence[int], sizes: Sequence[tuple[int, int]],
              maps: NDArray[np.float32] | None) -> Callable[[sqlite3.Connection], None] | None:
        """The writes of one batch's regions, for the batch's transaction; None while the
        reduction is still being learned (they wait; call :meth:`flush` after the commit)."""
        if maps is None or not len(ids):
            return None
        raw, boxes = describe(maps, sizes)
        rows = [(int(i), b, r) for i, b, r in zip(ids, boxes, raw, strict=True)]
        reduction = self.reduction
        if reduction is None:
            self._waiting += rows
            return None
        return lambda tx: write_regions(self.catalog, tx, self.model, _reduced(rows, reduction))

    def flush(self, final: bool = False) -> None:
        """Learn the reduction once :attr:`learn_on` photos wait (or, ``final``, any), then
        store theirs."""
        if self.reduction is not None or not self._waiting:
            return
        if len(self._waiting) < self.learn_on and not final:
            return
        raw = np.concatenate([r for _i, _b, r in self._waiting])
        reduction = fit_reduction(raw, len(self._waiting))
        with self.catalog.transaction() as tx:
            save_reduction(tx, self.model, reduction)
            write_regions(self.catalog, tx, self.model, _reduced(self._waiting, reduction))
        log.info("region reduction of %s learned on %d photos", self.model, len(self._waiting))
        self.reduction = reduction
        self._waiting = []


def _reduced(rows: list[Raw], reduction: RegionReduction
             ) -> list[tuple[int, NDArray[np.float32], NDArray[np.float32]]]:
    """The rows with their descriptors reduced (in one product: each has a fixed cost)."""
    if not rows:
        return []
    codes = reduction.reduce(np.stack([raw for _i, _b, raw in rows]))
    return [(i, boxes, c) for (i, boxes, _raw), c in zip(rows, codes, strict=True)]
