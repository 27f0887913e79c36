"""Training heads: small classifiers on frozen embeddings (no catalog here, see core.labels.heads).

Transfer learning as in Oquab et al. 2014: the CNN stays frozen; only new layers on top of
its embedding learn the user's concept. Two heads: ``linear`` (logistic regression) and
``mlp`` (an adaptation layer FCa — 256 units, ReLU, dropout — then the output layer FCb).
Inputs are standardised with the training set's statistics (stored in the head and folded
into the first layer for prediction). A single-choice set trains a softmax, a multi-label
set one sigmoid per label; both re-weight classes against imbalance and learn from
negatives ("not this label"). The linear head is fitted by full-batch L-BFGS with an L2
penalty, the MLP by AdamW on mini-batches on one thread (``torch.optim``). Both stop early
on a validation split: a stratified 20 % hold-out, or k-fold cross-validation below
:data:`FEW_EXAMPLES` examples (then a final head is fitted on all of them for the median
best number of epochs).
"""

from __future__ import annotations

import copy
import math
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn

from core.jobs import Job, Progress, check_cancel
from core.labels.head_data import (
    HEAD_KINDS,
    TOP_K,
    Aggregation,
    LabelMetrics,
    TrainingData,
    Validation,
    compare_aggregation,
    top_k_mean,
    validation_figures,
)

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
# The MLP trains on one torch thread: its mini-batch steps are many small operations, and
# threads that meet at the end of each one wait for the slowest when another process holds a
# core. Measured on 2 cores, 10k examples: 2.25 s on 1 thread, 1.93 s on 2 when idle, but
# 2.9 s on 2 beside one busy process (and 5-8 s/epoch when OpenMP threads spin,
# OMP_WAIT_POLICY unset). L-BFGS does few big operations: all threads (0.5 s idle, 0.85 s
# either way beside a busy process).
MLP_THREADS = 1
PREDICT_BLOCK = 1024  # rows converted to float32 and predicted at a time


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
        h = F.linear(x, *self.folded())
        return h if self.last is None else self.last(torch.relu(h))

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of the first layer over raw vectors: the standardisation folded in,
        so that predicting is one matmul per layer."""
        weight = self.first.weight * self.scale
        return weight, self.first.bias - weight @ self.mean

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
    aggregation: Aggregation | None = None  # None: no validation photo had regions


def fit(data: TrainingData, label_names: list[str], kind: str = "linear", *,
        cancel: threading.Event | None = None, seed: int = 0,
        hidden: int = HIDDEN_UNITS,
        regions: Sequence[NDArray[np.float32] | None] | None = None,
        top_k: int = TOP_K) -> Job[Fitted]:
    """Train a head on ``data`` with validation and early stopping (a job: one Progress/epoch).

    ``regions``: each row's region vectors (None: the photo has none); each validation photo
    with regions is then also predicted by Oquab's aggregation (the mean of its ``top_k``
    best region scores, by the head of the fold that did not see it), and the aggregation is
    kept (``Fitted.aggregation.used``) where it is more accurate than the whole photo.
    Raises ValueError if there are too few examples to validate anything.
    """
    start = time.perf_counter()
    n = len(data)
    if n < 4:
        raise ValueError("at least 4 labelled photos are needed")
    splits, method = _splits(data.strata(), seed)
    probs = np.full(data.targets.shape, np.nan, np.float32)
    aggregated = np.full(data.targets.shape, np.nan, np.float32)
    best_epochs, done = [], 0
    total = (sum(_max_epochs(len(rows), kind) for rows, _ in splits)
             + _max_epochs(n, kind) * (len(splits) > 1))
    for fold, (train_rows, val_rows) in enumerate(splits):
        head, epochs, val_probs = yield from _train(
            data, train_rows, val_rows, kind, seed + fold, cancel,
            f"fold {fold + 1}/{len(splits)}" if len(splits) > 1 else "", done, total,
            hidden=hidden)
        done += _max_epochs(len(train_rows), kind)
        probs[val_rows] = val_probs
        best_epochs.append(epochs)
        for row in val_rows if regions is not None else ():
            found = regions[row]  # type: ignore[index]  # not None here
            if found is not None and len(found):
                aggregated[row] = top_k_mean(probabilities(head, found, data.multi), top_k)
    validated = np.flatnonzero(~np.isnan(probs[:, 0]))
    validation = validation_figures(data.subset(validated), probs[validated], label_names,
                                    method, data.targets.sum(0))
    aggregation = compare_aggregation(data, probs, aggregated, label_names, method, top_k)
    if len(splits) > 1:  # cross-validation: the final head learns from every example
        epochs = max(1, round(float(np.median(best_epochs))))
        head, _, _ = yield from _train(data, np.arange(n), None, kind, seed, cancel, "final",
                                       done, total, fixed_epochs=epochs, hidden=hidden)
    yield Progress("training", total, total, "trained")
    return Fitted(head, best_epochs[0] if len(splits) == 1 else epochs, validation,
                  time.perf_counter() - start, aggregation)


def probabilities(head: Head, vectors: NDArray[np.floating], multi: bool,
                  block: int = PREDICT_BLOCK) -> NDArray[np.float32]:
    """Per-label probabilities (softmax or sigmoid) of ``head`` for each vector.

    ``vectors`` may be float16 (as the catalog stores them). Blocks of rows go to as many
    threads as torch has (each running torch on one thread, taking the next block when
    done: a thread that gets less of a busy core does fewer blocks, where threads that
    split every matmul would wait for it). Each converts a block into its own float32
    buffer (torch converts several times faster than numpy), then does one matmul per
    layer.
    """
    out = np.empty((len(vectors), head.n_labels), np.float32)
    if not len(vectors):
        return out
    head.eval()
    with torch.inference_mode():
        weight, bias = head.folded()
    layers = [(weight.t(), bias)]
    if head.last is not None:
        layers.append((head.last.weight.t(), head.last.bias))
    with warnings.catch_warnings():  # vectors as read from the catalog are read-only;
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        x = torch.from_numpy(np.ascontiguousarray(vectors))  # x is only read
    result = torch.from_numpy(out)
    starts: queue.SimpleQueue[int] = queue.SimpleQueue()
    for start in range(0, len(x), block):
        starts.put(start)

    def work() -> None:
        buffer = None if x.dtype == torch.float32 else torch.empty(min(block, len(x)),
                                                                   x.shape[1])
        with _threads(1), torch.inference_mode():
            while True:
                try:
                    start = starts.get_nowait()
                except queue.Empty:
                    return
                h = x[start:start + block]
                if buffer is not None:
                    h = buffer[:len(h)].copy_(h)
                for i, (w, b) in enumerate(layers):
                    h = torch.addmm(b, h.relu_() if i else h, w)
                result[start:start + len(h)] = torch.sigmoid(h) if multi else torch.softmax(h, 1)

    workers = min(torch.get_num_threads(), math.ceil(len(x) / block))
    if workers == 1:
        work()
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="predict") as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
    return out


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


def _train(data: TrainingData, train_rows: NDArray[np.intp], val_rows: NDArray[np.intp] | None,
           kind: str, seed: int, cancel: threading.Event | None, text: str, done: int,
           total: int, fixed_epochs: int | None = None, hidden: int = HIDDEN_UNITS
           ) -> Job[tuple[Head, int, NDArray[np.float32]]]:
    """Train a head on the ``train_rows`` of ``data``, stopping early on ``val_rows`` (or
    for ``fixed_epochs`` without them); return it, its best epoch and the validation rows'
    probabilities."""
    generator = torch.Generator().manual_seed(seed)
    n_labels, multi = data.targets.shape[1], data.multi
    threads = MLP_THREADS if kind == "mlp" else torch.get_num_threads()
    with _threads(threads):
        head = Head(data.vectors.shape[1], n_labels, kind, hidden)
        _init(head, generator)
        vectors = torch.from_numpy(data.vectors)
        x = _standardise(head, vectors, train_rows, learn=True)
        t, known = (torch.from_numpy(a[train_rows]) for a in (data.targets, data.known))
        if kind == "mlp":
            head.dropout.generator = generator
        weights = _class_weights(t.numpy(), known.numpy(), multi)
        step = _optimiser(head, x, t, known, multi, weights, generator)
        if val_rows is not None:
            xv = _standardise(head, vectors, val_rows)
            tv, kv = (torch.from_numpy(a[val_rows]) for a in (data.targets, data.known))
    max_epochs = fixed_epochs or _max_epochs(len(train_rows), kind)
    patience = _patience(max_epochs, kind)
    best = (math.inf, 0, copy.deepcopy(head.state_dict()))
    for epoch in range(1, max_epochs + 1):
        check_cancel(cancel)
        with _threads(threads):
            head.train()
            step()
            if val_rows is not None:
                head.eval()
                with torch.no_grad():
                    val_loss = float(_loss(head.logits(xv), tv, kv, multi, weights))
        if val_rows is None:
            best = (0.0, epoch, head.state_dict())
            yield Progress("training", done + epoch, total, f"{text} epoch {epoch}".strip())
            continue
        if val_loss < best[0] - max(MIN_IMPROVEMENT, 0.01 * best[0] if best[1] else 0.0):
            best = (val_loss, epoch, copy.deepcopy(head.state_dict()))
        yield Progress("training", done + epoch, total,
                       f"{text} epoch {epoch}: validation loss {val_loss:.3f}".strip())
        if epoch - best[1] >= patience:
            break
    head.load_state_dict(best[2])
    head.eval()
    if val_rows is None:
        return head, max(1, best[1]), np.zeros((0, n_labels), np.float32)
    with _threads(threads), torch.no_grad():
        logits = head.logits(xv)
        val_probs = (torch.sigmoid(logits) if multi else torch.softmax(logits, 1)).numpy()
    return head, max(1, best[1]), val_probs


def _standardise(head: Head, vectors: torch.Tensor, rows: NDArray[np.intp], *,
                 learn: bool = False) -> torch.Tensor:
    """The ``rows`` of ``vectors`` standardised by the head's statistics, as a new tensor;
    ``learn``: first set those statistics from these rows."""
    x = vectors.index_select(0, torch.from_numpy(np.asarray(rows, np.int64)))
    if learn:
        head.mean.copy_(x.mean(0))
        x.sub_(head.mean)
        if len(x) > 1:  # standard deviation (unbiased, as torch.std) of the centred rows
            head.scale.copy_(1 / (((x * x).sum(0) / (len(x) - 1)).sqrt_() + 1e-6))
        return x.mul_(head.scale)
    return x.sub_(head.mean).mul_(head.scale)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run torch on at most ``n`` threads inside the block (the setting is per thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
            loss = _loss(head.logits(x.index_select(0, rows)), t.index_select(0, rows),
                         known.index_select(0, rows), multi, weights)
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()

    return epoch


def _init(head: Head, generator: torch.Generator) -> None:
    """Logistic regression starts at zero (a convex problem); the MLP from a seeded uniform."""
    for module in head.modules():
        if isinstance(module, nn.Linear):
            bound = 0.0 if head.kind == "linear" else 1 / math.sqrt(module.in_features)
            nn.init.uniform_(module.weight, -bound, bound, generator=generator)
            nn.init.zeros_(module.bias)


def _class_weights(targets: NDArray[np.float32], known: NDArray[np.bool_],
                   multi: bool) -> torch.Tensor:
    """Single-choice: balanced class weights; multi-label: positive weights (neg / pos)."""
    pos = (targets * known).sum(0)
    if multi:
        neg = ((1 - targets) * known).sum(0)
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
    total = -(log_p * (targets * weights)).sum()  # rows without a label add nothing here
    has = targets.sum(1) > 0
    if not bool(has.all()):  # "not this label" only: push its probability down, -log(1 - p)
        neg = known[~has]
        log_not = torch.log1p(-log_p[~has].exp().clamp(max=1 - 1e-6))
        total = total - (log_not * neg).sum()
    return total / max(1, len(targets))
