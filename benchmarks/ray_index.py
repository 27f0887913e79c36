"""Indexing on Ray next to the local pipeline, and what the catalog can take in.

    python -m benchmarks.ray_index [--quick] [--photos 64] [--megapixels 2] [--workers 1,2]
                                   [--address HOST:PORT] [--rows 20000]

1. On generated camera-like JPEGs (``benchmarks.indexing.photo_folder``), the default model
   (EfficientNet-Lite0, its ImageNet weights, keywords included), each run on a fresh catalog
   and thumbnail cache: the local pipeline (``Library.index()``, the model loaded in the
   run), then ``index --ray`` (``core.cluster.index_on_ray``) with 1 and 2 workers of a local
   Ray cluster this script starts (``ray start --head``, as many CPUs as the most workers;
   or the cluster at ``--address``). Printed: the whole job (scan to last commit, start-up
   included: the model load here, the workers' start on Ray), the seconds to its first
   committed batch (that start-up), and photos/s over the whole job.
2. SQLite's intake of embedding rows, the number that decides where a cluster's catalog can
   live: ``Catalog.store_results`` (metadata update, 1280-d float16 vector, one transaction a
   batch, as the driver writes) into a catalog of ``--rows`` photos, by batch size; and a bare
   ``executemany`` of the vectors alone as the ceiling.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from benchmarks._common import environ, machine_line, median, print_table
from benchmarks.indexing import photo_folder
from benchmarks.ray_cluster import local_cluster
from core import paths
from core.catalog import Catalog, PhotoMeta
from core.embed.models import DEFAULT_MODEL, get_spec, model_key
from core.jobs import Job, Progress, run
from core.library import IndexResult, Library


@contextlib.contextmanager
def fresh_dirs() -> Iterator[Path]:
    """A new catalog folder and thumbnail cache, with the model's ONNX export copied in
    (made once, before: every run finds it, as a second ``lookalike index`` would)."""
    models = paths.cache_dir() / "models"
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-ray-") as tmp, environ(
            XDG_DATA_HOME=str(Path(tmp) / "data"), XDG_CACHE_HOME=str(Path(tmp) / "cache")):
        if models.is_dir():
            shutil.copytree(models, paths.cache_dir() / "models")
        yield Path(tmp)


def timed_job(job: Job[IndexResult]) -> tuple[IndexResult, float, float]:
    """Run an index job: its result, its seconds, and the seconds to its first commit (the
    start-up: the model loaded here, or the cluster's workers started, plus one batch)."""
    start = time.perf_counter()
    first: list[float] = []

    def seen(progress: Progress) -> None:
        if progress.phase == "embedding" and progress.done and not first:
            first.append(time.perf_counter() - start)

    result = run(job, seen)
    return result, time.perf_counter() - start, first[0] if first else float("nan")


def bench_index(folder: Path, n: int, workers: Sequence[int], address: str | None,
                repeat: int) -> list[list[object]]:
    """Rows: local pipeline, then Ray with each number of workers."""
    from core.cluster import RayOptions, index_on_ray
    from core.cluster.driver import onnx_export

    def local(library: Library) -> Job[IndexResult]:
        return library.index()

    def on_ray(w: int) -> Callable[[Library], Job[IndexResult]]:
        return lambda library: index_on_ray(library, RayOptions(cluster, workers=w))

    onnx_export(DEFAULT_MODEL, "default")  # into the user's cache, once
    runs: list[tuple[str, int | str, Callable[[Library], Job[IndexResult]]]] = [
        ("local pipeline (threads)", "1 process", local)]
    runs += [("Ray Data map_batches", w, on_ray(w)) for w in workers]
    with contextlib.ExitStack() as stack:
        cluster = address or stack.enter_context(local_cluster(cpus=max(workers))).address
        rows: list[list[object]] = []
        for name, w, make in runs:
            totals, firsts = [], []
            for _ in range(repeat):
                with fresh_dirs() as tmp, Library(folder, catalog_path=tmp / "c.sqlite",
                                                  model=DEFAULT_MODEL) as library:
                    result, seconds, first = timed_job(make(library))
                if result.embed.embedded != n:
                    raise RuntimeError(f"{name}: embedded {result.embed.embedded} of {n}")
                totals.append(seconds)
                firsts.append(first)
            job_s = median(totals)
            rows.append([name, w, n, job_s, median(firsts), n / job_s])
    return rows


def bench_sqlite(rows: int, batches: Sequence[int]) -> list[list[object]]:
    """Embedding rows a second into SQLite, by batch (one transaction each)."""
    dim = get_spec(DEFAULT_MODEL).dim
    key = model_key(DEFAULT_MODEL, "default")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for batch in batches:
        with tempfile.TemporaryDirectory(prefix="lookalike-bench-sql-") as tmp:
            root = Path(tmp) / "photos"
            root.mkdir()
            catalog = Catalog.open(root, Path(tmp) / "c.sqlite")
            with catalog.transaction() as tx:
                tx.executemany(
                    "INSERT INTO photos (path, size, mtime_ns, added_at) VALUES (?, ?, ?, ?)",
                    ((f"d{i // 1000}/p{i}.jpg".encode(), 1, 1, 0.0) for i in range(rows)))
            ids = [int(i) for i in catalog.photo_ids()]
            start = time.perf_counter()
            for i in range(0, rows, batch):
                catalog.store_results(key, [
                    (ids[j], PhotoMeta(f"{j:032x}", 4000, 3000, "2024-01-01T12:00:00",
                                       "Canon EOS 5D"), vectors[j])
                    for j in range(i, min(rows, i + batch))], [])
            seconds = time.perf_counter() - start
            size = (Path(tmp) / "c.sqlite").stat().st_size
            catalog.close()
        out.append([f"store_results, batch {batch}", rows, seconds, rows / seconds,
                    rows * dim * 2 / seconds / 1e6, size / rows / 1e3])
    out.append(bare_inserts(vectors, key))
    return out


def bare_inserts(vectors: np.ndarray, key: str) -> list[object]:
    """The ceiling: float16 vectors alone, one executemany, one transaction."""
    rows, dim = vectors.shape
    blobs = [v.astype(np.float16).tobytes() for v in vectors]
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-sql-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "bare.sqlite")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE e (photo_id INTEGER, model TEXT, vector BLOB, "
                     "PRIMARY KEY (photo_id, model)) WITHOUT ROWID")
        start = time.perf_counter()
        with conn:
            conn.executemany("INSERT INTO e VALUES (?, ?, ?)",
                             ((i, key, b) for i, b in enumerate(blobs)))
        seconds = time.perf_counter() - start
        conn.close()
    return ["bare executemany (ceiling)", rows, seconds, rows / seconds,
            rows * dim * 2 / seconds / 1e6, float("nan")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 photos, 1 worker, 2k rows")
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument("--workers", default="1,2", help="Ray workers to try, e.g. 1,2")
    parser.add_argument("--address", default=None,
                        help="an existing cluster (default: start a local one)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rows", type=int, default=20_000, help="rows for the SQLite part")
    args = parser.parse_args(argv)
    photos, workers, rows = args.photos, [int(w) for w in args.workers.split(",")], args.rows
    if args.quick:
        photos, workers, rows = 16, [1], 2000
    print(machine_line())
    folder = photo_folder(args.megapixels, photos)
    print_table(["pipeline", "workers", "photos", "job s", "first commit s",
                 "photos/s (job)"],
                bench_index(folder, photos, workers, args.address, args.repeat),
                title=f"Indexing {photos} photos of {args.megapixels:g} MP with "
                      f"{DEFAULT_MODEL} (ImageNet weights, keywords)")
    print_table(["writer", "rows", "s", "rows/s", "vector MB/s", "catalog KB/row"],
                bench_sqlite(rows, [8, 64, 512]),
                title="SQLite intake of embedding rows (1280-d float16, one transaction a "
                      "batch)")
    print(machine_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
