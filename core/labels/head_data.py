"""What heads train on and report, without torch: examples as arrays, validation figures.

Kept apart from :mod:`core.labels.training` (torch, seconds to import) so that the catalog's
heads can be listed and described, and the labelling panel built, before torch is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.labels.store import Examples

HEAD_KINDS = ("linear", "mlp")
TOP_K = 3  # regions averaged by Oquab's aggregation (the few best patches)


@dataclass(frozen=True)
class TrainingData:
    """Examples as arrays: ``targets[i, j]`` 1 (has label j) or 0; ``known`` masks the rest."""

    vectors: NDArray[np.float32]
    targets: NDArray[np.float32]
    known: NDArray[np.bool_]
    multi: bool
    photo_ids: tuple[int, ...] = ()  # the photo of each row, when known

    @classmethod
    def from_examples(cls, examples: Examples, label_ids: list[int], ids: NDArray[np.int64],
                      vectors: NDArray[np.float32], multi: bool) -> TrainingData:
        """Rows for the examples that have an embedding (``ids``, ``vectors``).

        Single-choice: a positive label makes every other label a known 0. Multi-label: a
        photo with any positive counts as fully labelled (missing labels are 0s).
        """
        column = {label: j for j, label in enumerate(label_ids)}
        row_of = {int(i): n for n, i in enumerate(ids)}
        keep, targets, known = [], [], []
        for pid, pos, neg in zip(examples.photo_ids, examples.positives, examples.negatives,
                                 strict=True):
            if pid not in row_of:
                continue
            t = np.zeros(len(label_ids), np.float32)
            k = np.zeros(len(label_ids), bool)
            for label in pos:
                t[column[label]] = 1
            if pos:
                k[:] = True
            for label in neg:
                k[column[label]] = True
            if k.any():
                keep.append(row_of[pid])
                targets.append(t)
                known.append(k)
        n, n_labels = len(keep), len(label_ids)
        return cls(vectors[keep] if n else np.zeros((0, vectors.shape[1] if vectors.size else 0),
                                                    np.float32),
                   np.array(targets, np.float32).reshape(n, n_labels),
                   np.array(known, bool).reshape(n, n_labels), multi,
                   tuple(int(ids[row]) for row in keep))

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: NDArray[np.intp]) -> TrainingData:
        photo_ids = tuple(self.photo_ids[r] for r in rows) if self.photo_ids else ()
        return TrainingData(self.vectors[rows], self.targets[rows], self.known[rows], self.multi,
                            photo_ids)

    def strata(self) -> NDArray[np.int64]:
        """One class per row for stratified splits: its first positive label, or "none"."""
        has = self.targets.sum(1) > 0
        return np.where(has, self.targets.argmax(1), self.targets.shape[1]).astype(np.int64)


@dataclass(frozen=True)
class LabelMetrics:
    """Validation figures of one label (one-vs-rest decisions)."""

    label: str
    examples: int  # photos with the label among the training examples
    validated: int  # of which were in validation folds
    precision: float
    recall: float
    accuracy: float


@dataclass(frozen=True)
class Validation:
    """How the head did on photos it was not trained on."""

    method: str  # "hold-out 20%" or "5-fold cross-validation"
    validated: int
    accuracy: float  # single-choice: top-1; multi-label: of all label decisions
    per_label: tuple[LabelMetrics, ...]


@dataclass(frozen=True)
class Aggregation:
    """Oquab et al.'s aggregation (each label's score: the mean of its ``top_k`` best region
    scores) against the whole photo's score, on the same validation photos (those with
    regions); ``used``: predictions aggregate regions (it was more accurate)."""

    top_k: int
    validated: int
    photo_accuracy: float
    regions_accuracy: float
    used: bool

    def describe(self) -> str:
        verdict = ("used for predictions" if self.used else
                   "not used: the whole photo does as well")
        return (f"regions (mean of the top {self.top_k}): accuracy {self.regions_accuracy:.1%}"
                f" vs {self.photo_accuracy:.1%} for the whole photo on {self.validated} "
                f"validation photos; {verdict}")


def top_k_mean(scores: NDArray[np.floating], k: int = TOP_K) -> NDArray[np.float32]:
    """Oquab's aggregation: the mean of the ``k`` best region scores, along the first axis
    (``scores`` (R,) or (R, labels); fewer than ``k`` regions: all of them)."""
    scores = np.asarray(scores, np.float32)
    k = max(1, min(k, len(scores)))
    return np.sort(scores, axis=0)[-k:].mean(axis=0).astype(np.float32)


def validation_figures(data: TrainingData, probs: NDArray[np.float32], names: list[str],
                       method: str, examples: NDArray[np.float32]) -> Validation:
    """The figures of ``probs`` (predicted for the validated ``data``) against its targets.

    ``examples``: the number of training photos per label (all folds), for the report.
    """
    if data.multi:
        decided = probs >= 0.5
        truth = data.targets > 0.5
        mask = data.known
    else:
        rows = data.targets.sum(1) > 0  # photos with a label; negatives-only rows are skipped
        decided = np.eye(probs.shape[1], dtype=bool)[probs[rows].argmax(1)]
        truth = data.targets[rows] > 0.5
        mask = np.ones_like(truth)
    per_label = []
    for j, name in enumerate(names):
        m = mask[:, j]
        d, t = decided[m, j], truth[m, j]
        tp, fp, fn = int((d & t).sum()), int((d & ~t).sum()), int((~d & t).sum())
        per_label.append(LabelMetrics(
            name, int(examples[j]), int(t.sum()),
            tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0,
            float((d == t).mean()) if len(t) else 0.0))
    if data.multi:
        accuracy = float((decided == truth)[mask].mean()) if mask.any() else 0.0
        validated = len(data)
    else:
        validated = int(rows.sum())
        accuracy = float((decided & truth).any(1).mean()) if validated else 0.0
    return Validation(method, validated, accuracy, tuple(per_label))


def compare_aggregation(data: TrainingData, probs: NDArray[np.float32],
                        aggregated: NDArray[np.float32], label_names: list[str], method: str,
                        top_k: int) -> Aggregation | None:
    """Whole photo (``probs``) vs aggregated regions (``aggregated``), on the validation rows
    that have both (NaN rows: not validated, or no regions); None if there are none."""
    rows = np.flatnonzero(~np.isnan(probs[:, 0]) & ~np.isnan(aggregated[:, 0]))
    if not len(rows):
        return None
    subset, examples = data.subset(rows), data.targets.sum(0)
    photo = validation_figures(subset, probs[rows], label_names, method, examples)
    regions = validation_figures(subset, aggregated[rows], label_names, method, examples)
    return Aggregation(top_k, photo.validated, photo.accuracy, regions.accuracy,
                       regions.accuracy > photo.accuracy)
