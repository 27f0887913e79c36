"""Training heads: small classifiers on frozen embeddings (no catalog here, see core.heads).

Transfer learning as in Oquab et al. 2014: the CNN stays frozen; only new layers on top of
its embedding learn the user's concept. Two heads: ``linear`` (logistic regression) and
``mlp`` (an adaptation layer FCa — 256 units, ReLU, dropout — then the output layer FCb).
Inputs are standardised with the training set's statistics (stored in the head and folded
into the first layer for prediction). A single-choice set trains a softmax, a multi-label
set one sigmoid per label; both re-weight classes against imbalance and learn from
negatives ("not this label"). The linear head is fitted by full-batch L-BFGS with an L2
penalty, the MLP by AdamW on mini-batches. Both stop early on a validation split: a
stratified 20 % hold-out, or k-fold cross-validation below :data:`FEW_EXAMPLES` examples
(then a final head is fitted on all of them for the median best number of epochs).
"""

from __future__ import annotations

import copy
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn

from core.head_data import HEAD_KINDS, LabelMetrics, TrainingData, Validation
from core.jobs import Job, Progress, check_cancel

__all__ = ["HEAD_KINDS", "Fitted", "Head", "LabelMetrics", "TrainingData", "Validation", "fit",
           "probabilities"]

HIDDEN_UNITS = 256  # FCa; 512+ gain nothing on few examples and cost 2x time
DROPOUT = 0.5
FEW_EXAMPLES = 50  # below this many examples: k-fold cross-validation instead of a hold-out
HOLDOUT = 0.2
MAX_FOLDS = 5
BATCH_SIZE = 256
LEARNING_RATE = 3e-3  # AdamW, MLP
LBFGS_ITERATIONS = 10  # per epoch, linear
WEIGHT_DECAY = 1e-2
MIN_STEPS = 200
MIN_IMPROVEMENT = 1e-4  # validation loss drop (or 1 % of it) that resets the patience


class Head(nn.Module):
    """Standardise the embedding, then a linear layer or FCa (ReLU, dropout) + FCb."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, dim: int, n_labels: int, kind: str = "linear",
                 hidden: int = HIDDEN_UNITS, dropout: float = DROPOUT) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head {kind!r}: choose one of {', '.join(HEAD_KINDS)}")
        self.kind, self.dim, self.n_labels, self.hidden = kind, dim, n_labels, hidden
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.first = nn.Linear(dim, n_labels if kind == "linear" else hidden)  # (FCa)
        self.dropout = _Dropout(dropout)
        self.last = nn.Linear(hidden, n_labels) if kind == "mlp" else None  # FCb

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The output for already standardised embeddings ``z`` (training)."""
        h = self.first(z)
        return h if self.last is None else self.last(self.dropout(torch.relu(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.logits((x - self.mean) * self.scale)
        # Fold the standardisation into the first layer: one matmul over raw vectors.
        weight = self.first.weight * self.scale
        h = F.linear(x, weight, self.first.bias - weight @ self.mean)
        return h if self.last is None else self.last(torch.relu(h))

    def architecture(self) -> dict[str, object]:
        return {"kind": self.kind, "dim": self.dim, "labels": self.n_labels,
                "hidden": self.hidden, "dropout": DROPOUT}


class _Dropout(nn.Module):
    """Dropout drawing from its own generator, so training is repeatable."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep / (1 - self.p)


@dataclass(frozen=True)
class Fitted:
    """The outcome of :func:`fit`."""

    head: Head
    epochs: int
    validation: Validation
    seconds: float


def fit(data: TrainingData, label_names: list[str], kind: str = "linear", *,
        cancel: threading.Event | None = None, seed: int = 0,
        hidden: int = HIDDEN_UNITS) -> Job[Fitted]:
    """Train a head on ``data`` with validation and early stopping (a job: one Progress/epoch).

    Raises ValueError if there are too few examples to validate anything.
    """
    start = time.perf_counter()
    n = len(data)
    if n < 4:
        raise ValueError("at least 4 labelled photos are needed")
    splits, method = _splits(data.strata(), seed)
    probs = np.full(data.targets.shape, np.nan, np.float32)
    best_epochs, done = [], 0
    total = (sum(_max_epochs(len(rows), kind) for rows, _ in splits)
             + _max_epochs(n, kind) * (len(splits) > 1))
    for fold, (train_rows, val_rows) in enumerate(splits):
        head, epochs, val_probs = yield from _train(
            data.subset(train_rows), data.subset(val_rows), kind, seed + fold, cancel,
            f"fold {fold + 1}/{len(splits)}" if len(splits) > 1 else "", done, total,
            hidden=hidden)
        done += _max_epochs(len(train_rows), kind)
        probs[val_rows] = val_probs
        best_epochs.append(epochs)
    validated = np.flatnonzero(~np.isnan(probs[:, 0]))
    validation = _validation(data.subset(validated), probs[validated], label_names, method,
                             data.targets.sum(0))
    if len(splits) > 1:  # cross-validation: the final head learns from every example
        epochs = max(1, round(float(np.median(best_epochs))))
        head, _, _ = yield from _train(data, None, kind, seed, cancel, "final", done, total,
                                       fixed_epochs=epochs, hidden=hidden)
    yield Progress("training", total, total, "trained")
    return Fitted(head, best_epochs[0] if len(splits) == 1 else epochs, validation,
                  time.perf_counter() - start)


def probabilities(head: Head, vectors: NDArray[np.float32], multi: bool,
                  batch: int = 16384) -> NDArray[np.float32]:
    """Per-label probabilities (softmax or sigmoid) of ``head`` for each vector."""
    head.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(vectors), batch):
            logits = head(torch.from_numpy(np.ascontiguousarray(vectors[start:start + batch])))
            out.append((torch.sigmoid(logits) if multi else torch.softmax(logits, 1)).numpy())
    return np.concatenate(out) if out else np.zeros((0, head.n_labels), np.float32)


# -- training ------------------------------------------------------------------------------

def _max_epochs(n: int, kind: str = "mlp") -> int:
    """MLP: at least :data:`MIN_STEPS` Adam steps in 15-100 epochs; linear: 30 L-BFGS rounds."""
    if kind == "linear":
        return 30
    return int(np.clip(math.ceil(MIN_STEPS / math.ceil(max(1, n) / BATCH_SIZE)), 15, 100))


def _patience(max_epochs: int, kind: str = "mlp") -> int:
    return 2 if kind == "linear" else int(np.clip(max_epochs // 10, 3, 10))


def _splits(strata: NDArray[np.int64], seed: int
            ) -> tuple[list[tuple[NDArray[np.intp], NDArray[np.intp]]], str]:
    n = len(strata)
    rows = np.arange(n)
    counts = np.bincount(strata)
    smallest = int(counts[counts > 0].min())
    if n >= FEW_EXAMPLES:
        stratify = strata if smallest >= 2 else None
        train_rows, val_rows = train_test_split(rows, test_size=HOLDOUT, random_state=seed,
                                                stratify=stratify)
        return [(np.sort(train_rows), np.sort(val_rows))], f"hold-out {HOLDOUT:.0%}"
    k = int(min(MAX_FOLDS, max(2, smallest), n // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # classes smaller than k are fine here
        folds = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(rows, strata))
    return folds, f"{k}-fold cross-validation"


def _train(train: TrainingData, val: TrainingData | None, kind: str, seed: int,
           cancel: threading.Event | None, text: str, done: int, total: int,
           fixed_epochs: int | None = None, hidden: int = HIDDEN_UNITS
           ) -> Job[tuple[Head, int, NDArray[np.float32]]]:
    generator = torch.Generator().manual_seed(seed)
    raw = torch.from_numpy(train.vectors)
    t, known = torch.from_numpy(train.targets), torch.from_numpy(train.known)
    head = Head(raw.shape[1], t.shape[1], kind, hidden)
    _init(head, generator)
    head.mean.copy_(raw.mean(0))
    head.scale.copy_(_scale(raw))
    x = (raw - head.mean) * head.scale  # standardised once, for head.logits
    if kind == "mlp":
        head.dropout.generator = generator
    weights = _class_weights(train)
    step = _optimiser(head, x, t, known, train.multi, weights, generator)
    max_epochs = fixed_epochs or _max_epochs(len(train), kind)
    patience = _patience(max_epochs, kind)
    best = (math.inf, 0, copy.deepcopy(head.state_dict()))
    if val is not None:
        xv = (torch.from_numpy(val.vectors) - head.mean) * head.scale
        tv, kv = torch.from_numpy(val.targets), torch.from_numpy(val.known)
    for epoch in range(1, max_epochs + 1):
        check_cancel(cancel)
        head.train()
        step()
        if val is None:
            best = (0.0, epoch, head.state_dict())
            yield Progress("training", done + epoch, total, f"{text} epoch {epoch}".strip())
            continue
        head.eval()
        with torch.no_grad():
            val_loss = float(_loss(head.logits(xv), tv, kv, val.multi, weights))
        if val_loss < best[0] - max(MIN_IMPROVEMENT, 0.01 * best[0] if best[1] else 0.0):
            best = (val_loss, epoch, copy.deepcopy(head.state_dict()))
        yield Progress("training", done + epoch, total,
                       f"{text} epoch {epoch}: validation loss {val_loss:.3f}".strip())
        if epoch - best[1] >= patience:
            break
    head.load_state_dict(best[2])
    head.eval()
    val_probs = (probabilities(head, val.vectors, val.multi) if val is not None
                 else np.zeros((0, t.shape[1]), np.float32))
    return head, max(1, best[1]), val_probs


def _optimiser(head: Head, x: torch.Tensor, t: torch.Tensor, known: torch.Tensor, multi: bool,
               weights: torch.Tensor, generator: torch.Generator) -> Callable[[], None]:
    """A function that trains ``head`` for one epoch on standardised ``x``.

    Linear: full-batch L-BFGS on the L2-penalised loss (scikit-learn's C=1), a few
    iterations per epoch; Adam treats each weight alike and fits the noise of few examples.
    MLP: AdamW over shuffled mini-batches, dropout between the layers.
    """
    if head.kind == "linear":
        first = head.first
        lbfgs = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=LBFGS_ITERATIONS,
                                  history_size=10, line_search_fn="strong_wolfe")
        l2 = 1 / (2 * len(x))

        def closure() -> torch.Tensor:
            lbfgs.zero_grad()
            loss = _loss(head.logits(x), t, known, multi, weights) + l2 * first.weight.pow(2).sum()
            loss.backward()
            return loss

        return lambda: lbfgs.step(closure) and None
    adam = torch.optim.AdamW(head.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def epoch() -> None:
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH_SIZE):
            rows = order[start:start + BATCH_SIZE]
            loss = _loss(head.logits(x[rows]), t[rows], known[rows], multi, weights)
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()

    return epoch


def _scale(raw: torch.Tensor) -> torch.Tensor:
    if len(raw) < 2:
        return torch.ones(raw.shape[1])
    return 1 / (raw.std(0) + 1e-6)


def _init(head: Head, generator: torch.Generator) -> None:
    """Logistic regression starts at zero (a convex problem); the MLP from a seeded uniform."""
    for module in head.modules():
        if isinstance(module, nn.Linear):
            bound = 0.0 if head.kind == "linear" else 1 / math.sqrt(module.in_features)
            nn.init.uniform_(module.weight, -bound, bound, generator=generator)
            nn.init.zeros_(module.bias)


def _class_weights(data: TrainingData) -> torch.Tensor:
    """Single-choice: balanced class weights; multi-label: positive weights (neg / pos)."""
    pos = (data.targets * data.known).sum(0)
    if data.multi:
        neg = ((1 - data.targets) * data.known).sum(0)
        return torch.from_numpy(np.clip(neg / np.maximum(pos, 1), 0.1, 100).astype(np.float32))
    present = pos > 0
    weights = np.zeros_like(pos)
    weights[present] = pos.sum() / (present.sum() * pos[present])
    return torch.from_numpy(weights.astype(np.float32))


def _loss(logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor, multi: bool,
          weights: torch.Tensor) -> torch.Tensor:
    if multi:
        losses = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weights,
                                                    reduction="none")
        return (losses * known).sum() / known.sum().clamp(min=1)
    log_p = torch.log_softmax(logits, 1)
    has = targets.sum(1) > 0
    total = -(log_p[has] * targets[has] * weights).sum()
    # "not this label" only: push its probability down, -log(1 - p).
    neg = known[~has]
    if neg.any():
        log_not = torch.log1p(-log_p[~has].exp().clamp(max=1 - 1e-6))
        total = total - (log_not * neg).sum()
    return total / max(1, len(targets))


# -- validation figures --------------------------------------------------------------------

def _validation(data: TrainingData, probs: NDArray[np.float32], names: list[str], method: str,
                examples: NDArray[np.float32]) -> Validation:
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
