"""Turning photos into embeddings: the parallel indexing pipeline around the CNN.

The CNN itself is :class:`core.embed.cnn.Embedder` (it may import torch, which takes seconds:
this module does not, so the app can list a library before torch is loaded). Decoding runs
in a pool of threads (Pillow releases the GIL; JPEGs are DCT-downscaled in draft mode) that
each read a file once, hash it, write its thumbnail and prepare the 224 px model input; the
calling thread batches those inputs through the CNN and commits each batch to the catalog, so an
interrupted run loses at most one batch.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core import decode, thumbnails
from core.catalog import Catalog, Photo, PhotoMeta
from core.errors import UnreadableImage
from core.jobs import Job, RateMeter, check_cancel
from core.keywords.store import write_keywords
from core.regions.describe import RegionWriter
from core.regions.store import missing_regions
from core.video import is_video

if TYPE_CHECKING:
    from core.embed.cnn import Embedder
    from core.embed.outputs import Outputs

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class EmbedResult:
    """What an embedding pass did."""

    embedded: int
    failed: int
    seconds: float
    clips: int = 0  # of ``embedded``, video clips (core.video)
    frames: int = 0  # the clips' kept frames
    described: int = 0  # photos embedded before that were run again for their regions only

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Prepared:
    photo: Photo
    meta: PhotoMeta
    pixels: NDArray[np.uint8]
    size: tuple[int, int]  # of the decoded upright image: where its regions are


def decode_workers() -> int:
    """Threads that read photos in the indexing pipeline (one per core, at most 8)."""
    return min(8, os.cpu_count() or 2)


def torch_threads() -> int:
    """Threads torch uses for one batch on the CPU."""
    import torch

    return torch.get_num_threads()


def read_photo(path: Path, input_size: int) -> decode.Decoded:
    """Decode a photo as small as the model input and the thumbnail allow (draft mode)."""
    return decode.decode_file(path, min_side=max(input_size, thumbnails.THUMBNAIL_SIZE))


def read_for_model(path: Path, input_size: int
                   ) -> tuple[decode.Decoded, PhotoMeta, NDArray[np.uint8]]:
    """Read one photo once: the decoded image, its metadata for the catalog and the model
    input (here and on a cluster's workers, core.cluster). Raises UnreadableImage."""
    decoded = read_photo(path, input_size)
    info = decoded.info
    meta = PhotoMeta(decoded.content_hash, info.width, info.height, info.captured_at, info.camera)
    return decoded, meta, decode.model_input(decoded.image, input_size)


def prepare(photo: Photo, input_size: int) -> _Prepared:
    """Read one photo (in a worker thread): metadata, cached thumbnail, model input."""
    decoded, meta, pixels = read_for_model(photo.path, input_size)
    try:
        thumbnails.save(decoded.content_hash, decoded.image)
    except OSError as exc:  # cache full or read-only: the photo is fine, the grid
        log.warning("no thumbnail for %s: %s", photo.path, exc)  # remakes it later
    return _Prepared(photo, meta, pixels, decoded.image.size)




def embed_missing(
    catalog: Catalog,
    embedder: Embedder,
    cancel: threading.Event | None = None,
    *,
    workers: int | None = None,
    batch_size: int | None = None,
) -> Job[EmbedResult]:
    """Embed every photo of the catalog that has no embedding for ``embedder.key`` yet, and
    store its top ImageNet classes (keywords) and its region descriptors
    (:mod:`core.regions`) from the same forward pass (keywords when the model has real
    weights; video clips are left to :func:`core.video.index_clips`). Photos embedded before
    regions existed (or with their regions dropped, core.regions.store) are run again for them.

    Files that cannot be read move to the problems table with the reason; the pass goes on.
    """
    regions = RegionWriter(catalog, embedder.key)  # first: it may drop an older format's
    todo = [p for p in catalog.missing_embeddings(embedder.key) if not is_video(p.path)]
    regions_only = {p.id for p in missing_regions(catalog, embedder.key)}
    todo = sorted(todo + catalog.photos(sorted(regions_only)), key=lambda p: p.id)
    meter = RateMeter(len(todo))
    start = time.perf_counter()
    batch_size = batch_size or embedder.batch_size
    workers = workers or decode_workers()
    embedded = failed = described = 0
    yield meter.progress("embedding", 0, f"Embedding {len(todo)} photos")
    if not todo:
        regions.flush(final=True)  # a pass stopped after its last batch left some waiting
        return EmbedResult(0, 0, 0.0)
    pending: deque[tuple[Photo, Future[_Prepared]]] = deque()
    queue = iter(todo)
    window = max(2 * batch_size, 4 * workers)
    with ThreadPoolExecutor(workers, thread_name_prefix="lookalike-decode") as pool:

        def refill() -> None:
            while len(pending) < window:
                photo = next(queue, None)
                if photo is None:
                    return
                pending.append((photo, pool.submit(prepare, photo, embedder.input_size)))

        try:
            refill()
            while pending:
                check_cancel(cancel)
                ready: list[_Prepared] = []
                errors: list[tuple[int, str]] = []
                while pending and len(ready) + len(errors) < batch_size:
                    photo, future = pending.popleft()
                    result = _outcome(future)
                    if isinstance(result, str):
                        errors.append((photo.id, result))
                    else:
                        ready.append(result)
                    refill()
                out = embedder.run_arrays([p.pixels for p in ready], maps=True)
                catalog.store_results(
                    embedder.key,
                    [(p.photo.id, p.meta, v) for p, v in zip(ready, out.vectors, strict=True)],
                    errors,
                    writers_together(
                        keyword_writer(embedder.key, [p.meta.content_hash for p in ready], out),
                        regions.batch([p.photo.id for p in ready], [p.size for p in ready],
                                      out.maps)),
                )
                again = sum(p.photo.id in regions_only for p in ready)
                embedded += len(ready) - again
                described += again
                failed += len(errors)
                done = embedded + described + failed
                note = regions.due()
                if note:
                    yield meter.progress("embedding", done, note)
                regions.flush()
                yield meter.progress("embedding", done, f"Embedded {done} of {len(todo)}")
            note = regions.due(final=True)
            if note:
                yield meter.progress("embedding", len(todo), note)
            regions.flush(final=True)
        finally:
            for _photo, future in pending:
                future.cancel()
    return EmbedResult(embedded, failed, time.perf_counter() - start, described=described)


def writers_together(*writers: Callable[[sqlite3.Connection], None] | None
              ) -> Callable[[sqlite3.Connection], None] | None:
    """One writer doing ``writers`` (those not None) in order, or None."""
    todo = [w for w in writers if w is not None]
    if not todo:
        return None

    def write(conn: sqlite3.Connection) -> None:
        for w in todo:
            w(conn)

    return write


def keyword_writer(
    model: str, hashes: list[str], out: Outputs
) -> Callable[[sqlite3.Connection], None] | None:
    """Writes a batch's keywords (photos ``hashes``, in the order of ``out``) in the batch's
    transaction (None: the model names none)."""
    if out.classes is None or out.probs is None or not hashes:
        return None
    classes, probs = out.classes, out.probs
    return lambda conn: write_keywords(conn, model, hashes, classes, probs)


def failure_reason(exc: Exception) -> str:
    """Why a photo could not be read, in the words the problems table keeps."""
    if isinstance(exc, UnreadableImage):
        log.info("skipping %s: %s", exc.path, exc.reason)
        return exc.reason
    log.error("unexpected error while reading a photo", exc_info=exc)
    return f"could not be read ({type(exc).__name__}: {exc})"


def _outcome(future: Future[_Prepared]) -> _Prepared | str:
    """The prepared input, or the reason the photo could not be read."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - every failure is one photo's problem
        return failure_reason(exc)
