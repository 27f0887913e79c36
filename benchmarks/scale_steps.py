"""The measured steps of ``benchmarks.scale``, each run in its own process on a fixture.

``python -m benchmarks.scale_steps STEP N`` (with the fixture's XDG variables set, as
``benchmarks.scale`` does) prints one JSON line of figures; the parent samples the process's
memory. Every step calls the product's own code on the fixture's catalog.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scale_library import CHUNK, Fixture, World, model_key, size_breakdown

QUERIES = 200


def _catalog(fixture: Fixture) -> Any:
    from core.catalog import Catalog

    return Catalog.open(fixture.photos, create=False)


def _seconds(fn: Callable[[], object]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _timed(fn: Callable[[], object]) -> tuple[float, float, Any]:
    """(wall seconds, this thread's CPU seconds, value) of ``fn()``: on a loaded machine
    the CPU time is what the operation costs, the wall time what it cost today."""
    cpu = time.thread_time()
    wall, value = _seconds(fn)
    return wall, time.thread_time() - cpu, value


def step_catalog(fixture: Fixture) -> dict[str, Any]:
    """Open, list (folder order), sort by date, folder counts; size a photo."""
    from core.browse import folder_tree, list_photos

    opened, opened_cpu, catalog = _timed(lambda: _catalog(fixture))
    with catalog:
        count = catalog.photo_count()
        listed, listed_cpu, ids = _timed(lambda: list_photos(catalog, "folder"))
        by_date, by_date_cpu, dated = _timed(lambda: list_photos(catalog, "date"))
        folders, folders_cpu, tree = _timed(lambda: folder_tree(catalog))
        assert len(ids) == len(dated) == count == tree.total
        sizes = size_breakdown(catalog.path, count)
    return {"open_s": opened, "list_s": listed, "date_s": by_date, "folders_s": folders,
            "open_cpu": opened_cpu, "list_cpu": listed_cpu, "date_cpu": by_date_cpu,
            "folders_cpu": folders_cpu, "folders": len(tree.children), **sizes}


def step_index(fixture: Fixture) -> dict[str, Any]:
    """The search index's build, as the app and `lookalike index` run it (a job)."""
    from core.jobs import run
    from core.search import Searcher

    with _catalog(fixture) as catalog:
        searcher = Searcher(catalog, model_key())
        for stale in catalog.path.parent.glob("index-*"):
            stale.unlink()
        seconds, built = _seconds(lambda: run(searcher.build_index()))
        index = searcher.index()
    return {"build_s": seconds, "built": built, "kind": type(index).__name__,
            "effort": getattr(index, "nprobe", None), "n": len(index)}


def step_search(fixture: Fixture) -> dict[str, Any]:
    """p95 of "more like this photo" over the built index, recall@10 against exact search
    (brute force over the index's own float16 vectors, the same query vector)."""
    from core.index import rocchio
    from core.search import Searcher

    with _catalog(fixture) as catalog:
        searcher = Searcher(catalog, model_key())
        load_s, index = _seconds(searcher.index)
        rng = np.random.default_rng(7)
        positions = rng.choice(len(index), min(QUERIES, len(index)), replace=False)
        photo_ids = index._ids[positions]
        times, cpu, found = [], [], []
        for pid in photo_ids.tolist():
            start, start_cpu = time.perf_counter(), time.thread_time()
            hits = searcher.similar([pid], k=10)
            times.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
            found.append([h.photo_id for h in hits])
        queries = np.stack([rocchio(searcher.vectors([pid])) for pid in photo_ids.tolist()])
        truth = _exact_top(catalog, queries, photo_ids, 10)
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth,
                                                                     strict=True)]))
    ms = np.array(times) * 1e3
    return {"load_s": load_s, "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)), "recall": recall, "queries": len(ms),
            "cpu_p95_ms": float(np.percentile(cpu, 95) * 1e3),
            "index": type(index).__name__}


def _exact_top(catalog: Any, queries: np.ndarray, own: np.ndarray, k: int) -> list[list[int]]:
    """Exact top-k photo ids per query (cosine, brute force over the catalog's embeddings
    read a block at a time), each query's own photo left out."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for ids, block in catalog.embedding_blocks(model_key(), 32_768):
        rows = block.astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        s = queries @ rows.T
        s[own[:, None] == ids[None, :]] = -np.inf
        both_s = np.concatenate([best_s, s], axis=1)
        both_i = np.concatenate([best_i, np.broadcast_to(ids, s.shape)], axis=1)
        keep = np.argpartition(-both_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(both_s, keep, axis=1)
        best_i = np.take_along_axis(both_i, keep, axis=1)
    return best_i.tolist()


def step_cli(fixture: Fixture) -> dict[str, Any]:
    """The real ``lookalike similar`` command in this process (its peak RSS is measured)."""
    from cli import main

    photo = next((fixture.photos / "d0000").glob("*.jpg"))
    seconds, status = _seconds(lambda: main(
        ["similar", str(fixture.photos), str(photo), "-k", "10", "--model",
         "efficientnet_lite0", "--weights", "none", "--json"]))
    return {"seconds": seconds, "status": status}


def step_heads(fixture: Fixture) -> dict[str, Any]:
    """Label three scenes among the first photos, train a linear head, predict the library
    (read every embedding, predict, store) and, in memory, predict 1M float16 rows."""
    from core.embed.torch_loader import ensure_torch
    from core.jobs import run
    from core.labels import LabelStore
    from core.labels.heads import load_head, train
    from core.labels.review import predict_library

    ensure_torch()
    from core.labels.training import probabilities

    world = World()
    scenes = np.random.default_rng(1000).choice(len(world.p), size=CHUNK, p=world.p)
    top = np.argsort(-np.bincount(scenes, minlength=len(world.p)))[:3]
    key = model_key()
    with _catalog(fixture) as catalog:
        store = LabelStore(catalog)
        found = store.find_set("scale-bench")
        if found is not None:
            store.delete_set(found.id)
        label_set = store.create_set("scale-bench")
        for scene in top.tolist():
            label = store.add_label(label_set.id, f"scene {scene}")
            members = (np.flatnonzero(scenes == scene)[:300] + 1).tolist()
            store.assign(label.id, members)
        train_s, _ = _seconds(lambda: run(train(catalog, label_set.id, key)))
        library_cpu = time.process_time()
        predict_s, predictions = _seconds(lambda: run(predict_library(catalog, label_set.id,
                                                                      key)))
        library_cpu = time.process_time() - library_cpu
        _, head = load_head(catalog, label_set.id, key)
        n = catalog.embedded_count(key)
        rows = np.random.default_rng(0).standard_normal((min(n, 100_000), head.dim)
                                                         ).astype(np.float16)
        start, start_cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < n:  # the same 100k block again and again: predict is what is timed
            probabilities(head, rows[:n - done], False)
            done += min(len(rows), n - done)
        memory_s = time.perf_counter() - start
        memory_cpu = time.process_time() - start_cpu
        store.delete_set(label_set.id)
    return {"train_s": train_s, "library_s": predict_s, "memory_s": memory_s,
            "memory_cpu": memory_cpu, "library_cpu": library_cpu,
            "predicted": len(predictions.photo_ids)}


def step_duplicates(fixture: Fixture) -> dict[str, Any]:
    """Duplicate grouping of the whole library (hashes, times, embeddings; no pixels)."""
    from benchmarks.duplicates import BENCH
    from core.duplicates import find_groups
    from core.jobs import run

    with _catalog(fixture) as catalog:  # the thresholds of benchmarks.duplicates' planted pairs
        cpu = time.process_time()
        seconds, report = _seconds(lambda: run(find_groups(catalog, model_key(),
                                                           thresholds=BENCH, pixels=False)))
    return {"seconds": seconds, "cpu": time.process_time() - cpu, "groups": len(report.groups),
            "grouped": sum(len(g.photos) for g in report.groups)}


def step_map(fixture: Fixture) -> dict[str, Any]:
    """The map's layout, as `lookalike map` computes it (fitted afresh)."""
    from core.jobs import run
    from core.map import compute_map

    with _catalog(fixture) as catalog:
        cpu = time.process_time()
        seconds, result = _seconds(lambda: run(compute_map(catalog, model_key(),
                                                           recompute=True)))
    return {"seconds": seconds, "cpu": time.process_time() - cpu, "points": len(result.ids),
            "how": result.how, "placed": result.placed, "clusters": len(result.cluster_info)}


STEPS: dict[str, Callable[[Fixture], dict[str, Any]]] = {
    "catalog": step_catalog, "index": step_index, "search": step_search, "cli": step_cli,
    "heads": step_heads, "duplicates": step_duplicates, "map": step_map,
}


def main(argv: list[str]) -> int:
    step, n, cache = argv[0], int(argv[1]), Path(argv[2])
    fixture = Fixture(n, cache)
    out = STEPS[step](fixture)
    print("\n" + json.dumps(out), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip slow teardown (torch, faiss): the figures are out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
