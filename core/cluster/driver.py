"""Indexing on a Ray cluster: the workers decode and embed, this process (the driver) writes.

``lookalike index FOLDER --ray ADDRESS`` scans here as usual, then hands the photos without
an embedding to Ray Data: a ``map_batches`` stage of :class:`core.cluster.worker.EmbedBatch`
actors (one per CPU or GPU share; the photos are read through the shared file system, so
FOLDER must have the same path on every machine). Results stream back and the driver commits
them batch by batch with the local pipeline's catalog call, thumbnails first: a killed driver
or worker loses at most the batches in flight, and the next run (local or not) embeds only
what is missing. A photo a worker cannot read becomes a problem, as in a local scan.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import thumbnails as thumbcache
from core.catalog import Catalog, Photo, PhotoMeta
from core.cluster.connect import ClusterUnavailable, joined
from core.cluster.worker import Batch, EmbedBatch, decode_batch
from core.embed import EmbedResult
from core.embed.lite import LITE_MODELS
from core.embed.models import SEMANTIC, get_spec, model_key
from core.embed.onnx_engine import model_path
from core.embed.pipeline import writers_together
from core.jobs import Job, RateMeter, check_cancel
from core.keywords.store import write_keywords
from core.regions.describe import RegionWriter
from core.video import index_clips, is_video

if TYPE_CHECKING:
    from core.library import IndexResult, Library

log = logging.getLogger(__name__)

BLOCKS_PER_WORKER = 4  # input blocks per worker: enough to balance, few enough to schedule
MAX_BLOCK_ROWS = 1024


@dataclass(frozen=True)
class RayOptions:
    """How to run on the cluster. ``workers``: embedding actors (default: as many as the
    cluster's CPUs, or GPUs, allow); ``gpus``/``cpus``: each one's share; ``split``: decode
    in separate CPU tasks, so the GPU actors only embed (default: when ``gpus``)."""

    address: str
    workers: int | None = None
    gpus: float = 0.0
    cpus: float = 1.0
    batch_size: int | None = None
    split: bool | None = None

    @property
    def decode_apart(self) -> bool:
        return self.gpus > 0 if self.split is None else self.split


def embed_on_ray(catalog: Catalog, model: str, weights: str | Path, options: RayOptions,
                 cancel: threading.Event | None = None, layer: str = SEMANTIC
                 ) -> Job[EmbedResult]:
    """Embed the catalog's photos that have no embedding of (``model``, ``weights``,
    ``layer``) yet on the Ray cluster at ``options.address``, committing as results
    arrive."""
    if str(weights).lower() not in ("default", "pretrained", "none"):
        weights = os.path.abspath(weights)  # a file: the same path on the shared file system
    key = model_key(model, weights, layer=layer)
    todo = [p for p in catalog.missing_embeddings(key) if not is_video(p.path)]
    meter = RateMeter(len(todo))
    start = time.perf_counter()
    yield meter.progress("embedding", 0, f"Embedding {len(todo)} photos on {options.address}")
    if not todo:
        return EmbedResult(0, 0, 0.0)
    embedded = failed = 0
    regions = RegionWriter(catalog, key)
    with joined(options.address) as ray:
        data = _dataset(ray, todo, model, str(weights), options, layer)
        for batch in data.iter_batches(batch_size=None, batch_format="numpy"):
            done, bad = store_batch(catalog, key, batch, regions)
            embedded, failed = embedded + done, failed + bad
            note = regions.due()
            if note:
                yield meter.progress("embedding", embedded + failed, note)
            regions.flush()
            yield meter.progress("embedding", embedded + failed,
                                 f"Embedded {embedded + failed} of {len(todo)} on Ray")
            check_cancel(cancel)
    note = regions.due(final=True)
    if note:
        yield meter.progress("embedding", embedded + failed, note)
    regions.flush(final=True)
    return EmbedResult(embedded, failed, time.perf_counter() - start)


def _dataset(ray: Any, todo: list[Photo], model: str, weights: str,
             options: RayOptions, layer: str = SEMANTIC) -> Any:
    """The Ray Data pipeline over ``todo``: (decode tasks, then) embedding actors."""
    spec = get_spec(model)
    batch = options.batch_size or (64 if options.gpus else 8)
    resources = ray.cluster_resources()
    workers = options.workers or default_workers(resources, options)
    check_fits(options.address, resources, workers, options)
    rows = max(batch, min(MAX_BLOCK_ROWS, math.ceil(len(todo) / (BLOCKS_PER_WORKER * workers))))
    import pyarrow as pa

    table = pa.table({"id": pa.array([p.id for p in todo], pa.int64()),
                      "path": pa.array([os.fsencode(p.path) for p in todo], pa.binary())})
    data = ray.data.from_arrow([table.slice(i, rows) for i in range(0, len(todo), rows)])
    if options.decode_apart:
        data = data.map_batches(decode_batch, fn_kwargs={"input_size": spec.input_size},
                                batch_size=batch, num_cpus=1)
    device = "cuda" if options.gpus else "cpu"
    onnx = None if options.gpus else onnx_export(model, weights, layer)
    return data.map_batches(
        EmbedBatch,
        fn_constructor_args=(model, weights, device, math.ceil(options.cpus), onnx, layer),
        batch_size=batch, compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=options.cpus, num_gpus=options.gpus or None,
    )


def onnx_export(model: str, weights: str, layer: str = SEMANTIC) -> bytes | None:
    """The ONNX export of a Lite model's ``layer`` (made here once, cached;
    core.embed.onnx_engine) for CPU workers, which then need no torch; None for the other
    models (built by the workers)."""
    spec = get_spec(model)
    if spec.name not in LITE_MODELS:
        return None
    path = model_path(model_key(model, weights, layer=layer), spec.input_size)
    if not path.is_file():
        from core.embed.cnn import Embedder

        Embedder(model, weights, "cpu", layer=layer)  # exports it (or PyTorch: no file)
    return path.read_bytes() if path.is_file() else None


def check_fits(address: str, resources: dict[str, float], workers: int,
               options: RayOptions) -> None:
    """ClusterUnavailable unless ``workers`` actors fit the cluster (Ray would wait for
    them forever)."""
    cpus = workers * options.cpus + (1 if options.decode_apart and not options.gpus else 0)
    have_cpus, have_gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    if options.gpus and workers * options.gpus > have_gpus:
        raise ClusterUnavailable(
            f"The Ray cluster at {address} has {have_gpus:g} GPUs: {workers} workers of "
            f"{options.gpus:g} GPUs do not fit (fewer --ray-workers, or no --ray-gpus)")
    if not options.gpus and cpus > have_cpus:
        raise ClusterUnavailable(
            f"The Ray cluster at {address} has {have_cpus:g} CPUs: {workers} workers do not "
            "fit (fewer --ray-workers)")


def default_workers(resources: dict[str, float], options: RayOptions) -> int:
    """Embedding actors the cluster's ``resources`` hold: one per GPU share, else one per
    CPU share (half of them when decoding runs apart, in tasks of its own)."""
    if options.gpus:
        return max(1, int(resources.get("GPU", 0) // options.gpus))
    cpus = resources.get("CPU", 1) / (2 if options.decode_apart else 1)
    return max(1, int(cpus // options.cpus))


def store_batch(catalog: Catalog, key: str, batch: Batch,
                regions: RegionWriter | None = None) -> tuple[int, int]:
    """Commit one batch of worker results (thumbnails first) with their region descriptors
    (through ``regions``, as the local pass writes them); (embedded, failed)."""
    reasons = [str(r) for r in batch["reason"]]
    ok = np.asarray([not r for r in reasons], dtype=bool)
    ids = [int(i) for i in batch["id"]]
    hashes = [str(h) for h in batch["hash"][ok]]
    for digest, jpeg in zip(hashes, batch["thumbnail"][ok], strict=True):
        try:
            thumbcache.save_jpeg(digest, bytes(jpeg))
        except OSError as exc:  # cache full or read-only: the grid remakes it later
            log.warning("no thumbnail for %s: %s", digest, exc)
    embedded = [
        (ids[i], PhotoMeta(str(batch["hash"][i]), int(batch["width"][i]),
                           int(batch["height"][i]), str(batch["captured_at"][i]) or None,
                           str(batch["camera"][i]) or None), batch["vector"][i])
        for i in np.flatnonzero(ok)
    ]
    failed = [(ids[i], reasons[i]) for i in np.flatnonzero(~ok)]
    classes, probs = batch["classes"][ok], batch["probs"][ok]
    keywords = None
    if hashes and (classes >= 0).all():  # real weights name ImageNet classes
        def keywords(conn: Any) -> None:
            write_keywords(conn, key, hashes, classes, probs)
    described = None
    if regions is not None and "region_raw" in batch:
        rows = [i for i in np.flatnonzero(ok) if np.asarray(batch["region_raw"][i]).size]
        described = regions.described([ids[i] for i in rows],
                                      [np.asarray(batch["region_boxes"][i]) for i in rows],
                                      [np.asarray(batch["region_raw"][i]) for i in rows])
    catalog.store_results(key, embedded, failed, writers_together(keywords, described))
    return len(embedded), len(failed)


def index_on_ray(library: Library, options: RayOptions,
                 cancel: threading.Event | None = None) -> Job[IndexResult]:
    """``lookalike index --ray``: scan here, embed the photos on the cluster, then the video
    clips here (their frames are chosen as they are decoded; see core.video), and keep the
    thumbnail cache within its limit."""
    from core.library import IndexResult, remember_model

    scanned = yield from library.scan(cancel)
    catalog = library.catalog
    with catalog.faults():
        remember_model(catalog, library.model_name, library.weights, library.layer)
        photos = yield from embed_on_ray(catalog, library.model_name, library.weights,
                                         options, cancel, library.layer)
        clips = None
        if any(is_video(p.path) for p in catalog.missing_embeddings(library.model_key)):
            clips = yield from index_clips(catalog, library.embedder, cancel,
                                           library.video_options)
    result = photos
    if clips is not None:
        result = EmbedResult(photos.embedded + clips.clips, photos.failed + clips.failed,
                             photos.seconds + clips.seconds, clips.clips, clips.frames)
    if result.embedded:
        thumbcache.prune()
    return IndexResult(scanned, result)
