"""Where a label is in a photo: a head's scores for each stored region (Oquab et al.'s patch
scoring), as a heat map, a best box, or aggregated into one score per photo (the mean of the
top-k region scores, for photos with many objects).

The regions and their vectors come from :func:`core.regions.region_vectors` (boxes relative to
the upright photo, vectors in the global embedding space, so a head trained on whole photos
scores each region as it would a photo). torch is imported only when a head is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.jobs import Job, RateMeter, check_cancel
from core.labels.head_data import TOP_K, top_k_mean
from core.labels.heads import load_head
from core.labels.store import LabelError, LabelStore

if TYPE_CHECKING:  # torch: imported by the functions that score
    from core.labels.training import Head

Box = tuple[float, float, float, float]  # relative x, y, w, h on the upright photo

__all__ = ["TOP_K", "Box", "RegionScores", "aggregate_regions", "heat_grid", "label_heat",
           "predicted_boxes", "region_scores", "relative_heat", "smooth", "top_k_mean"]



@dataclass(frozen=True)
class RegionScores:
    """A head's probabilities for each region of one photo: ``probs[r, j]`` for the region
    ``boxes[r]`` and the label ``label_ids[j]``."""

    photo_id: int
    label_ids: tuple[int, ...]
    boxes: NDArray[np.float32]  # (R, 4)
    probs: NDArray[np.float32]  # (R, labels)

    def column(self, label_id: int) -> NDArray[np.float32]:
        """The scores of ``label_id`` per region (KeyError if the head has no such label)."""
        if label_id not in self.label_ids:
            raise KeyError(label_id)
        return self.probs[:, self.label_ids.index(label_id)]

    def best(self, label_id: int) -> tuple[Box, float]:
        """The region that scores highest for ``label_id``, and its score."""
        scores = self.column(label_id)
        r = int(scores.argmax())
        return tuple(float(v) for v in self.boxes[r]), float(scores[r])  # type: ignore[return-value]


def heat_grid(boxes: NDArray[np.floating], scores: NDArray[np.floating], columns: int = 64,
              aspect: float = 0.75) -> NDArray[np.float32]:
    """Region scores spread over a grid of ``columns`` × ``round(columns * aspect)`` cells
    (``aspect``: the photo's height / width): each cell is the mean score of the regions that
    cover its centre, weighted towards small regions (they say more precisely where), NaN where
    none does (the regions cover the photo's centre square). Oquab et al.'s score map, on the
    stored regions."""
    rows = max(1, round(columns * aspect))
    heat = np.zeros((rows, columns), np.float64)
    weight = np.zeros((rows, columns), np.float64)
    xs = (np.arange(columns) + 0.5) / columns
    ys = (np.arange(rows) + 0.5) / rows
    for (x, y, w, h), score in zip(np.asarray(boxes, np.float64), np.asarray(scores, np.float64),
                                   strict=True):
        inside_x = (xs >= x) & (xs <= x + w)
        inside_y = (ys >= y) & (ys <= y + h)
        if not inside_x.any() or not inside_y.any():
            continue
        cover = np.outer(inside_y, inside_x)
        k = 1.0 / np.sqrt(max(w * h, 1e-4))
        heat += cover * (k * score)
        weight += cover * k
    out = np.full_like(heat, np.nan)
    np.divide(heat, weight, out=out, where=weight > 0)
    return out.astype(np.float32)


def relative_heat(scores: NDArray[np.floating]) -> NDArray[np.float32]:
    """Region scores (probabilities) for a heat map: their log-odds stretched to 0-1 over the
    photo's regions, times the best probability. A head is often sure of several regions at
    once (probabilities all near 1 say nothing of where); log-odds still rank them, and a
    photo where no region is likely stays cold."""
    p = np.clip(np.asarray(scores, np.float64), 1e-6, 1 - 1e-6)
    logit = np.log(p) - np.log1p(-p)
    span = float(logit.max() - logit.min()) if len(logit) else 0.0
    stretched = (logit - logit.min()) / span if span > 1e-9 else np.ones_like(logit)
    return (stretched * float(p.max(initial=0.0))).astype(np.float32)


def smooth(heat: NDArray[np.floating], sigma: float = 1.5) -> NDArray[np.float32]:
    """``heat`` blurred by a Gaussian of ``sigma`` cells (its blocks become a map), NaN cells
    left out of the average and kept NaN."""
    radius = max(1, int(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    known = ~np.isnan(heat)
    values = np.where(known, heat, 0.0).astype(np.float64)
    weights = known.astype(np.float64)
    for axis in (0, 1):
        values = np.apply_along_axis(np.convolve, axis, values, kernel, mode="same")
        weights = np.apply_along_axis(np.convolve, axis, weights, kernel, mode="same")
    out = np.full(heat.shape, np.nan, np.float32)
    out[known] = (values[known] / np.maximum(weights[known], 1e-12)).astype(np.float32)
    return out


def region_scores(catalog: Catalog, set_id: int, model: str, photo_ids: Iterable[int]
                  ) -> Iterator[RegionScores]:
    """The set's head's scores for each stored region of each photo (photos without regions
    are skipped). Raises LabelError if the set has no head for ``model``."""
    from core.labels.training import probabilities  # torch: only when scoring
    from core.regions import region_vectors

    found = load_head(catalog, set_id, model)
    if found is None:
        name = LabelStore(catalog).get_set(set_id).name
        raise LabelError(f"{name!r} has no trained head for {model}: train it first.")
    info, head = found
    assert head is not None
    for photo_id in photo_ids:
        regions = region_vectors(catalog, int(photo_id), model)
        if regions is None or not len(regions[0]):
            continue
        boxes, vectors = regions
        if vectors.shape[1] != head.dim:
            raise ValueError(f"the regions of {model} have {vectors.shape[1]} values, the head "
                             f"expects {head.dim}")
        probs = probabilities(head, vectors, info.multi)
        yield RegionScores(int(photo_id), info.label_ids, np.asarray(boxes, np.float32), probs)


def label_heat(catalog: Catalog, set_id: int, model: str, photo_id: int, label_id: int,
               aspect: float, columns: int = 64) -> tuple[NDArray[np.float32], Box, float] | None:
    """The heat map of ``label_id`` over the photo (:func:`relative_heat` spread by
    :func:`heat_grid`, then smoothed), its best box and that box's score; None when the photo
    has no stored regions."""
    for scores in region_scores(catalog, set_id, model, [photo_id]):
        column = scores.column(label_id)
        box, best = scores.best(label_id)
        heat = heat_grid(scores.boxes, relative_heat(column), columns, aspect)
        return smooth(heat, columns / 40), box, best
    return None


def predicted_boxes(catalog: Catalog, set_id: int, model: str, *,
                    cancel: threading.Event | None = None
                    ) -> Job[dict[int, tuple[Box, float]]]:
    """Each predicted photo's best region for its predicted label, and that region's score
    (photos without stored regions are left out). Raises LabelError before predictions."""
    from core.labels.review import load_predictions

    predictions = load_predictions(catalog, set_id, model)
    if predictions is None:
        name = LabelStore(catalog).get_set(set_id).name
        raise LabelError(f"No predictions for {name!r} with {model} yet: train it first.")
    top, _ = predictions.top()
    label_of = {int(pid): predictions.label_ids[t]
                for pid, t in zip(predictions.photo_ids.tolist(), top.tolist(), strict=True)}
    out: dict[int, tuple[Box, float]] = {}
    total = len(label_of)
    meter = RateMeter(total)
    for n, scores in enumerate(region_scores(catalog, set_id, model, label_of), 1):
        out[scores.photo_id] = scores.best(label_of[scores.photo_id])
        if n % 16 == 0:
            check_cancel(cancel)
            yield meter.progress("boxes", n, "Finding each photo's best box")
    yield meter.progress("boxes", total, f"Found {len(out)} boxes")
    return out


def aggregate_regions(catalog: Catalog, head: Head, multi: bool, model: str,
                      photo_ids: NDArray[np.int64], probs: NDArray[np.float32], *,
                      top_k: int = TOP_K, cancel: threading.Event | None = None,
                      batch: int = 256) -> Job[NDArray[np.float32]]:
    """``probs`` (whole photos) with each photo that has regions predicted by Oquab's
    aggregation instead: per label, the mean of its ``top_k`` best region scores."""
    from core.labels.training import probabilities
    from core.regions import region_vectors

    out = probs.copy()
    meter = RateMeter(len(photo_ids))
    for start in range(0, len(photo_ids), batch):
        check_cancel(cancel)
        rows, blocks = [], []
        for row in range(start, min(start + batch, len(photo_ids))):
            found = region_vectors(catalog, int(photo_ids[row]), model)
            if found is not None and len(found[1]):
                rows.append(row)
                blocks.append(found[1])
        if blocks:
            scores = probabilities(head, np.concatenate(blocks), multi)
            ends = np.cumsum([len(b) for b in blocks])
            for row, part in zip(rows, np.split(scores, ends[:-1]), strict=True):
                out[row] = top_k_mean(part, top_k)
        yield meter.progress("predicting", min(start + batch, len(photo_ids)),
                             "Aggregating the regions' scores")
    return out
