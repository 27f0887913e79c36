"""Region descriptors from the indexing pass: each batch's feature maps pooled over the grid
(:mod:`~core.regions.grid`), reduced (:mod:`~core.regions.pca`) and stored with their boxes
(:mod:`~core.regions.store`) in the batch's own transaction.

The reduction is learned on the library: until it is, the raw descriptors of the first
:data:`LEARN_ON` photos wait in the catalog (table ``region_pending``, float16, written with
each batch's embeddings), then it is learned from them block by block and they become regions
in one transaction. A pass stopped before that loses nothing: the next one goes on counting.

As the library grows, the whitening is learned again each time it holds
:data:`RELEARN_GROWTH` times the photos it was learned on (1,024, 4,096, ...), from the
stored codes (:func:`core.regions.pca.relearn`), and every code is rewritten, in one
transaction with the new reduction: a stopped pass leaves the old ones whole and the next
learns again. The region index is rebuilt after (the regions' generation changes).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.regions.grid import crop_boxes, grid_cells, pool
from core.regions.pca import CodeMoments, Moments, RegionReduction, relearn
from core.regions.store import (
    code_blocks,
    drop_older_format,
    load_reduction,
    pending_blocks,
    pending_count,
    recode_regions,
    region_count,
    save_reduction,
    write_pending,
    write_regions,
)

log = logging.getLogger(__name__)

LEARN_ON = 256  # photos the reduction is learned on (30 regions each)
RELEARN_GROWTH = 4  # learned again (from the stored codes) each time the library is 4x larger

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
        if drop_older_format(catalog, model):
            log.info("regions of %s are of an older format: described again", model)
        self.reduction: RegionReduction | None = load_reduction(catalog, model)
        self.stored = region_count(catalog, model) if self.reduction is not None else 0

    def batch(self, ids: Sequence[int], sizes: Sequence[tuple[int, int]],
              maps: NDArray[np.float32] | None) -> Callable[[sqlite3.Connection], None] | None:
        """The writes of one batch's regions, for the batch's transaction: regions, or raw
        descriptors waiting while the reduction is still to learn (call :meth:`flush`
        after the commit)."""
        if maps is None or not len(ids):
            return None
        raw, boxes = describe(maps, sizes)
        return self.described(ids, boxes, raw)

    def described(self, ids: Sequence[int], boxes: Sequence[NDArray[np.float32]],
                  raw: Sequence[NDArray[np.floating]] | NDArray[np.floating]
                  ) -> Callable[[sqlite3.Connection], None] | None:
        """As :meth:`batch`, from region descriptors already pooled (:func:`describe`: on a
        cluster's workers, core.cluster): each photo's boxes ``(R, 4)`` and raw descriptors
        ``(R, channels)``."""
        if not len(ids):
            return None
        rows = [(int(i), np.asarray(b, np.float32), np.asarray(r, np.float32))
                for i, b, r in zip(ids, boxes, raw, strict=True)]
        reduction = self.reduction
        if reduction is None:
            return lambda tx: write_pending(tx, self.model, rows)
        self.stored += len(rows)  # at most: a photo described again is counted again
        return lambda tx: write_regions(self.catalog, tx, self.model, _reduced(rows, reduction))

    def due(self, final: bool = False) -> str | None:
        """What :meth:`flush` would do now that takes a while, in words (learning the
        reduction, or learning it again: seconds at 100k photos, with every code rewritten),
        so that a pass can say so before it starts; None when there is nothing of the kind."""
        if self.reduction is not None:
            if self.stored >= RELEARN_GROWTH * max(1, self.reduction.photos):
                return f"Learning the region whitening again on {self.stored:,} photos"
            return None
        waiting = pending_count(self.catalog, self.model)
        if waiting and (waiting >= self.learn_on or final):
            return f"Learning the region whitening on {waiting:,} photos"
        return None

    def flush(self, final: bool = False) -> None:
        """Learn the reduction once :attr:`learn_on` photos wait (or, ``final``, any), then
        turn theirs into regions, in one transaction; or learn it again once the library has
        grown :data:`RELEARN_GROWTH` times (see the module)."""
        if self.reduction is not None:
            self._grown()
            return
        waiting = pending_count(self.catalog, self.model)
        if not waiting or (waiting < self.learn_on and not final):
            return
        moments = Moments()
        for block in pending_blocks(self.catalog, self.model):
            moments.add(np.concatenate([r for _i, _b, r in block]), len(block))
        reduction = moments.fit()
        with self.catalog.transaction() as tx:
            save_reduction(tx, self.model, reduction)
            for block in pending_blocks(self.catalog, self.model, tx):
                write_regions(self.catalog, tx, self.model, _reduced(block, reduction))
            tx.execute("DELETE FROM region_pending WHERE model = ?", (self.model,))
        log.info("region reduction of %s learned on %d photos", self.model, moments.photos)
        self.reduction = reduction
        self.stored = region_count(self.catalog, self.model)

    def _grown(self) -> None:
        reduction = self.reduction
        if reduction is None or self.stored < RELEARN_GROWTH * max(1, reduction.photos):
            return
        photos = region_count(self.catalog, self.model)  # the counter may overcount
        self.stored = photos
        if photos < RELEARN_GROWTH * max(1, reduction.photos):
            return
        moments = CodeMoments(reduction)
        for _ids, _boxes, codes in code_blocks(self.catalog, self.model, reduction.dim):
            moments.add(codes)
        again = relearn(moments, photos)
        with self.catalog.transaction() as tx:
            recode_regions(self.catalog, tx, self.model, again.reduction, again.recode)
        log.info("region reduction of %s learned again on %d photos", self.model, photos)
        self.reduction = again.reduction


def _reduced(rows: list[Raw], reduction: RegionReduction
             ) -> list[tuple[int, NDArray[np.float32], NDArray[np.float32]]]:
    """The rows with their descriptors reduced (in one product: each has a fixed cost)."""
    if not rows:
        return []
    codes = reduction.reduce(np.stack([raw for _i, _b, raw in rows]))
    return [(i, boxes, c) for (i, boxes, _raw), c in zip(rows, codes, strict=True)]
