"""The faces pass: find the faces of every photo not looked at yet, then group them.

A job like the others (:mod:`core.jobs`): progress at least every 0.1 s, cancel between
photos, each batch committed with the record that its photos were looked at, so a killed
pass resumes at the first photo not committed. A file that cannot be read is recorded
with the reason and the pass goes on. The new faces are grouped every few seconds during
the pass too (incrementally: they join known people first), so people appear as it goes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np

from core.catalog import Catalog
from core.errors import Cancelled
from core.faces.model import DETECTOR
from core.faces.store import FaceStore, GroupResult
from core.faces.worker import PhotoFaces, analyze, default_workers, start_pool
from core.jobs import Job, RateMeter, check_cancel
from core.video import is_video

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 1.0  # a killed pass loses at most about this much work
GROUP_EVERY_S = 3.0  # during the pass, new faces join people this often (the People tab
# shows them): at least, or 10x as long as the last grouping took (<= 10 % of the pass)
TICK_S = 0.1
SMALL_JOB = 8  # photos: by default, fewer are done in this process


@dataclass(frozen=True)
class FacesResult:
    """What a faces pass did."""

    photos: int  # photos looked at
    faces: int  # faces found in them
    failed: int  # files that could not be read
    seconds: float
    grouping: GroupResult

    @property
    def rate(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0


def photos_to_scan(catalog: Catalog) -> list[tuple[int, str, str | None]]:
    """[(photo id, path, content hash)] of the photos not looked at yet: one per content,
    and every photo not read yet (no hash: the pass reads it and records its hash). Video
    clips are not looked at (their files are not images, and may be gigabytes)."""
    rows = catalog.conn.execute(
        "SELECT min(id), content_hash FROM photos p WHERE content_hash IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM face_scans s WHERE s.content_hash = p.content_hash AND s.detector = ?)"
        " GROUP BY coalesce(content_hash, id) ORDER BY min(id)", (DETECTOR,)).fetchall()
    paths = {p.id: p.path for p in catalog.photos([r[0] for r in rows])}
    return [(pid, str(paths[pid]), digest) for pid, digest in rows
            if pid in paths and not is_video(paths[pid])]


def find_faces(catalog: Catalog, cancel: threading.Event | None = None, *,
               workers: int | None = None) -> Job[FacesResult]:
    """Find, describe and store the faces of every photo not looked at yet, then group
    the new faces into people. ``workers``: processes (default one per core, at most 4,
    none for up to :data:`SMALL_JOB` photos); 0 runs in this process (dlib then holds
    this process's GIL: the app always passes a number)."""
    start = time.perf_counter()
    todo = photos_to_scan(catalog)
    meter = RateMeter(len(todo))
    yield meter.progress("faces", 0, f"Looking for faces in {len(todo)} photos")
    done = found = failed = 0
    if todo:
        if workers is None:  # a few photos: starting the processes would cost more
            workers = default_workers() if len(todo) > SMALL_JOB else 0
        workers = min(workers, len(todo))
        pending: list[PhotoFaces] = []
        expected = {pid: h for pid, _p, h in todo}
        last_commit = last_group = time.perf_counter()
        group_every, ungrouped = GROUP_EVERY_S, 0
        try:
            for result in _results(todo, workers, cancel):
                if result is None:
                    yield meter.progress("faces", done, f"Looked at {done} of {len(todo)} photos")
                    continue
                pending.append(result)
                done += 1
                found += len(result.faces or ())
                failed += result.faces is None
                if time.perf_counter() - last_commit >= COMMIT_EVERY_S or done == len(todo):
                    _store(catalog, pending, expected)
                    ungrouped += sum(len(r.faces or ()) for r in pending)
                    pending.clear()
                    last_commit = time.perf_counter()
                    if ungrouped and done < len(todo) and last_commit - last_group >= group_every:
                        FaceStore(catalog).group()  # new faces appear in people as they come
                        last_group, ungrouped = time.perf_counter(), 0
                        group_every = max(GROUP_EVERY_S, 10 * (last_group - last_commit))
                    yield meter.progress("faces", done, f"Looked at {done} of {len(todo)} photos")
        except Cancelled:
            if pending:  # what was found before the cancel is kept
                _store(catalog, pending, expected)
            raise
    yield meter.progress("grouping", 0, "Grouping faces into people")
    check_cancel(cancel)
    grouped = FaceStore(catalog).group()
    return FacesResult(done, found, failed, time.perf_counter() - start, grouped)


def _results(todo: list[tuple[int, str, str | None]], workers: int,
             cancel: threading.Event | None) -> Iterator[PhotoFaces | None]:
    """Each photo's faces in order, and None every :data:`TICK_S` while waiting."""
    if workers <= 0:
        for photo_id, path, _digest in todo:
            check_cancel(cancel)
            yield analyze(photo_id, path)
        return
    pool: ProcessPoolExecutor = start_pool(workers)
    queue: deque[Future[PhotoFaces]] = deque()
    items = iter(todo)
    try:
        while True:
            while len(queue) < 4 * workers and (item := next(items, None)) is not None:
                queue.append(pool.submit(analyze, item[0], item[1]))
            if not queue:
                return
            check_cancel(cancel)
            try:
                result = queue[0].result(timeout=TICK_S)
            except FutureTimeout:
                yield None
                continue
            queue.popleft()
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _store(catalog: Catalog, results: list[PhotoFaces],
           expected: dict[int, str | None]) -> None:
    """Commit the faces of a few photos and the record that they were looked at."""
    now = time.time()
    with catalog.transaction() as tx:
        for result in results:
            known = expected[result.photo_id]
            digest = result.content_hash or known
            if known is not None and digest != known:  # changed since it was indexed
                _scanned(tx, known, -1, "changed since it was indexed", now)
            if digest is None:  # never read, and unreadable: the embedding pass says why
                continue
            if known is None:
                tx.execute("UPDATE photos SET content_hash = ? WHERE id = ? AND "
                           "content_hash IS NULL", (digest, result.photo_id))
            tx.execute("DELETE FROM faces WHERE content_hash = ? AND source = 'detector' "
                       "AND person_id IS NULL AND not_face = 0", (digest,))
            for face in result.faces or ():
                tx.execute(
                    "INSERT INTO faces (content_hash, x, y, w, h, score, descriptor, thumbnail)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (digest, face.x, face.y, face.w, face.h, face.score,
                     np.asarray(face.descriptor, np.float32).tobytes(), face.thumbnail))
            faces = -1 if result.faces is None else len(result.faces)
            _scanned(tx, digest, faces, result.reason, now)


def _scanned(tx: sqlite3.Connection, digest: str, faces: int, reason: str | None,
             now: float) -> None:
    tx.execute("INSERT OR REPLACE INTO face_scans (content_hash, faces, reason, detector, "
               "scanned_at) VALUES (?, ?, ?, ?, ?)", (digest, faces, reason, DETECTOR, now))
