"""Search benchmark: build time, disk size, query latency and recall@10 of each index backend.

    python -m benchmarks.search [--quick] [--sizes 10000,100000,1000000] [--indexes exact,ivf]

Runs the product's own :mod:`core.index` on synthetic 2048-d embeddings (float16, as the
catalog stores them). Each query is a stored photo asking for its 10 nearest neighbours with
itself excluded, as "more like this" does; recall@10 is measured against :class:`ExactIndex`.
The machine's load average is printed: other processes on the cores skew the latencies
(median/p95 wall ms); "cpu ms" is the median CPU time of a query, all threads counted, which
they skew less. Run with OPENBLAS_NUM_THREADS=1 on a busy machine: OpenBLAS's worker threads
spin, and small products slow down up to 20x when the cores are oversubscribed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.index import INDEXES, ExactIndex, Index, make_index

log = logging.getLogger(__name__)

DIM = 2048
K = 10
TARGET_RECALL = 0.95
_CHUNK = 20_000
_OPTIONS = {"n_lists": ["ivf", "faiss"], "nprobe": ["ivf", "faiss"], "candidates": ["pca"],
            "n_trees": ["annoy"], "search_k": ["annoy"],
            "reduced_dim": ["ivf", "pca", "annoy", "faiss"]}
_SETTINGS = ("n_lists", "nprobe", "candidates", "n_trees", "search_k", "reduced_dim")  # notes


def synthetic_embeddings(n: int, dim: int = DIM, *, n_clusters: int = 500, events: bool = True,
                         seed: int = 0) -> NDArray[np.float16]:
    """n L2-normalised embeddings (float16), generated in chunks.

    Each photo = one of `n_clusters` random unit centres (subjects) + a variation in a shared
    64-d subspace with a decaying spectrum (as CNN features have) + small isotropic noise.
    With `events`, photos come in events (bursts, series; 8 photos on average) that share
    most of their variation, as in a real library; without, neighbours within a cluster are
    nearly equidistant, a harder (flat) case.
    """
    rng = np.random.default_rng(seed)
    latent = 64
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = np.linalg.qr(rng.standard_normal((dim, latent), dtype=np.float32))[0].T
    spectrum = np.arange(1, latent + 1, dtype=np.float32) ** -0.5
    spectrum /= np.sqrt(np.sum(spectrum**2))
    n_events = max(1, n // 8)
    event_cluster = rng.integers(0, n_clusters, n_events)
    event_offset = rng.standard_normal((n_events, latent), dtype=np.float32) * spectrum * 0.7
    own = 0.3 if events else 0.76  # flat: the whole variation is per photo
    out = np.empty((n, dim), dtype=np.float16)
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        if events:
            event = rng.integers(0, n_events, m)
            cluster, z = event_cluster[event], event_offset[event]
        else:
            cluster, z = rng.integers(0, n_clusters, m), 0.0
        z = z + rng.standard_normal((m, latent), dtype=np.float32) * spectrum * own
        x = centres[cluster] + z @ basis
        x += rng.standard_normal((m, dim), dtype=np.float32) * np.float32(0.3 / np.sqrt(dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def _disk_mb(path: Path) -> tuple[float, float]:
    """(main file, all files of the index) in MB."""
    files = list(path.parent.glob(path.name + "*"))
    return path.stat().st_size / 1e6, sum(f.stat().st_size for f in files) / 1e6


def _latencies(index: Index, queries: NDArray[np.float32], query_ids: NDArray[np.int64],
               repeat: int) -> tuple[NDArray[np.float64], NDArray[np.float64], list[list[int]]]:
    """Per-query wall and CPU time (all threads of the process) in ms, each the best of
    `repeat` runs (other processes on the cores only ever add time), and the hit ids."""
    index.query(queries[0], K, exclude=(int(query_ids[0]),))  # warm-up
    wall, cpu, results = [], [], []
    for q, qid in zip(queries, query_ids, strict=True):
        best_wall = best_cpu = np.inf
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            hits = index.query(q, K, exclude=(int(qid),))
            best_cpu = min(best_cpu, time.process_time() - c)
            best_wall = min(best_wall, time.perf_counter() - t)
        wall.append(best_wall)
        cpu.append(best_cpu)
        results.append([h.photo_id for h in hits])
    return np.array(wall) * 1e3, np.array(cpu) * 1e3, results


def run_size(n: int, names: Sequence[str], n_queries: int, *, events: bool, repeat: int,
             options: dict[str, dict[str, int]]) -> list[dict[str, object]]:
    """Benchmark every index in `names` on n synthetic embeddings; one row per index."""
    t = time.perf_counter()
    vectors = synthetic_embeddings(n, events=events)
    ids = np.arange(n, dtype=np.int64) * 7 + 3  # photo ids are not positions
    log.info("n=%d: data generated in %.1f s", n, time.perf_counter() - t)
    rng = np.random.default_rng(12345)
    picks = rng.choice(n, min(n_queries, n), replace=False)
    queries, query_ids = vectors[picks].astype(np.float32), ids[picks]

    exact = ExactIndex()
    exact.build(ids, vectors)
    truth = [[h.photo_id for h in hits if h.photo_id != qid][:K]
             for hits, qid in zip(exact.query_many(queries, K + 1), query_ids, strict=True)]
    del exact
    gc.collect()

    rows = []
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as tmp:
        for name in names:
            index = make_index(name, **options.get(name, {}))
            t = time.perf_counter()
            index.build(ids, vectors)
            build_s = time.perf_counter() - t
            path = Path(tmp) / f"index.{name}"
            index.save(path)
            del index
            gc.collect()
            t = time.perf_counter()
            loaded = type(make_index(name)).load(path)
            load_s = time.perf_counter() - t
            main_mb, all_mb = _disk_mb(path)
            slow = name == "exact" and n >= 500_000  # ~0.3 s a query or more: time fewer
            n_timed = min(30, len(queries)) if slow else len(queries)
            ms, cpu_ms, results = _latencies(loaded, queries[:n_timed], query_ids[:n_timed],
                                     1 if slow else repeat)
            pairs = zip(results, truth[:n_timed], strict=True)
            recall = np.mean([len(set(r) & set(t_)) / K for r, t_ in pairs])
            notes = " ".join(f"{key}={getattr(loaded, key)}" for key in _SETTINGS
                             if getattr(loaded, key, None) is not None)
            rows.append({"n": n, "index": name, "build_s": build_s, "load_s": load_s,
                         "main_mb": main_mb, "all_mb": all_mb, "median_ms": np.median(ms),
                         "p95_ms": np.percentile(ms, 95), "cpu_ms": np.median(cpu_ms),
                         "queries": n_timed,
                         "recall": recall, "notes": notes})
            print(_format_row(rows[-1]), flush=True)
            del loaded
            gc.collect()
    return rows


def _target_ms(n: int) -> float:
    return 10.0 if n <= 100_000 else 100.0


def _format_row(r: dict[str, object]) -> str:
    n, median, recall = int(r["n"]), float(r["median_ms"]), float(r["recall"])  # type: ignore[arg-type]
    target = _target_ms(n)
    lat_ok = "ok" if median < target else "MISS"
    rec_ok = "ok" if recall >= TARGET_RECALL else "MISS"
    return (f"| {n:>9,} | {r['index']:<5} | {r['build_s']:>8.2f} | {r['load_s']:>7.3f} "
            f"| {r['main_mb']:>8.1f} | {r['all_mb']:>8.1f} | {median:>8.2f} | {r['p95_ms']:>7.2f} "
            f"| {r['cpu_ms']:>7.2f} "
            f"| <{target:g} {lat_ok:<4} | {r['queries']:>4} | {recall:>6.3f} "
            f"| >={TARGET_RECALL} {rec_ok:<4} | {r['notes']} |")


HEADER = ("|         n | index |  build s |  load s |  disk MB | total MB | median ms | p95 ms "
          "| cpu ms | target ms | qry | recall@10 | target | notes |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n=2000, 20 queries (seconds)")
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated library sizes (default: %(default)s)")
    parser.add_argument("--indexes", default=",".join(INDEXES), help="default: %(default)s")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each query this many times, keep the best (default: 3)")
    parser.add_argument("--flat", action="store_true", help="harder data: no events/bursts")
    for option, backends in _OPTIONS.items():
        parser.add_argument(f"--{option.replace('_', '-')}", type=int,
                            help=f"{' and '.join(backends)} setting (default: auto)")
    args = parser.parse_args(argv)
    sizes = [2000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",")]
    n_queries = 20 if args.quick else args.queries
    repeat = 1 if args.quick else args.repeat
    names = args.indexes.split(",")
    options: dict[str, dict[str, int]] = {}
    for option, backends in _OPTIONS.items():
        if (value := getattr(args, option)) is not None:
            for backend in backends:
                options.setdefault(backend, {})[option] = value
    print(f"# search benchmark: dim={DIM}, k={K}, {'flat' if args.flat else 'events'} data, "
          f"{n_queries} queries (latency: best of {repeat}), {os.cpu_count()} cpus, load average "
          f"{os.getloadavg()[0]:.1f}; settings {options or 'auto'}")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for n in sizes:
        run_size(n, names, n_queries, events=not args.flat, repeat=repeat, options=options)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(main())
