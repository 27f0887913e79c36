"""The taste head: trained on the user's decided groups, it agrees with held-out picks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from core.catalog import Catalog
from core.duplicates import decide, group_key
from core.duplicates.taste import taste_pick, train_taste
from core.jobs import run

MODEL = "synthetic@taste"


def _library(folder: Path, n_groups: int, seed: int = 0) -> tuple[Path, list[list[int]],
                                                                     np.ndarray]:
    """Groups of 3 near-identical embeddings that differ along one hidden "taste" direction;
    the user always picked the member furthest along it."""
    rng = np.random.default_rng(seed)
    dim = 64
    taste = rng.standard_normal(dim).astype(np.float32)
    taste /= np.linalg.norm(taste)
    rows, vectors, groups = [], [], []
    for g in range(n_groups):
        base = rng.standard_normal(dim).astype(np.float32)
        members = []
        for k in range(3):
            pid = 3 * g + k + 1
            v = base + 0.15 * rng.standard_normal(dim) + rng.uniform(-0.5, 0.5) * taste
            vectors.append((v / np.linalg.norm(v)).astype(np.float16))
            rows.append((pid, f"g{g}/p{k}.jpg".encode(), f"h{pid}"))
            members.append(pid)
        groups.append(members)
    path = folder / "catalog.sqlite"
    with Catalog.open(folder, path, create=True) as catalog, catalog.transaction() as tx:
        tx.executemany("INSERT INTO photos (id, path, size, mtime_ns, content_hash, added_at) "
                       "VALUES (?, ?, 1, 0, ?, 0)", rows)
        tx.executemany("INSERT INTO embeddings (photo_id, model, vector) VALUES (?, ?, ?)",
                       [(r[0], MODEL, v.tobytes()) for r, v in zip(rows, vectors, strict=True)])
    return path, groups, np.asarray(vectors, np.float32) @ taste


def test_the_taste_head_agrees_with_held_out_decisions(tmp_path: Path) -> None:
    path, groups, along = _library(tmp_path, 40)
    with Catalog.open(tmp_path, path, create=False) as catalog:
        for members in groups[:30]:  # the user decides 30 groups
            best = max(members, key=lambda pid: along[pid - 1])
            decide(catalog, group_key(f"h{m}" for m in members),
                   {f"h{m}": "pick" if m == best else "reject" for m in members})
        start = time.perf_counter()
        taste = run(train_taste(catalog, MODEL))
        assert time.perf_counter() - start < 30
        assert taste.held_out >= 3 and taste.agreement is not None
        assert taste.agreement >= 0.6  # chance is 1/3
        ids, vectors = catalog.embeddings(MODEL)
        vector_of = {int(i): v for i, v in zip(ids, vectors, strict=True)}
        agree = sum(taste_pick(taste, vector_of, m) == max(m, key=lambda p: along[p - 1])
                    for m in groups[30:])
        assert agree >= 7  # of the 10 groups never decided


def test_too_few_decisions_are_refused(tmp_path: Path) -> None:
    path, _groups, _ = _library(tmp_path, 3)
    with Catalog.open(tmp_path, path, create=False) as catalog:
        decide(catalog, "k", {"h1": "pick", "h2": "reject"})
        with pytest.raises(ValueError, match="decide at least"):
            run(train_taste(catalog, MODEL))
