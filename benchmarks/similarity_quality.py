"""Learnt similarity and fine-tuning on the quality benchmark's real photographs.

    python -m benchmarks.similarity_quality [--model efficientnet_lite0] [--finetune-steps 60]
                                            [--judged animals,flowers,...] [--cache DIR]

The grouped photos of :mod:`benchmarks.quality` (Debian wallpapers and ``../shared/photos``,
hand-grouped in ``quality_manifest.tsv``: animals, city, flowers, ...) become a library,
indexed by the product with ``--model`` and its packaged weights (the default model:
EfficientNet-Lite0). Half of the groups are *judged*; half of each judged group's photos are
the training photos, the rest and every photo of the other groups are held out.

1. **Judgements** (simulated from the groups, as a user would give them): every training
   photo is a query; its group's other training photos are marked similar, and the base
   embedding's ten nearest training photos of other groups (the wrong results a user sees)
   not similar. ``learn`` (the product's :func:`core.similarity.learnt.train`, judgements
   only) against the plain embedding.
2. **Labels** (the same training photos, one label per group in a single-choice set): the
   frozen head (``learn`` on the labels: a projection of the frozen embedding) against
   fine-tuning (``finetune``: the backbone's last stage and a head, ``--finetune-steps`` on the
   CPU, then the held-out photos embedded with the new weights).

Reported, over the held-out photos only (each queries all the others): mAP@10 of same-group
retrieval (mean over groups) for the judged groups (new photos of groups it was taught) and
the unjudged ones (groups it never saw: does it generalise or only memorise?), and the
fraction of held-out triplets of the judged groups ordered correctly.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks import quality_data as qd
from benchmarks import quality_eval as qe
from benchmarks._common import machine_line, print_table
from core.embed.models import DEFAULT_MODEL
from core.jobs import run

JUDGED = ("animals", "flowers", "landscape", "people", "water")
NEGATIVES = 10  # "not similar" marks per query: its nearest wrong training photos


def grouped_photos(cache: Path, root: Path) -> list[Path]:
    """The benchmark's grouped photos (working copies) copied into ``root/<group>/``."""
    out = []
    for entry in qd.load_manifest():
        if entry.group == qd.OTHER:
            continue
        source = qd.working_copy(entry, cache)
        target = root / entry.group / f"{entry.name}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        out.append(target)
    return out


def split(groups: NDArray[np.str_], judged: Sequence[str], seed: int = 0,
          fraction: float = 0.5) -> NDArray[np.bool_]:
    """Training photos: a random ``fraction`` of each judged group (at least 2 held out)."""
    rng = np.random.default_rng(seed)
    train = np.zeros(len(groups), bool)
    for g in judged:
        members = rng.permutation(np.flatnonzero(groups == g))
        train[members[: min(len(members) - 2, round(len(members) * fraction))]] = True
    return train


def simulated_judgements(x: NDArray[np.float32], groups: NDArray[np.str_],
                         train: NDArray[np.bool_]) -> list[tuple[int, list[int], list[int]]]:
    """(query row, similar rows, not similar rows) as a user would mark the results."""
    rows = np.flatnonzero(train)
    out = []
    for q in rows:
        same = [int(r) for r in rows if r != q and groups[r] == groups[q]]
        others = rows[groups[rows] != groups[q]]
        nearest = others[np.argsort(-(x[others] @ x[q]))[:NEGATIVES]]
        out.append((int(q), same, [int(r) for r in nearest]))
    return out


def held_out_figures(v: NDArray[np.float32], groups: NDArray[np.str_], train: NDArray[np.bool_],
                     judged: Sequence[str]) -> tuple[float, float, float]:
    """mAP@10 over the held-out photos of the judged and of the unjudged groups, and the
    held-out triplets of the judged groups ordered correctly."""
    from core.similarity.training import ordering
    from core.similarity.triplets import Relations, build

    test = np.flatnonzero(~train)
    sub = v[test] / np.linalg.norm(v[test], axis=1, keepdims=True)
    per_group = qe.map_at_k(sub, groups[test].tolist())
    seen = [per_group[g] for g in per_group if g in judged]
    unseen = [per_group[g] for g in per_group if g not in judged]
    data = build(Relations([], [], [(test[groups[test] == g], test[groups[test] != g])
                                    for g in judged]), held_out=0)  # rows of v as photo ids
    return float(np.mean(seen)), float(np.mean(unseen)), ordering(v[data.photo_ids], data.train)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.similarity_quality",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--finetune-steps", type=int, default=60, help="0: no fine-tuning")
    parser.add_argument("--judged", default=",".join(JUDGED), help="the judged groups")
    parser.add_argument("--fraction", type=float, default=0.5,
                        help="of each judged group's photos used for training")
    parser.add_argument("--draws", type=int, default=3,
                        help="random splits; the figures are their means")
    parser.add_argument("--cache", type=Path, default=qd.default_cache())
    args = parser.parse_args(argv)
    judged = args.judged.split(",")
    qd.fetch_packages(args.cache)
    print(f"# learnt similarity on the quality benchmark's photos: {machine_line()}")
    runs = []
    for draw in range(args.draws):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_run(Path(tmp), args.cache, args.model, judged, args.finetune_steps,
                             draw, args.fraction))
    rows = []
    for name in runs[0]:
        values = np.array([r[name][1] for r in runs], np.float64)
        mean, low, high = values.mean(0), values.min(0), values.max(0)
        rows.append([name, runs[0][name][0],
                     *[f"{m:.3f} ({lo:.3f}-{hi:.3f})" for m, lo, hi in
                       zip(mean[:3], low[:3], high[:3], strict=True)],
                     "–" if np.isnan(mean[3]) else f"{mean[3]:.1f} s"])
    print_table(["similarity", "trained on", "mAP@10 judged groups (held-out photos)",
                 "mAP@10 unjudged groups", "held-out triplets ordered", "time"], rows,
                title=f"Mean (min-max) of {args.draws} random splits; training: "
                      f"{args.fraction:.0%} of the photos of {', '.join(judged)}")
    return 0


def _run(tmp: Path, cache: Path, model: str, judged: list[str], steps: int, seed: int,
         fraction: float) -> dict[str, tuple[str, list[float]]]:
    from core.embed import embed_missing
    from core.embed.cnn import Embedder
    from core.labels import LabelStore
    from core.library import Library
    from core.similarity import JudgementStore, learnt
    from core.similarity.finetune import finetune
    from core.similarity.training import project

    root = tmp / "photos"
    grouped_photos(cache, root)
    with Library(root, catalog_path=tmp / "catalog.sqlite", model=model, weights="default",
                 device="cpu") as library:
        start = time.perf_counter()
        run(library.index())
        catalog, key = library.catalog, library.model_key
        photos = sorted(catalog.photos(), key=lambda p: p.id)
        ids = np.array([p.id for p in photos])
        groups = np.array([p.path.parent.name for p in photos])
        _, x = catalog.embeddings(key, ids.tolist())
        x = x.astype(np.float32)
        print(f"# {len(photos)} photos in {len(set(groups))} groups indexed with {key} in "
              f"{time.perf_counter() - start:.0f} s; judged groups {', '.join(judged)}: "
              f"{int(split(groups, judged, seed, fraction).sum())} training photos (draw {seed})",
              flush=True)
        train = split(groups, judged, seed, fraction)
        figures: dict[str, tuple[str, list[float]]] = {}

        def row(name: str, source: str, v: NDArray[np.float32], seconds: float | None) -> None:
            seen, unseen, ordered = held_out_figures(v, groups, train, judged)
            figures[name] = (source, [seen, unseen, ordered,
                                      float("nan") if seconds is None else seconds])

        row(f"plain embedding ({model})", "–", x, None)
        store = JudgementStore(catalog)
        marks = simulated_judgements(x, groups, train)
        for q, same, other in marks:
            store.judge(int(ids[q]), ids[same].tolist(), ids[other].tolist())
        start = time.perf_counter()
        sim = run(learnt.train(catalog, key, "judged", labels=False, seed=seed))
        seconds = time.perf_counter() - start
        loaded = learnt.load(catalog, sim.name, key)
        assert loaded is not None and loaded[1] is not None
        row("learnt from judgements", f"{len(marks)} queries judged ({sim.loss})",
            project(loaded[1], x), seconds)
        with catalog.transaction() as tx:  # part 2: the labels alone
            tx.execute("DELETE FROM judgements")
        labels = LabelStore(catalog)
        kind = labels.ensure_set("group")
        for g in judged:
            label = labels.ensure_label(kind.id, g)
            labels.assign(label.id, ids[train & (groups == g)].tolist())
        start = time.perf_counter()
        sim = run(learnt.train(catalog, key, "labelled", seed=seed))
        seconds = time.perf_counter() - start
        loaded = learnt.load(catalog, sim.name, key)
        assert loaded is not None and loaded[1] is not None
        source = f"labels on {int(train.sum())} photos"
        row("frozen head on labels", f"{source} ({sim.loss})", project(loaded[1], x), seconds)
        if steps:
            start = time.perf_counter()
            tuned = run(finetune(catalog, model, "default", steps=steps, device="cpu",
                                 seed=seed))
            seconds = time.perf_counter() - start
            run(embed_missing(catalog, Embedder(model, tuned.weights, "cpu")))
            _, tuned_x = catalog.embeddings(tuned.model_key, ids.tolist())
            row(f"fine-tuned last stage ({steps} steps)", source, tuned_x.astype(np.float32),
                seconds)
    return figures


if __name__ == "__main__":
    sys.exit(main())
