"""Heads benchmark: training time of the linear and two-layer heads, and prediction time.

    python -m benchmarks.heads [--quick] [--train 10000] [--predict 100000] [--labels 10]

Runs the product's own :func:`core.training.fit` (hold-out validation, early stopping, class
weights) on synthetic labelled 2048-d embeddings, then :func:`core.training.probabilities`
over a larger set, in memory. Targets: train 10,000 examples under 5 s and predict 100,000
photos under 1 s on 2 CPU cores. "cpu s" counts all threads: on a shared machine the wall
time suffers from the other processes (and from torch's threads spinning when the cores are
oversubscribed; OMP_NUM_THREADS=1 shows the single-core cost).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from benchmarks._common import machine_line, print_table
from core.jobs import run
from core.training import HEAD_KINDS, TrainingData, fit, probabilities

DIM = 2048
TARGETS = "targets: train under 5 s, predict under 1 s"


def labelled_embeddings(n: int, n_labels: int, dim: int = DIM, *, seed: int = 0,
                        imbalance: float = 4.0) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``n`` L2-normalised embeddings of ``n_labels`` classes (sizes up to ``imbalance``x
    apart): a class centre plus variation in a shared 64-d subspace plus isotropic noise,
    mixed so that the classes overlap a little (a linear head scores about 0.9)."""
    rng = np.random.default_rng(seed)
    sizes = np.linspace(1.0, imbalance, n_labels)
    y = rng.choice(n_labels, size=n, p=sizes / sizes.sum())
    centres = rng.standard_normal((n_labels, dim), dtype=np.float32)
    basis = rng.standard_normal((64, dim), dtype=np.float32) / np.sqrt(64)
    x = (0.2 * centres[y] + rng.standard_normal((n, 64), dtype=np.float32) @ basis
         + 0.9 * rng.standard_normal((n, dim), dtype=np.float32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int64)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def bench(kind: str, n_train: int, n_predict: int, n_labels: int) -> list[object]:
    x, y = labelled_embeddings(n_train, n_labels)
    targets = np.eye(n_labels, dtype=np.float32)[y]
    data = TrainingData(x, targets, np.ones_like(targets, bool), multi=False)
    wall, cpu = _clock()
    fitted = run(fit(data, [f"label {i}" for i in range(n_labels)], kind))
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    more, _ = labelled_embeddings(n_predict, n_labels, seed=1)
    probabilities(fitted.head, more[:1000], multi=False)  # warm-up
    wall, cpu = _clock()
    probs = probabilities(fitted.head, more, multi=False)
    predict_wall, predict_cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert probs.shape == (n_predict, n_labels)
    return [kind, f"{n_train:,}", n_labels, round(train_wall, 2), round(train_cpu, 2),
            fitted.epochs, round(fitted.validation.accuracy, 3), f"{n_predict:,}",
            round(predict_wall, 3), round(predict_cpu, 3)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 examples, 5,000 predicted")
    parser.add_argument("--train", type=int, default=10_000, help="labelled examples")
    parser.add_argument("--predict", type=int, default=100_000, help="photos to predict")
    parser.add_argument("--labels", type=int, default=10, help="labels of the set")
    parser.add_argument("--heads", default=",".join(HEAD_KINDS), help="default: %(default)s")
    args = parser.parse_args(argv)
    n_train, n_predict = (1000, 5000) if args.quick else (args.train, args.predict)
    print(f"# heads benchmark: {machine_line()}, torch threads {torch.get_num_threads()}; "
          f"{TARGETS}")
    rows = [bench(kind, n_train, n_predict, args.labels) for kind in args.heads.split(",")]
    print_table(["head", "train n", "labels", "train s", "train cpu s", "epochs",
                 "val accuracy", "predict n", "predict s", "predict cpu s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
