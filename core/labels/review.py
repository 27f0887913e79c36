"""Predictions for the whole library, and the active-learning review queues over them.

:func:`predict_library` runs a set's stored head over every embedded photo and stores a
confidence per label per photo in the catalog, with the head's version, so that the grid
can sort and filter by them. :func:`review_queue` orders the photos nobody labelled yet for
review: least sure first (uncertainty sampling: smallest margin between the two best labels,
or highest entropy) or most confident first; a photo's rejected labels ("not this label")
are never suggested again.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.embed import torch_loader
from core.jobs import Job, RateMeter, check_cancel
from core.labels.heads import HeadInfo, load_head, train
from core.labels.store import LabelError, LabelStore, drop_predictions

ORDERS = ("uncertain", "confident")
UNCERTAINTY = ("margin", "entropy")


@dataclass(frozen=True)
class Predictions:
    """Probabilities of a set's labels (``label_ids`` order) for ``photo_ids``."""

    set_id: int
    model: str
    version: int  # of the head that made them
    label_ids: tuple[int, ...]
    multi: bool
    photo_ids: NDArray[np.int64]
    probs: NDArray[np.float32]

    def top(self) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """Index (into ``label_ids``) and probability of each photo's most likely label."""
        index = self.probs.argmax(1) if len(self.probs) else np.zeros(0, np.intp)
        return index, self.probs[np.arange(len(index)), index]

    def certainty(self, method: str = "margin") -> NDArray[np.float32]:
        return certainty(self.probs, self.multi, method)


@dataclass(frozen=True)
class Suggestion:
    """A photo to review: the label the head suggests, its probability and certainty (0-1)."""

    photo_id: int
    label_id: int
    confidence: float
    certainty: float


def certainty(probs: NDArray[np.float32], multi: bool,
              method: str = "margin") -> NDArray[np.float32]:
    """How sure the head is for each photo: 0 unsure, 1 sure.

    ``margin``: single-choice, best minus second best probability; multi-label, the
    distance to 0.5 of the closest label decision (scaled to 0-1). ``entropy``: one minus
    the normalised entropy of the distribution (per label and averaged when multi-label).
    """
    if method not in UNCERTAINTY:
        raise ValueError(f"unknown uncertainty {method!r}: {', '.join(UNCERTAINTY)}")
    if not len(probs):
        return np.zeros(0, np.float32)
    p = np.clip(probs.astype(np.float64), 1e-12, 1 - 1e-12)
    if multi:
        if method == "margin":
            return np.abs(2 * p - 1).min(1).astype(np.float32)
        bits = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
        return (1 - bits.mean(1)).astype(np.float32)
    if method == "margin":
        if p.shape[1] < 2:
            return np.ones(len(p), np.float32)
        best2 = np.sort(p, 1)[:, -2:]
        return (best2[:, 1] - best2[:, 0]).astype(np.float32)
    entropy = -(p * np.log(p)).sum(1) / np.log(max(2, p.shape[1]))
    return (1 - entropy).astype(np.float32)


def predict_library(catalog: Catalog, set_id: int, model: str, *,
                    cancel: threading.Event | None = None, chunk: int = 4096
                    ) -> Job[Predictions]:
    """Predict every embedded photo with the set's head for ``model``; store the result.

    Raises LabelError if the set has no head for this model yet (train it first).
    """
    torch_loader.ensure_torch()
    from core.labels import training  # torch: only when predicting

    found = load_head(catalog, set_id, model)
    if found is None:
        name = LabelStore(catalog).get_set(set_id).name
        raise LabelError(f"{name!r} has no trained head for {model}: train it first.")
    info, head = found
    assert head is not None
    meter = RateMeter(catalog.embedded_count(model))
    ids_out, probs_out = [], []
    # The next chunk is read from SQLite while this one is predicted (both release the GIL).
    with ThreadPoolExecutor(1, thread_name_prefix="predict-library") as pool:
        pending = None
        for ids, vectors in catalog.embedding_blocks(model, chunk):
            if vectors.shape[1] != head.dim:
                raise ValueError(f"an embedding of {model} has {vectors.shape[1]} values, "
                                 f"the head expects {head.dim}")
            if pending is not None:
                probs_out.append(pending.result())
                yield meter.progress("predicting", sum(map(len, probs_out)),
                                     f"Predicting {info.kind} head")
            check_cancel(cancel)
            ids_out.append(ids)
            pending = pool.submit(training.probabilities, head, vectors, info.multi)
        if pending is not None:
            probs_out.append(pending.result())
    check_cancel(cancel)
    n_labels = len(info.label_ids)
    ids = np.concatenate(ids_out) if ids_out else np.zeros(0, np.int64)
    probs = np.concatenate(probs_out) if probs_out else np.zeros((0, n_labels), np.float32)
    if info.aggregation is not None and info.aggregation.used:  # it validated better
        from core.labels.localise import aggregate_regions

        probs = yield from aggregate_regions(catalog, head, info.multi, model, ids, probs,
                                             top_k=info.aggregation.top_k, cancel=cancel)
    predictions = Predictions(set_id, model, info.version, info.label_ids, info.multi, ids,
                              probs)
    _store(catalog, predictions)
    yield meter.progress("predicting", len(ids), f"Predicted {len(ids)} photos")
    return predictions


STORE_BLOCK = 65_536  # photos a stored block of predictions holds


def _store(catalog: Catalog, predictions: Predictions) -> None:
    """Replace the set's stored predictions for the model with ``predictions``, in blocks of
    :data:`STORE_BLOCK` photos (one transaction: a killed run leaves the previous ones)."""
    p = predictions
    order = np.argsort(p.photo_ids, kind="stable")
    ids = np.ascontiguousarray(p.photo_ids[order], np.int64)
    probs = np.ascontiguousarray(p.probs[order], np.float32)
    with catalog.transaction() as tx:
        drop_predictions(tx, p.set_id, p.model)
        tx.executemany(
            "INSERT INTO prediction_blocks (set_id, model, block, head_version, photo_ids, "
            "probs) VALUES (?, ?, ?, ?, ?, ?)",
            ((p.set_id, p.model, n, p.version, ids[start:start + STORE_BLOCK].tobytes(),
              probs[start:start + STORE_BLOCK].tobytes())
             for n, start in enumerate(range(0, len(ids), STORE_BLOCK))),
        )
    catalog.changed.emit("predictions")


def load_predictions(catalog: Catalog, set_id: int, model: str) -> Predictions | None:
    """The stored predictions of the set for ``model`` (None if never predicted), in photo
    id order; photos removed from the library since are left out."""
    found = load_head(catalog, set_id, model, with_state=False)
    if found is None:
        return None
    info = found[0]
    n_labels = len(info.label_ids)
    conn = catalog.conn
    with catalog.read_snapshot():
        blocks = conn.execute(
            "SELECT head_version, photo_ids, probs FROM prediction_blocks "
            "WHERE set_id = ? AND model = ? ORDER BY block", (set_id, model)).fetchall()
        if blocks:
            version = blocks[0][0]
            ids = np.frombuffer(b"".join(b[1] for b in blocks), np.int64)
            flat = np.frombuffer(b"".join(b[2] for b in blocks), np.float32)
            if len(flat) != len(ids) * n_labels:  # labels changed since: retrain to refresh
                return None
            probs = flat.reshape(len(ids), n_labels)
            present = np.fromiter((r[0] for r in conn.execute("SELECT id FROM photos")),
                                  np.int64)
            keep = np.isin(ids, present, assume_unique=True)
            if not keep.all():
                ids, probs = ids[keep], probs[keep]
        else:  # a catalog that predicted before migration 20: one row per photo
            rows = conn.execute(
                "SELECT photo_id, head_version, probs FROM predictions "
                "WHERE set_id = ? AND model = ? ORDER BY photo_id", (set_id, model)).fetchall()
            if not rows:
                return None
            version = rows[0][1]
            ids = np.array([r[0] for r in rows], np.int64)
            probs = np.frombuffer(b"".join(r[2] for r in rows), np.float32
                                  ).reshape(len(rows), -1)
            if probs.shape[1] != n_labels:  # labels changed since: retrain to refresh
                return None
    return Predictions(set_id, model, version, info.label_ids, info.multi, ids, probs)


def review_queue(catalog: Catalog, set_id: int, model: str, *, order: str = "uncertain",
                 label_id: int | None = None, method: str = "margin",
                 limit: int | None = None) -> list[Suggestion]:
    """Unlabelled photos to review, in ``order`` ("uncertain": least sure first).

    Photos with a label of the set are left out, and a photo's rejected labels are never
    suggested. With ``label_id``, only that label is suggested: by its probability
    ("confident") or by the closeness of its probability to 0.5 ("uncertain").
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}: {', '.join(ORDERS)}")
    predictions = load_predictions(catalog, set_id, model)
    if predictions is None or not len(predictions.photo_ids):
        return []
    store = LabelStore(catalog)
    labelled = set(store.photo_labels(set_id))
    rejected = store.photo_labels(set_id, positive=False)
    column = {label: j for j, label in enumerate(predictions.label_ids)}
    keep = np.array([pid not in labelled for pid in predictions.photo_ids.tolist()], bool)
    probs = predictions.probs.copy()
    allowed = np.ones(probs.shape, bool)
    for row, pid in enumerate(predictions.photo_ids.tolist()):
        for label in rejected.get(pid, ()):
            if label in column:
                allowed[row, column[label]] = False
    if label_id is not None:
        if label_id not in column:
            return []
        j = column[label_id]
        keep &= allowed[:, j]
        chosen = np.full(len(probs), j)
        confidence = probs[:, j]
        sure = np.abs(2 * confidence - 1)
    else:
        keep &= allowed.any(1)
        masked = np.where(allowed, probs, -1.0)
        chosen = masked.argmax(1)
        confidence = probs[np.arange(len(probs)), chosen]
        sure = certainty(probs, predictions.multi, method)
    rows = np.flatnonzero(keep)
    key = sure[rows] if order == "uncertain" else -confidence[rows]
    rows = rows[np.argsort(key, kind="stable")][:limit]
    return [Suggestion(int(predictions.photo_ids[r]), int(predictions.label_ids[chosen[r]]),
                       float(confidence[r]), float(sure[r])) for r in rows]


def train_and_predict(catalog: Catalog, set_id: int, model: str, kind: str = "linear", *,
                      cancel: threading.Event | None = None) -> Job[HeadInfo]:
    """Train the set's head (see :func:`core.labels.heads.train`), then predict the library."""
    info = yield from train(catalog, set_id, model, kind, cancel=cancel)
    yield from predict_library(catalog, set_id, model, cancel=cancel)
    return info
