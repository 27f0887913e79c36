"""One photo's faces, computed in a worker process (or in-process for small jobs).

dlib holds the GIL for the whole of a detection (40-100 ms): in the app's threads that
would freeze the window and use one core. A pool of
``spawn``-ed processes (each loads the models once) keeps the window free and uses every
core. Only paths go in and small results come out. (Like any ``spawn`` pool, a script
that runs a faces pass needs the ``if __name__ == "__main__":`` guard; the app, the
``lookalike`` command and pytest have it.)
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core import decode
from core.errors import UnreadableImage
from core.faces.model import DECODE_MIN_SIDE, FoundFace, face_model
from core.jobs import BACKGROUND_NICE

log = logging.getLogger(__name__)
PARENT_POLL_S = 0.5


@dataclass(frozen=True)
class PhotoFaces:
    """The faces of one file (``faces`` None and ``reason`` set if it could not be read)."""

    photo_id: int
    content_hash: str | None
    faces: tuple[FoundFace, ...] | None
    reason: str | None = None


def analyze(photo_id: int, path: str) -> PhotoFaces:
    """Decode ``path`` small (JPEG DCT scaling), upright, and find its faces. Never raises
    for a bad file: the reason comes back instead."""
    try:
        decoded = decode.decode_file(Path(path), min_side=DECODE_MIN_SIDE)
    except UnreadableImage as exc:
        return PhotoFaces(photo_id, None, None, exc.reason)
    except Exception as exc:
        log.exception("unexpected error while reading %s", path)
        return PhotoFaces(photo_id, None, None, f"could not be read ({type(exc).__name__})")
    faces = face_model().find(decoded.image)
    return PhotoFaces(photo_id, decoded.content_hash, tuple(faces))


def _init_worker(parent: int) -> None:
    """In each worker process: lower priority (the app's window comes first), watch for the
    parent's death (a killed app or command must not leave its workers behind: they would
    wait for work forever), load the models."""
    with contextlib.suppress(OSError):  # not allowed: run at normal priority
        os.nice(BACKGROUND_NICE)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True,
                     name="lookalike-parent-watch").start()
    face_model()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def default_workers() -> int:
    """Worker processes for the faces pass: one per core, at most 4 (each holds ~150 MB)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def start_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh (spawned: safe from a threaded app) processes."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(),))
