"""Grouping faces into people, incrementally.

Faces already in a person stay there (so a named person is never split, and the user's
corrections hold); only faces in no person are grouped:

1. each joins the existing person most of whose faces within :data:`THRESHOLD` it is
   nearest to (never a person it was moved out of);
2. the rest are clustered among themselves by Chinese whispers over the graph of pairs
   closer than :data:`THRESHOLD`; each cluster of at least :data:`MIN_PERSON_FACES`
   faces becomes a new, unnamed person. Single faces wait for company.

Distances are Euclidean between dlib's 128-d descriptors; two faces of one person are
closer than 0.6 (dlib's calibration on LFW). Calibrated on this project's test set
(tests/core/test_faces_grouping.py: edited copies of real faces): same person 0.08-0.45,
different people >= 0.62.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

THRESHOLD = 0.55  # a little under dlib's 0.6: a wrong merge costs the user more than a split
MIN_PERSON_FACES = 2
_BLOCK = 2048  # rows of the distance matrix computed at a time


def neighbours(vectors: NDArray[np.float32], threshold: float = THRESHOLD,
               others: NDArray[np.float32] | None = None) -> list[NDArray[np.int64]]:
    """For each row of ``vectors``: indices of ``others`` (default: ``vectors``, less
    itself) closer than ``threshold``. Computed a block at a time (memory stays small)."""
    base = vectors if others is None else others
    out: list[NDArray[np.int64]] = []
    if len(base) == 0:
        return [np.zeros(0, np.int64) for _ in range(len(vectors))]
    base_sq = (base.astype(np.float32) ** 2).sum(1)
    for start in range(0, len(vectors), _BLOCK):
        block = vectors[start:start + _BLOCK].astype(np.float32)
        d2 = (block ** 2).sum(1)[:, None] + base_sq[None, :] - 2.0 * block @ base.T
        close = d2 < threshold * threshold
        if others is None:
            rows = np.arange(len(block))
            close[rows, rows + start] = False
        out.extend(np.flatnonzero(row) for row in close)
    return out


def chinese_whispers(vectors: NDArray[np.float32], threshold: float = THRESHOLD,
                     iterations: int = 30, seed: int = 0) -> NDArray[np.int64]:
    """A cluster label per row: Chinese whispers (Biemann 2006, as in dlib) on the graph
    of pairs closer than ``threshold``, each edge weighted by closeness. Seeded."""
    n = len(vectors)
    labels = np.arange(n, dtype=np.int64)
    if n < 2:
        return labels
    adjacency = neighbours(vectors, threshold)
    weights = []
    for i, near in enumerate(adjacency):
        d = np.linalg.norm(vectors[near] - vectors[i], axis=1) if len(near) else np.zeros(0)
        weights.append(1.0 - d / threshold + 1e-3)
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = False
        for i in rng.permutation(n):
            near = adjacency[i]
            if not len(near):
                continue
            votes: dict[int, float] = {}
            for j, w in zip(near.tolist(), weights[i].tolist(), strict=True):
                votes[int(labels[j])] = votes.get(int(labels[j]), 0.0) + w
            best = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            if best != labels[i]:
                labels[i] = best
                changed = True
        if not changed:
            break
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)


def join_existing(new: NDArray[np.float32], known: NDArray[np.float32],
                  known_person: NDArray[np.int64], refused: list[set[int]],
                  threshold: float = THRESHOLD) -> list[int | None]:
    """For each row of ``new``: the person (from ``known_person``, one per row of
    ``known``) it joins, or None. A face joins the person with the most faces within
    ``threshold`` (ties: the nearest), never one in its ``refused`` set."""
    out: list[int | None] = []
    for i, near in enumerate(neighbours(new, threshold, known)):
        votes: dict[int, tuple[int, float]] = {}
        for j in near.tolist():
            person = int(known_person[j])
            if person in refused[i]:
                continue
            distance = float(np.linalg.norm(known[j] - new[i]))
            count, best = votes.get(person, (0, threshold))
            votes[person] = (count + 1, min(best, distance))
        if not votes:
            out.append(None)
            continue
        out.append(max(votes.items(), key=lambda kv: (kv[1][0], -kv[1][1]))[0])
    return out
