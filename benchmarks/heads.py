"""Heads benchmark: training time of the linear and two-layer heads, and prediction time.

    python -m benchmarks.heads [--quick] [--train 10000] [--predict 100000] [--labels 10]
                               [--separation 0.2] [--repeat 3] [--no-library]

Runs the product's own :func:`core.labels.training.fit` (hold-out validation, early stopping, class
weights) on synthetic labelled 2048-d embeddings, then :func:`core.labels.training.probabilities`
over a larger set of float16 vectors (as the catalog stores them), in memory. Then the
whole path in a temporary catalog of ``--predict`` photos ("library" columns):
:func:`core.labels.heads.train` (reads the labelled photos' embeddings, trains, stores the head)
and :func:`core.labels.review.predict_library` (reads every embedding, predicts, stores the
predictions). Targets: train 10,000 examples under 5 s and predict 100,000 photos under 1 s
on 2 CPU cores. Figures are medians of ``--repeat`` runs ("first train s": the process's
first run, with what a session's first head pays once, such as lazy imports); "cpu s" counts
all threads.

The default classes are separable (both heads reach about 1.0 and stop early);
``--separation 0.07`` makes them overlap (a linear head scores about 0.9 on 10,000) and
training run for more epochs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks._common import machine_line, median, print_table
from core.catalog import Catalog
from core.embed.torch_loader import ensure_torch
from core.jobs import run

ensure_torch()  # as the app and the CLI load torch (with torchvision) before any training
from core.labels.training import HEAD_KINDS, TrainingData, fit, probabilities  # noqa: E402

DIM = 2048
MODEL = "synthetic@bench"
TARGETS = "targets: train under 5 s, predict under 1 s"


def labelled_embeddings(n: int, n_labels: int, dim: int = DIM, *, seed: int = 0,
                        imbalance: float = 4.0, separation: float = 0.2
                        ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``n`` L2-normalised embeddings of ``n_labels`` classes (sizes up to ``imbalance``x
    apart): ``separation`` times a class centre, plus variation in a shared 64-d subspace,
    plus isotropic noise."""
    rng = np.random.default_rng(seed)
    sizes = np.linspace(1.0, imbalance, n_labels)
    y = rng.choice(n_labels, size=n, p=sizes / sizes.sum())
    centres = rng.standard_normal((n_labels, dim), dtype=np.float32)
    basis = rng.standard_normal((64, dim), dtype=np.float32) / np.sqrt(64)
    x = (separation * centres[y] + rng.standard_normal((n, 64), dtype=np.float32) @ basis
         + 0.9 * rng.standard_normal((n, dim), dtype=np.float32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int64)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def bench(kind: str, x: NDArray[np.float32], y: NDArray[np.int64],
          more: NDArray[np.float16], n_labels: int) -> dict[str, float]:
    """Train ``kind`` on (x, y) and predict ``more``, in memory: seconds and figures."""
    targets = np.eye(n_labels, dtype=np.float32)[y]
    data = TrainingData(x, targets, np.ones_like(targets, bool), multi=False)
    start = _clock()
    fitted = run(fit(data, [f"label {i}" for i in range(n_labels)], kind))
    train_wall, train_cpu = _since(start)
    probabilities(fitted.head, more[:1000], multi=False)  # warm-up
    start = _clock()
    probs = probabilities(fitted.head, more, multi=False)
    predict_wall, predict_cpu = _since(start)
    assert probs.shape == (len(more), n_labels)
    return {"train": train_wall, "train cpu": train_cpu, "epochs": fitted.epochs,
            "accuracy": fitted.validation.accuracy, "predict": predict_wall,
            "predict cpu": predict_cpu}


def library_catalog(folder: Path, x: NDArray[np.float32], y: NDArray[np.int64],
                    more: NDArray[np.float16], n_labels: int) -> tuple[Path, int]:
    """A catalog of ``len(more)`` photos with float16 embeddings, the first ``len(x)`` of
    them (embedded as ``x``) labelled ``y`` in a single-choice set; (path, set id)."""
    from core.labels import LabelStore

    path = folder / "catalog.sqlite"  # beside the photo folder, never inside it
    (folder / "photos").mkdir(exist_ok=True)
    vectors = np.concatenate([x.astype(np.float16), more[len(x):]])
    with Catalog.open(folder / "photos", path, create=True) as catalog:
        with catalog.transaction() as tx:
            tx.executemany(
                "INSERT INTO photos (id, path, size, mtime_ns, content_hash, added_at) "
                "VALUES (?, ?, 0, 0, ?, 0)",
                ((i + 1, f"p{i:07d}.jpg".encode(), f"{i:032x}") for i in range(len(vectors))))
            tx.executemany("INSERT INTO embeddings (photo_id, model, vector) VALUES (?, ?, ?)",
                           ((i + 1, MODEL, v.tobytes()) for i, v in enumerate(vectors)))
        store = LabelStore(catalog)
        label_set = store.create_set("bench")
        for j in range(n_labels):
            label = store.add_label(label_set.id, f"label {j}")
            store.assign(label.id, (np.flatnonzero(y == j) + 1).tolist())
    return path, label_set.id


def bench_library(kind: str, path: Path, set_id: int) -> dict[str, float]:
    """Train ``kind`` through the catalog, then predict the whole library: seconds."""
    from core.labels.heads import train
    from core.labels.review import predict_library

    with Catalog.open(path.parent / "photos", path, create=False) as catalog:
        start = _clock()
        run(train(catalog, set_id, MODEL, kind))
        train_wall, _ = _since(start)
        start = _clock()
        predictions = run(predict_library(catalog, set_id, MODEL))
        predict_wall, predict_cpu = _since(start)
        assert len(predictions.photo_ids) == catalog.embedded_count(MODEL)
    return {"library train": train_wall, "library predict": predict_wall,
            "library predict cpu": predict_cpu}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1,000 examples, 5,000 predicted, one run")
    parser.add_argument("--train", type=int, default=10_000, help="labelled examples")
    parser.add_argument("--predict", type=int, default=100_000, help="photos to predict")
    parser.add_argument("--labels", type=int, default=10, help="labels of the set")
    parser.add_argument("--separation", type=float, default=0.2,
                        help="weight of the class centres (default %(default)s: separable)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per head (medians)")
    parser.add_argument("--no-library", action="store_true",
                        help="skip the runs through a temporary catalog")
    parser.add_argument("--heads", default=",".join(HEAD_KINDS), help="default: %(default)s")
    args = parser.parse_args(argv)
    n_train, n_predict = (1000, 5000) if args.quick else (args.train, args.predict)
    repeat = 1 if args.quick else max(1, args.repeat)
    import torch  # after core: its OpenMP threads must see core's OMP_WAIT_POLICY

    print(f"# heads benchmark: {machine_line()}, torch threads {torch.get_num_threads()}; "
          f"median of {repeat}; {TARGETS}")
    x, y = labelled_embeddings(n_train, args.labels, separation=args.separation)
    more = labelled_embeddings(max(n_predict, n_train), args.labels, seed=1,
                               separation=args.separation)[0].astype(np.float16)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-heads-") as tmp:
        if not args.no_library:
            path, set_id = library_catalog(Path(tmp), x, y, more, args.labels)
        for kind in args.heads.split(","):
            runs = [bench(kind, x, y, more[:n_predict], args.labels) for _ in range(repeat)]
            if not args.no_library:
                for r in runs:
                    r.update(bench_library(kind, path, set_id))
            m = {key: median([r[key] for r in runs]) for key in runs[0]}
            rows.append([kind, f"{n_train:,}", args.labels, round(m["train"], 2),
                         round(runs[0]["train"], 2), round(m["train cpu"], 2),
                         int(m["epochs"]), round(m["accuracy"], 3),
                         f"{n_predict:,}", round(m["predict"], 3), round(m["predict cpu"], 3),
                         round(m.get("library train", float("nan")), 2),
                         round(m.get("library predict", float("nan")), 2)])
    print_table(["head", "train n", "labels", "train s", "first train s", "train cpu s", "epochs",
                 "val accuracy", "predict n", "predict s", "predict cpu s", "library train s",
                 "library predict s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
