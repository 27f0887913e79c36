"""Learnt similarity benchmark: training time on 10k triplets, and whether it generalises.

    python -m benchmarks.similarity [--quick] [--triplets 10000] [--scenes 12]
                                    [--model mobilenet_v3_small] [--no-scenes]

1. **Training time** ("train" table): the product's :func:`core.similarity.training.fit`
   (triplet loss with in-batch hard negatives, and the same/different formulation, early
   stopping, the better kept) on ``--triplets`` triplets over synthetic 2048-d embeddings
   where the base similarity follows "clusters" and the user's kinds cut across them. Target:
   10,000 triplets train in under 10 s on this machine (2 cores).
2. **Generalisation** ("groups" table): generated scenes (:mod:`benchmarks.synthetic`), each
   rendered in one of six treatments (the groups: colour, mono, warm, cool, dark, flipped
   and contrasty...), embedded with ``--model`` (random weights: no pretrained weights here).
   Labels are given for the photos of three groups only, on half of the scenes; mAP@10 (each
   photo of the other half of the scenes as a query, relevant: the same group) is reported
   before and after, separately for the judged and the unjudged groups.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from benchmarks._common import machine_line, print_table
from core.embed.torch_loader import ensure_torch
from core.jobs import run

ensure_torch()
from core.similarity.training import fit, ordering, principal_basis, project  # noqa: E402
from core.similarity.triplets import Relations, build  # noqa: E402

DIM = 2048
TARGET = "target: 10,000 triplets train in under 10 s"
TREATMENTS = ("colour", "mono", "warm", "cool", "dark", "contrast")
JUDGED = ("mono", "warm", "dark")


def kinds_embeddings(n: int, n_kinds: int, n_clusters: int, dim: int = DIM, seed: int = 0
                     ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Embeddings dominated by ``n_clusters`` (what the base sees) with a weaker kind
    direction (what the user means)."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(n_kinds, size=n)
    clusters = rng.integers(n_clusters, size=n)
    c = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    k = rng.standard_normal((n_kinds, dim), dtype=np.float32)
    x = c[clusters] + 0.2 * k[kinds] + 1.0 * rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), kinds


def groups_of(ids: NDArray[np.int64], kinds: NDArray[np.int64], wanted: Sequence[int]
              ) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    return [(ids[kinds[ids] == k], ids[kinds[ids] != k]) for k in wanted]


def bench_training(n_triplets: int) -> list[list[object]]:
    n_items = max(200, n_triplets // 5)
    x, kinds = kinds_embeddings(n_items, 20, 40)
    data = build(Relations([], [], groups_of(np.arange(n_items), kinds, range(20))),
                 max_triplets=int(n_triplets / 0.8))
    start, cpu = time.perf_counter(), time.process_time()
    basis = principal_basis(x, 256)
    fitted = run(fit(data, x[data.photo_ids], basis))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return [[f"{len(data.train):,}", f"{len(data.held_out):,}", f"{seconds:.1f}", f"{cpu:.1f}",
             fitted.loss, fitted.epochs, f"{fitted.before:.3f}", f"{fitted.after:.3f}",
             " / ".join(f"{k} {v:.3f}" for k, v in fitted.others.items())]]


def treat(image: object, treatment: str) -> object:
    from PIL import Image, ImageEnhance, ImageOps

    assert isinstance(image, Image.Image)
    if treatment == "mono":
        return ImageOps.grayscale(image).convert("RGB")
    if treatment in ("warm", "cool"):
        r, g, b = image.split()
        up, down = (r, b) if treatment == "warm" else (b, r)
        up = up.point(lambda v: min(255, int(v * 1.3)))
        down = down.point(lambda v: int(v * 0.7))
        return Image.merge("RGB", (up, g, down) if treatment == "warm" else (down, g, up))
    if treatment == "dark":
        return ImageEnhance.Brightness(image).enhance(0.45)
    if treatment == "contrast":
        return ImageEnhance.Contrast(image).enhance(2.2)
    return image


def map_at_10(vectors: NDArray[np.float32], groups: NDArray[np.int64],
              queries: NDArray[np.int64]) -> float:
    """Mean average precision of the top 10 (the query excluded) over ``queries``."""
    scores = vectors @ vectors.T
    out = []
    for q in queries:
        s = scores[q].copy()
        s[q] = -np.inf
        top = np.argsort(-s)[:10]
        rel = groups[top] == groups[q]
        n_rel = min(10, int((groups == groups[q]).sum()) - 1)
        if n_rel <= 0:
            continue
        precision = np.cumsum(rel) / np.arange(1, 11)
        out.append(float((precision * rel).sum() / n_rel))
    return float(np.mean(out)) if out else float("nan")


def bench_scenes(n_scenes: int, model: str) -> list[list[object]]:
    from benchmarks import synthetic
    from core.embed.cnn import Embedder

    embedder = Embedder(model, "none", "cpu")
    images, group, scene = [], [], []
    for s in range(n_scenes):
        base = synthetic.scene(500 + s, (256, 192))
        for g, treatment in enumerate(TREATMENTS):
            images.append(treat(base, treatment))
            group.append(g)
            scene.append(s)
    x = embedder.embed_images(images)
    group_a, scene_a = np.array(group), np.array(scene)
    ids = np.arange(len(images))
    judged = [TREATMENTS.index(t) for t in JUDGED]
    train_ids = ids[scene_a < n_scenes // 2]
    # labels for the judged groups on the first half of the scenes; the rest is evaluation
    members = [(train_ids[group_a[train_ids] == g], train_ids[group_a[train_ids] != g])
               for g in judged]
    data = build(Relations([], [], members))
    fitted = run(fit(data, x[data.photo_ids], principal_basis(x, 256)))
    after = project(fitted.projection, x)
    test_ids = ids[scene_a >= n_scenes // 2]
    rows = []
    for name, wanted in (("judged", judged),
                         ("unjudged", [g for g in range(len(TREATMENTS)) if g not in judged])):
        queries = test_ids[np.isin(group_a[test_ids], wanted)]
        sub = np.concatenate([test_ids])
        pos = {int(i): n for n, i in enumerate(sub)}
        q_local = np.array([pos[int(q)] for q in queries])
        rows.append([name, ", ".join(TREATMENTS[g] for g in wanted), len(queries),
                     f"{map_at_10(x[sub], group_a[sub], q_local):.3f}",
                     f"{map_at_10(after[sub], group_a[sub], q_local):.3f}"])
    rows.append(["held-out triplets", "ordered correctly", fitted.held_out,
                 f"{fitted.before:.3f}", f"{fitted.after:.3f}"])
    test_trip = build(Relations([], [], [(test_ids[group_a[test_ids] == g],
                                          test_ids[group_a[test_ids] != g]) for g in judged]),
                      held_out=0).train
    rows.append(["unseen scenes", "judged triplets ordered", len(test_trip),
                 f"{ordering(x, test_trip):.3f}", f"{ordering(after, test_trip):.3f}"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (for the tests)")
    parser.add_argument("--triplets", type=int, default=10_000)
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--no-scenes", action="store_true", help="only the training time")
    args = parser.parse_args(argv)
    if args.quick:
        args.triplets, args.scenes = 2000, 6
    print(machine_line())
    print(TARGET)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print_table(["train triplets", "held-out", "train s", "cpu s", "kept", "epochs", "before",
                 "after", "held-out by formulation"], bench_training(args.triplets))
    if not args.no_scenes:
        print()
        print(f"mAP@10 on generated scenes ({args.scenes} scenes x {len(TREATMENTS)} "
              f"treatments, {args.model} random weights; labels on {', '.join(JUDGED)} "
              f"for half of the scenes, evaluated on the other half)")
        print_table(["groups", "which", "queries", "before", "after"],
                    bench_scenes(args.scenes, args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
