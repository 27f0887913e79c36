"""Learning the user's own taste from decided groups: a small ranking head on embeddings.

Each decided group gives pairs (pick, reject). The head is the labels' machinery
(:func:`core.labels.training.fit`, a linear head on frozen embeddings) trained on the
differences of the two embeddings: ``v_pick - v_reject`` is "better", the reverse "worse".
A photo's score in a group is the sum of its chances of being better than each other member.
How often it agrees with the user is measured on held-out groups (every fifth decided group,
by key), never trained on. Torch is imported only here, when a head is trained.
"""

from __future__ import annotations

import threading
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.duplicates.store import PICK, REJECT
from core.jobs import Job

MIN_GROUPS = 4  # decided groups needed before a head is trained


@dataclass(frozen=True)
class Taste:
    """A trained ranking head and how often it agreed with the user's held-out picks."""

    head: Any  # core.labels.training.Head
    model: str
    agreement: float | None  # None: no held-out group to measure on
    held_out: int
    trained_on: int  # pairs

    def scores(self, vectors: NDArray[np.floating]) -> NDArray[np.float32]:
        """Each row's summed chance of being better than each other row (higher: preferred)."""
        from core.labels.training import probabilities

        v = np.asarray(vectors, dtype=np.float32)
        n = len(v)
        if n < 2:
            return np.zeros(n, np.float32)
        diffs = (v[:, None, :] - v[None, :, :]).reshape(n * n, -1)
        better = probabilities(self.head, diffs, False)[:, 0].reshape(n, n)
        np.fill_diagonal(better, 0.0)
        return better.sum(axis=1).astype(np.float32)


def decided_groups(catalog: Catalog, model: str
                   ) -> dict[str, tuple[list[NDArray[np.float32]], list[NDArray[np.float32]]]]:
    """Per group key, the embeddings of the user's picks and rejects."""
    rows = catalog.conn.execute(
        "SELECT d.group_key, d.decision, MIN(p.id) FROM duplicate_decisions d "
        "JOIN photos p ON p.content_hash = d.content_hash "
        "WHERE d.source = 'user' GROUP BY d.content_hash").fetchall()
    ids, vectors = catalog.embeddings(model, [r[2] for r in rows])
    vector_of = {int(i): v for i, v in zip(ids, vectors, strict=True)}
    out: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for key, decision, pid in rows:
        if pid in vector_of:
            out[key][0 if decision == PICK else 1].append(vector_of[pid])
    return {k: v for k, v in out.items() if v[0] and v[1]}


def _pairs(groups: list[tuple[list, list]]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    x, y = [], []
    for picks, rejects in groups:
        for a in picks:
            for b in rejects:
                x += [a - b, b - a]
                y += [0, 1]
    return np.asarray(x, np.float32), np.asarray(y, np.int64)


def train_taste(catalog: Catalog, model: str, *,
                cancel: threading.Event | None = None) -> Job[Taste]:
    """Train the ranking head on the user's decided groups (a job). Raises ValueError with
    fewer than :data:`MIN_GROUPS` decided groups."""
    groups = decided_groups(catalog, model)
    if len(groups) < MIN_GROUPS:
        raise ValueError(f"decide at least {MIN_GROUPS} groups first ({len(groups)} so far)")
    from core.labels.head_data import TrainingData  # torch: only once there is work
    from core.labels.training import fit

    held = {k for k in groups if zlib.crc32(k.encode()) % 5 == 0} if len(groups) >= 5 else set()
    x, y = _pairs([g for k, g in groups.items() if k not in held])
    targets = np.eye(2, dtype=np.float32)[y]
    data = TrainingData(x, targets, np.ones_like(targets, dtype=bool), False)
    fitted = yield from fit(data, ["better", "worse"], "linear", cancel=cancel)
    taste = Taste(fitted.head, model, None, len(held), len(x))
    if held:
        agree = 0
        for key in held:
            picks, rejects = groups[key]
            scores = taste.scores(np.asarray(picks + rejects))
            agree += int(np.argmax(scores) < len(picks))
        taste = Taste(fitted.head, model, agree / len(held), len(held), len(x))
    return taste


def taste_pick(taste: Taste, vectors: dict[int, NDArray[np.floating]],
               members: list[int]) -> int | None:
    """The member the taste head prefers (None when some member has no embedding)."""
    if any(m not in vectors for m in members):
        return None
    scores = taste.scores(np.asarray([vectors[m] for m in members], np.float32))
    return members[int(np.argmax(scores))]


__all__ = ["MIN_GROUPS", "REJECT", "Taste", "decided_groups", "taste_pick", "train_taste"]
