"""The embedding pass over clips: decode, keep one frame per scene, embed, commit, resume.

Each clip is hashed (as photos are: a moved clip is recognised), then decoded streaming
(:class:`~core.video.reader.ClipDecoder`); each sampled frame's signature is compared with
the last kept frame's, and candidates are embedded and confirmed
(:class:`~core.video.scenes.SceneKeeper`). Kept frames get a thumbnail and are committed with
the time decoded so far at least every :data:`COMMIT_EVERY_S`, so a cancelled or killed pass
resumes inside the clip. A clip that cannot be read moves to the problems table with the
reason; the pass goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core import decode, thumbnails
from core.catalog import Catalog, Photo, PhotoMeta
from core.errors import UnreadableImage
from core.jobs import Job, Progress, check_cancel
from core.video import store
from core.video.formats import is_video
from core.video.reader import ClipDecoder, probe
from core.video.scenes import SceneKeeper, SceneOptions, signature

if TYPE_CHECKING:
    from core.embed.cnn import Embedder

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 0.5
PROGRESS_EVERY_S = 0.1
FRAME_SIDE = 256  # decoded frames' shorter side: the model input (224) and the thumbnail


@dataclass(frozen=True)
class ClipResult:
    """What a pass over the clips did."""

    clips: int
    frames: int
    failed: int
    seconds: float


def unrelated_distance(catalog: Catalog, embedder: Embedder) -> float:
    """The model's mean cosine distance between four unrelated pictures (a gradient, noise,
    colour blocks, another gradient): the unit of :attr:`SceneOptions.embedding_change`, so
    one setting suits every model (resnet50 with random weights: 0.0019, where two frames of
    one pan are 0.0001-0.0004 apart and two photos 0.001-0.002).
    Measured once per model and kept in the catalog."""
    key = f"video:unrelated:{embedder.key}"
    saved = catalog.get_meta(key)
    if saved is not None:
        return float(saved)
    size = embedder.input_size
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size)
    gx, gy = np.meshgrid(ramp, ramp)
    pictures = [
        np.stack([gx, gy, np.full_like(gx, 128)], -1),
        rng.integers(0, 256, (size, size, 3)),
        np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((size // 8 + 1, size // 8 + 1, 1))
                )[:size, :size],
        np.stack([255 - gy, np.full_like(gx, 60), gx], -1),
    ]
    vectors = embedder.embed_arrays([p.astype(np.uint8) for p in pictures])
    sims = vectors @ vectors.T
    distance = float(np.mean(1.0 - sims[np.triu_indices(len(vectors), 1)]))
    with catalog.transaction() as tx:
        catalog.set_meta(key, repr(distance), tx)
    return distance


def index_clips(catalog: Catalog, embedder: Embedder, cancel: threading.Event | None = None,
                options: SceneOptions | None = None) -> Job[ClipResult]:
    """Embed every clip of the catalog that is not complete for ``embedder.key`` yet."""
    options = options or SceneOptions()
    todo = [p for p in catalog.missing_embeddings(embedder.key) if is_video(p.path)]
    start = time.perf_counter()
    if not todo:
        return ClipResult(0, 0, 0, 0.0)
    unrelated = unrelated_distance(catalog, embedder)
    done = frames = failed = 0
    for clip in todo:
        check_cancel(cancel)
        label = f"Clip {done + failed + 1} of {len(todo)}"
        try:
            frames += yield from _index_clip(catalog, embedder, clip, options, unrelated,
                                             cancel, label, done + failed, len(todo))
            done += 1
        except UnreadableImage as exc:
            log.info("skipping %s: %s", exc.path, exc.reason)
            catalog.store_results(embedder.key, [], [(clip.id, exc.reason)])
            failed += 1
    yield Progress("video", len(todo), len(todo), f"{done} clips, {frames} frames kept")
    return ClipResult(done, frames, failed, time.perf_counter() - start)


def _index_clip(catalog: Catalog, embedder: Embedder, clip: Photo, options: SceneOptions,
                unrelated: float, cancel: threading.Event | None, label: str, position: int,
                total: int) -> Job[int]:
    """Index one clip (resuming where an interrupted pass stopped); return its kept frames."""
    digest = decode.file_hash(clip.path)
    info = probe(clip.path)
    keeper = SceneKeeper(options, unrelated)
    resume = store.resume_point(catalog, clip.id, embedder.key)
    begin = 0.0
    kept = 0
    if resume is not None and resume.frames:
        last = resume.frames[-1]
        keeper.restore(len(resume.frames), last.time, last.signature, last.vector)
        begin, kept = resume.decoded_to, len(resume.frames)
    decoder = ClipDecoder(clip.path, side=FRAME_SIDE, start=begin, every=options.sample_every)
    pending: list[store.KeptFrame] = []
    last_commit = last_progress = time.monotonic()
    seen_to = begin
    for frame in decoder:
        check_cancel(cancel)
        seen_to = frame.time
        sig = signature(frame.pixels)
        if keeper.is_candidate(frame.time, sig):
            image = Image.fromarray(frame.pixels)
            vector = embedder.embed_arrays([decode.model_input(image, embedder.input_size)])[0]
            if keeper.confirm(frame.time, sig, vector):
                _save_thumbnails(digest, frame.time, image, first=kept == 0)
                pending.append(store.KeptFrame(frame.time, sig, vector))
                kept += 1
        now = time.monotonic()
        if now - last_commit >= COMMIT_EVERY_S:
            store.save_frames(catalog, clip.id, embedder.key, pending, seen_to)
            pending.clear()
            last_commit = now
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            yield Progress("video", position, total,
                           f"{label}: {clock(seen_to)} of {clock(info.duration)}, "
                           f"{kept} frames kept")
    store.save_frames(catalog, clip.id, embedder.key, pending, seen_to)
    duration = max(decoder.end, seen_to)
    meta = PhotoMeta(digest, info.width, info.height, None, None)
    store.finish_clip(catalog, clip.id, embedder.key, meta, duration, info.codec)
    reason = partial_reason(decoder.cut, info.duration, duration)
    if reason:
        log.info("%s: %s", clip.path, reason)
        store.note_problem(catalog, clip.id, reason)
    return kept


def partial_reason(cut: bool, claimed: float, decoded_to: float) -> str | None:
    """The problem entry of a clip indexed only in part, or None: its data breaks off
    (``cut``), or its container claims more than its frames hold (a header written for a
    longer recording, or a lie: a file cannot tell which)."""
    longer = claimed - decoded_to > max(1.0, 0.05 * decoded_to)
    if cut:
        of = f" of {clock(claimed)}" if longer else ""
        return (f"incomplete video (truncated?): decoded to {clock(decoded_to)}{of}; "
                "indexed as far as it goes")
    if longer:
        return (f"its header says it lasts {clock(claimed)} but its pictures end at "
                f"{clock(decoded_to)} (incomplete, or a wrong header); indexed up to "
                f"{clock(decoded_to)}")
    return None


def _save_thumbnails(digest: str, at: float, image: Image.Image, *, first: bool) -> None:
    try:
        thumbnails.save(store.frame_thumbnail_key(digest, at), image)
        if first:
            thumbnails.save(digest, image)  # the clip's poster: its tile in the grid
    except OSError as exc:  # cache full or read-only: the frames are fine
        log.warning("no thumbnail for a frame of a clip: %s", exc)


def clock(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) for a time in a clip."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def moment_pixels(path: Path, at: float = 0.0, side: int = FRAME_SIDE) -> NDArray[np.uint8]:
    """The RGB picture of a clip at ``at`` seconds, shorter side ``side`` (the first decoded
    frame at or after it: a query from an outside clip, the viewer). Raises UnreadableImage."""
    for frame in ClipDecoder(path, side=side, start=max(0.0, at), every=0.0,
                             fast=side <= FRAME_SIDE):
        return frame.pixels
    raise UnreadableImage(path, f"no picture at {clock(at)} in this video")
