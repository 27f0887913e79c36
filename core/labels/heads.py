"""Heads in the catalog: train one for a label set, store it, reload it, describe it.

Heads are stored per label set *and* model key (state_dict bytes, architecture, label ids,
version number, validation figures). Re-embedding the library with another backbone keeps
the labels (they are keyed by content hash) but needs a new head: :func:`head_info` returns
None for the new model key and :func:`trained_models` says which keys have one. The model
and its training are in :mod:`core.labels.training`; predicting the library in
:mod:`core.labels.review`.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.embed import torch_loader
from core.jobs import Job
from core.labels.head_data import HEAD_KINDS, Aggregation, LabelMetrics, TrainingData, Validation
from core.labels.store import Label, LabelError, LabelSet, LabelStore

if TYPE_CHECKING:  # torch: imported by the functions that train or load a head
    from core.labels.training import Head

__all__ = ["HEAD_KINDS", "Aggregation", "HeadInfo", "LabelMetrics", "TrainingData", "Validation",
           "describe", "head_info", "load_head", "train", "trained_models"]


# -- heads in the catalog ------------------------------------------------------------------

@dataclass(frozen=True)
class HeadInfo:
    """A head stored in the catalog: what it was trained on and how it validated."""

    set_id: int
    model: str
    version: int
    kind: str
    label_ids: tuple[int, ...]
    multi: bool
    revision: int  # the label set's revision it was trained on (older: labels changed since)
    trained_at: float
    examples: int
    epochs: int
    seconds: float
    validation: Validation
    aggregation: Aggregation | None = None  # regions vs whole photo (None: no regions)


def train(catalog: Catalog, set_id: int, model: str, kind: str = "linear", *,
          cancel: threading.Event | None = None, seed: int = 0) -> Job[HeadInfo]:
    """Train a head for the label set on the embeddings of ``model`` and store it.

    Raises LabelError (a message for the user) when there are too few labelled photos.
    """
    torch_loader.ensure_torch()
    import torch

    from core.labels.training import fit

    store = LabelStore(catalog)
    label_set = store.get_set(set_id)
    labels = store.labels(set_id)
    examples = store.examples(set_id)
    ids, vectors = catalog.embeddings(model, examples.photo_ids)
    label_ids = [label.id for label in labels]
    data = TrainingData.from_examples(examples, label_ids, ids, vectors, label_set.multi)
    _check_enough(data, labels, label_set, len(examples.photo_ids), model)
    fitted = yield from fit(data, [label.name for label in labels], kind, cancel=cancel,
                            seed=seed, regions=_regions(catalog, data.photo_ids, model))
    buffer = io.BytesIO()
    torch.save(fitted.head.state_dict(), buffer)
    architecture = {**fitted.head.architecture(), "label_ids": label_ids,
                    "multi": label_set.multi}
    now = time.time()
    with catalog.transaction() as tx:
        version = tx.execute("SELECT coalesce(max(version), 0) + 1 FROM heads WHERE set_id = ?",
                             (set_id,)).fetchone()[0]
        tx.execute(
            "INSERT OR REPLACE INTO heads (set_id, model, version, architecture, state, metrics,"
            " revision, trained_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (set_id, model, version, json.dumps(architecture), buffer.getvalue(),
             json.dumps({"validation": asdict(fitted.validation), "examples": len(data),
                         "epochs": fitted.epochs, "seconds": fitted.seconds,
                         "aggregation": fitted.aggregation and asdict(fitted.aggregation)}),
             label_set.revision, now),
        )
    catalog.changed.emit("predictions")
    return HeadInfo(set_id, model, version, kind, tuple(label_ids), label_set.multi,
                    label_set.revision, now, len(data), fitted.epochs, fitted.seconds,
                    fitted.validation, fitted.aggregation)


def _regions(catalog: Catalog, photo_ids: tuple[int, ...], model: str
             ) -> list[NDArray[np.float32] | None] | None:
    """Each training photo's region vectors (None where it has none; None for all: no
    regions stored for ``model``)."""
    from core.regions import region_vectors

    found = [region_vectors(catalog, pid, model) for pid in photo_ids]
    if all(f is None for f in found):
        return None
    return [f[1] if f is not None else None for f in found]


def head_info(catalog: Catalog, set_id: int, model: str) -> HeadInfo | None:
    """The stored head of the set for ``model``, if one was trained."""
    found = load_head(catalog, set_id, model, with_state=False)
    return found[0] if found else None


def load_head(catalog: Catalog, set_id: int, model: str, *, with_state: bool = True
              ) -> tuple[HeadInfo, Head | None] | None:
    """The stored head of the set for ``model`` and its module (None if never trained)."""
    row = catalog.conn.execute(
        f"SELECT version, architecture, metrics, revision, trained_at"
        f"{', state' if with_state else ''} FROM heads WHERE set_id = ? AND model = ?",
        (set_id, model),
    ).fetchone()
    if row is None:
        return None
    arch, metrics = json.loads(row[1]), json.loads(row[2])
    v = metrics["validation"]
    validation = Validation(v["method"], v["validated"], v["accuracy"],
                            tuple(LabelMetrics(**m) for m in v["per_label"]))
    aggregation = metrics.get("aggregation")  # absent before region aggregation existed
    info = HeadInfo(set_id, model, row[0], arch["kind"], tuple(arch["label_ids"]),
                    arch["multi"], row[3], row[4], metrics["examples"], metrics["epochs"],
                    metrics["seconds"], validation,
                    Aggregation(**aggregation) if aggregation else None)
    if not with_state:
        return info, None
    torch_loader.ensure_torch()
    import torch

    from core.labels.training import Head

    head = Head(arch["dim"], arch["labels"], arch["kind"], arch["hidden"], arch["dropout"])
    head.load_state_dict(torch.load(io.BytesIO(row[5]), weights_only=True))
    head.eval()
    return info, head


def trained_models(catalog: Catalog, set_id: int) -> list[str]:
    """The model keys the set has a head for."""
    rows = catalog.conn.execute("SELECT model FROM heads WHERE set_id = ? ORDER BY trained_at",
                                (set_id,))
    return [r[0] for r in rows]


def describe(info: HeadInfo, names: dict[int, str] | None = None) -> list[str]:
    """The validation figures as lines of text, for the CLI and the panel."""
    v = info.validation
    lines = [
        f"{info.kind} head v{info.version} on {info.examples} photos in {info.seconds:.1f} s "
        f"({info.epochs} epochs); {v.method} on {v.validated}: accuracy {v.accuracy:.1%}",
        f"{'label':<20} {'photos':>6} {'precision':>9} {'recall':>7} {'accuracy':>8}",
    ]
    for m in v.per_label:
        lines.append(f"{m.label[:20]:<20} {m.examples:>6} {m.precision:>9.1%} "
                     f"{m.recall:>7.1%} {m.accuracy:>8.1%}")
    if info.aggregation is not None:
        lines.append(f"Photos with many objects: {info.aggregation.describe()}")
    return lines


def _check_enough(data: TrainingData, labels: list[Label], label_set: LabelSet,
                  n_examples: int, model: str) -> None:
    if n_examples and not len(data):
        raise LabelError(f"The labelled photos of {label_set.name!r} have no embeddings for "
                         f"{model} yet: index the library first.")
    positives = (data.targets * data.known).sum(0)
    negatives = ((1 - data.targets) * data.known).sum(0)
    counts = ", ".join(f"{label.name} {int(p)}" for label, p in zip(labels, positives,
                                                                      strict=True)) or "none"
    if label_set.multi:
        ready = bool(((positives >= 2) & (negatives >= 2)).any())
        need = "at least 2 photos with a label and 2 without it"
    else:
        ready = int((positives >= 2).sum()) >= 2
        need = "at least 2 photos for each of 2 labels"
    if not ready or len(data) < 4:
        raise LabelError(f"Too few labelled photos to train {label_set.name!r}: label {need} "
                         f"(now: {counts}).")
