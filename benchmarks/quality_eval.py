"""The figures of the quality benchmark: near-duplicate mAP and recall@1, same-group mAP@10,
few-shot head accuracy, and PCA whitening learned on the library.

Scores are dot products of L2-normalised rows. Ties (a perceptual hash has only 65 distinct
scores) are broken at random, in expectation: a query whose original ties with t others
counts the mean of 1/rank over the t + 1 places it could take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Transform = Callable[[NDArray[np.float32]], NDArray[np.float32]]


def near_duplicate_ap(queries: NDArray[np.float32], database: NDArray[np.float32],
                      targets: NDArray[np.int64]) -> tuple[NDArray[np.float64],
                                                           NDArray[np.float64]]:
    """Per query: average precision (one relevant item: 1 / its rank) and recall@1
    (probability of rank 1), both in expectation over random tie-breaking."""
    sims = queries @ database.T
    own = sims[np.arange(len(queries)), targets][:, None]
    greater = (sims > own).sum(1)
    ties = (sims == own).sum(1) - 1
    ap = np.array([np.mean(1.0 / (1 + g + np.arange(t + 1))) for g, t in zip(greater, ties,
                                                                                strict=True)])
    recall1 = np.where(greater == 0, 1.0 / (ties + 1), 0.0)
    return ap, recall1


def map_at_k(vectors: NDArray[np.float32], groups: Sequence[str], k: int = 10,
             seed: int = 0) -> dict[str, float]:
    """Mean AP@k of same-group retrieval per group (each photo queries all the others).

    AP@k = sum over the top k of precision@i at each same-group hit / min(k, photos of the
    group - 1). Rows are shuffled first so that ties do not follow the input order.
    """
    labels = np.asarray(groups)
    order = np.random.default_rng(seed).permutation(len(labels))
    x, labels = vectors[order], labels[order]
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    hits = labels[top] == labels[:, None]
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    sizes = {g: int((labels == g).sum()) for g in set(labels.tolist())}
    denominators = np.array([min(k, sizes[g] - 1) for g in labels], np.float64)
    ap = (precision * hits).sum(1) / np.maximum(denominators, 1)
    return {g: float(ap[labels == g].mean()) for g in sorted(sizes) if sizes[g] > 1}


def chance_map_at_k(groups: Sequence[str], k: int = 10, draws: int = 20) -> dict[str, float]:
    """What random vectors score (the floor of :func:`map_at_k`), averaged over draws."""
    rng = np.random.default_rng(1)
    runs = [map_at_k(_unit(rng.standard_normal((len(groups), 64))), groups, k, seed=i)
            for i in range(draws)]
    return {g: float(np.mean([r[g] for r in runs])) for g in runs[0]}


def few_shot_accuracy(vectors: NDArray[np.float32], groups: Sequence[str], per_group: int = 3,
                      draws: int = 5) -> float:
    """Top-1 accuracy of the product's linear head trained on ``per_group`` labelled photos
    of each group (groups with more photos than that), on the group's other photos; mean of
    ``draws`` random draws of the labelled photos."""
    from core.jobs import run
    from core.labels.training import TrainingData, fit, probabilities

    labels = np.asarray(groups)
    names = sorted(g for g in set(labels.tolist()) if (labels == g).sum() > per_group)
    accuracies = []
    for draw in range(draws):
        rng = np.random.default_rng(100 + draw)
        train = np.concatenate([rng.choice(np.flatnonzero(labels == g), per_group, replace=False)
                                for g in names])
        test = np.setdiff1d(np.flatnonzero(np.isin(labels, names)), train)
        targets = np.eye(len(names), dtype=np.float32)[[names.index(g) for g in labels[train]]]
        data = TrainingData(vectors[train], targets, np.ones_like(targets, bool), multi=False)
        fitted = run(fit(data, names, "linear", seed=draw))
        probs = probabilities(fitted.head, vectors[test], multi=False)
        truth = np.array([names.index(g) for g in labels[test]])
        accuracies.append(float((probs.argmax(1) == truth).mean()))
    return float(np.mean(accuracies))


def pca_whitening(library: NDArray[np.float32], dims: int = 128) -> Transform:
    """PCA whitening learned on ``library`` (Jegou & Chum 2012): centre, project on the top
    ``dims`` components, divide each by its standard deviation (regularised by the smallest
    kept one, so that weak components are not blown up), L2-normalise again."""
    mean = library.mean(0)
    _, s, vt = np.linalg.svd(library - mean, full_matrices=False)
    k = min(dims, int((s > s[0] * 1e-6).sum()))
    std = s[:k] / np.sqrt(max(len(library) - 1, 1))
    projection = (vt[:k].T / (std + std[-1])).astype(np.float32)

    def transform(x: NDArray[np.float32]) -> NDArray[np.float32]:
        return _unit((x - mean) @ projection)

    return transform


def _unit(x: NDArray[np.floating]) -> NDArray[np.float32]:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
