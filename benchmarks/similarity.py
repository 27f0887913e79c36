"""Learnt similarity benchmark: training time on 10k triplets, and whether it generalises.

    python -m benchmarks.similarity [--quick] [--triplets 10000] [--scenes 16]
                                    [--model mobilenet_v3_small] [--finetune-steps 60]
                                    [--no-scenes]

1. **Training time** (first table): the product's :func:`core.similarity.training.fit`
   (triplet loss on angles with in-batch hard negatives, and the same/different
   formulation; early stopping; the better kept) on ``--triplets`` training triplets over
   synthetic 2048-d embeddings where the base similarity follows "clusters" and the user's
   kinds cut across them. Target: 10,000 triplets train in under 10 s on this machine.
2. **Generalisation** (second table): generated scenes (:mod:`benchmarks.synthetic`), each
   rendered in six treatments (the groups: colour, mono, warm, cool, dark, contrast), as a
   library indexed with ``--model`` (random weights: no pretrained weights here). Labels are
   given on three groups only (mono, warm, dark), on the first half of the scenes; then
   ``lookalike learn`` (a projection) and ``lookalike finetune`` (the backbone's last stage,
   ``--finetune-steps`` on the CPU). Reported on the other half of the scenes: mAP@10 of
   the judged groups and of the groups never judged (each photo a query, relevant: its
   group), and the fraction of judged-group triplets ordered correctly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

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
                 max_triplets=2 * n_triplets)  # about half are held out (by photo)
    start, cpu = time.perf_counter(), time.process_time()
    basis = principal_basis(x, 256)
    fitted = run(fit(data, x[data.photo_ids], basis, library=x[:4000]))
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


def bench_scenes(n_scenes: int, model: str, finetune_steps: int) -> list[list[object]]:
    """The generated scenes as a library: indexed, labelled on the judged groups of the first
    half of the scenes, a similarity learnt (and the backbone fine-tuned), evaluated on the
    other half."""
    from benchmarks import synthetic
    from core.embed.cnn import Embedder
    from core.labels import LabelStore
    from core.library import Library
    from core.similarity import learnt
    from core.similarity.finetune import finetune

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        for s in range(n_scenes):
            base = synthetic.scene(500 + s, (256, 192))
            for treatment in TREATMENTS:
                synthetic.write_jpeg(root / f"scene{s:03d}" / f"{treatment}.jpg",
                                     treat(base, treatment))
        with Library(root, catalog_path=Path(tmp) / "catalog.sqlite", model=model,
                     weights="none", device="cpu") as library:
            run(library.index())
            catalog = library.catalog
            photos = catalog.photos()
            group = np.array([TREATMENTS.index(p.path.stem) for p in photos])
            scene = np.array([int(p.path.parent.name[5:]) for p in photos])
            ids = np.array([p.id for p in photos])
            store = LabelStore(catalog)
            look = store.ensure_set("look")
            for treatment in JUDGED:
                label = store.ensure_label(look.id, treatment)
                store.assign(label.id, ids[(group == TREATMENTS.index(treatment))
                                           & (scene < n_scenes // 2)].tolist())
            _, x = catalog.embeddings(library.model_key, ids.tolist())
            start = time.perf_counter()
            sim = run(learnt.train(catalog, library.model_key, loss="auto"))
            learn_s = time.perf_counter() - start
            loaded = learnt.load(catalog, sim.name, library.model_key)
            assert loaded is not None and loaded[1] is not None
            spaces = {"base embedding": x, f"learnt ({sim.loss}, {learn_s:.1f} s)":
                      project(loaded[1], x)}
            if finetune_steps:
                start = time.perf_counter()
                tuned = run(finetune(catalog, model, "none", steps=finetune_steps,
                                     device="cpu"))
                tune_s = time.perf_counter() - start
                embedder = Embedder(model, tuned.weights, "cpu")
                spaces[f"fine-tuned ({finetune_steps} steps, {tune_s:.0f} s)"] = np.stack(
                    [embedder.embed_file(p.path) for p in photos])
    return _evaluate(spaces, group, scene, n_scenes)


def _evaluate(spaces: dict[str, NDArray[np.float32]], group: NDArray[np.int64],
              scene: NDArray[np.int64], n_scenes: int) -> list[list[object]]:
    judged = [TREATMENTS.index(t) for t in JUDGED]
    unjudged = [g for g in range(len(TREATMENTS)) if g not in judged]
    test = np.flatnonzero(scene >= n_scenes // 2)
    data = build(Relations([], [], [(test[group[test] == g], test[group[test] != g])
                                    for g in judged]), held_out=0)  # rows of v as photo ids
    rows = []
    for name, v in spaces.items():
        sub, groups = v[test], group[test]
        rows.append([name] + [f"{map_at_10(sub, groups, np.flatnonzero(np.isin(groups, w))):.3f}"
                              for w in (judged, unjudged)]
                    + [f"{ordering(v[data.photo_ids], data.train):.3f}"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (for the tests)")
    parser.add_argument("--triplets", type=int, default=10_000)
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--no-scenes", action="store_true", help="only the training time")
    parser.add_argument("--finetune-steps", type=int, default=60,
                        help="fine-tune the backbone this many steps too (0: not)")
    args = parser.parse_args(argv)
    if args.quick:
        args.triplets, args.scenes, args.finetune_steps = 1000, 4, 0
    print(machine_line())
    print(TARGET)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print_table(["train triplets", "held-out", "train s", "cpu s", "kept", "epochs", "before",
                 "after", "held-out by formulation"], bench_training(args.triplets))
    if not args.no_scenes:
        print()
        print(f"On generated scenes ({args.scenes} scenes x {len(TREATMENTS)} treatments "
              f"{', '.join(TREATMENTS)}; {args.model}, random weights): labels on "
              f"{', '.join(JUDGED)} for half of the scenes; mAP@10 and triplets of the judged "
              f"groups ordered correctly on the other half")
        print_table(["similarity", "mAP@10 judged", "mAP@10 unjudged", "unseen triplets"],
                    bench_scenes(args.scenes, args.model, args.finetune_steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
