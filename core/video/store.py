"""The catalog's video tables (migration 9): clips, their kept frames, and resume points.

A clip is a row of ``photos`` like any photo (path, size, content hash: a moved clip keeps
its row, so its frames and labels) plus a row of ``clips`` (duration, codec). Its kept frames
are rows of ``frames`` tied to the clip's row, one set per model, with their time, their
signature (to resume the scene choice) and their float16 embedding. The clip's own row in
``embeddings`` is its poster frame's (the first kept), written when the clip is complete:
until then the clip is "not embedded" and the embedding pass resumes it from
``clip_progress`` (the time decoded so far), inside the clip.

Frames enter the search index with negative ids (``-frames.id``), so one index holds photos
and frames; :func:`frame_owners` maps them back to their clip and time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog, PhotoMeta
from core.catalog.vectors import chunks


@dataclass(frozen=True)
class KeptFrame:
    """A frame the scene choice kept: its time (s), signature and embedding."""

    time: float
    signature: NDArray[np.float32]
    vector: NDArray[np.float32]


@dataclass(frozen=True)
class ClipFrame:
    """A kept frame as the catalog lists it (for the viewer's strip and the search)."""

    frame_id: int
    clip_id: int
    time: float


@dataclass(frozen=True)
class Resume:
    """Where an interrupted clip stops: the time decoded so far and the frames kept."""

    decoded_to: float
    frames: list[KeptFrame]


def frame_thumbnail_key(content_hash: str, time: float) -> str:
    """The thumbnail-cache key of a clip's frame at ``time`` (its own file in the cache)."""
    return f"{content_hash}-{round(time * 1000):09d}"


def save_frames(catalog: Catalog, clip_id: int, model: str, frames: Sequence[KeptFrame],
                decoded_to: float) -> None:
    """Commit kept frames and the time decoded so far, atomically."""
    with catalog.transaction() as tx:
        for frame in frames:
            tx.execute(
                "INSERT OR REPLACE INTO frames (photo_id, model, time, signature, vector) "
                "VALUES (?, ?, ?, ?, ?)",
                (clip_id, model, frame.time, _blob(frame.signature), _blob(frame.vector)))
        tx.execute(
            "INSERT OR REPLACE INTO clip_progress (photo_id, model, decoded_to) VALUES (?, ?, ?)",
            (clip_id, model, decoded_to))
        if frames:
            catalog.bump_generation(model, tx)


def finish_clip(catalog: Catalog, clip_id: int, model: str, meta: PhotoMeta,
                duration: float, codec: str) -> None:
    """Mark a clip complete: its metadata, its duration, its poster frame's embedding."""
    with catalog.transaction() as tx:
        row = tx.execute(
            "SELECT vector FROM frames WHERE photo_id = ? AND model = ? ORDER BY time LIMIT 1",
            (clip_id, model)).fetchone()
        if row is None:
            raise ValueError(f"clip {clip_id} has no kept frame")
        tx.execute(
            "UPDATE photos SET content_hash = ?, width = ?, height = ?, captured_at = ?, "
            "camera = ? WHERE id = ?",
            (meta.content_hash, meta.width, meta.height, meta.captured_at, meta.camera, clip_id))
        tx.execute("INSERT OR REPLACE INTO clips (photo_id, duration, codec) VALUES (?, ?, ?)",
                   (clip_id, duration, codec))
        tx.execute("INSERT OR REPLACE INTO embeddings (photo_id, model, vector) VALUES (?, ?, ?)",
                   (clip_id, model, row[0]))
        tx.execute("DELETE FROM clip_progress WHERE photo_id = ? AND model = ?",
                   (clip_id, model))
        catalog.bump_generation(model, tx)


def note_problem(catalog: Catalog, clip_id: int, reason: str) -> None:
    """A problem entry for a clip that stays indexed (read in part): listed with the
    problems, forgotten when the file changes, moves or goes."""
    with catalog.transaction() as tx:
        tx.execute(
            "INSERT OR REPLACE INTO problems (path, size, mtime_ns, reason, seen_at) "
            "SELECT path, size, mtime_ns, ?, ? FROM photos WHERE id = ?",
            (reason, time.time(), clip_id))


def resume_point(catalog: Catalog, clip_id: int, model: str) -> Resume | None:
    """Where an interrupted pass stopped inside this clip, or None to start at 0."""
    row = catalog.conn.execute(
        "SELECT decoded_to FROM clip_progress WHERE photo_id = ? AND model = ?",
        (clip_id, model)).fetchone()
    if row is None:
        return None
    kept = [KeptFrame(t, np.frombuffer(s, np.float16).astype(np.float32),
                      np.frombuffer(v, np.float16).astype(np.float32))
            for t, s, v in catalog.conn.execute(
                "SELECT time, signature, vector FROM frames WHERE photo_id = ? AND model = ? "
                "ORDER BY time", (clip_id, model))]
    return Resume(float(row[0]), kept)


def forget_frames(tx: sqlite3.Connection, clip_id: int) -> None:
    """Drop a changed clip's frames and resume points (every model), in ``tx``."""
    tx.execute("DELETE FROM frames WHERE photo_id = ?", (clip_id,))
    tx.execute("DELETE FROM clip_progress WHERE photo_id = ?", (clip_id,))
    tx.execute("DELETE FROM clips WHERE photo_id = ?", (clip_id,))


def clip_frames(catalog: Catalog, clip_id: int, model: str) -> list[ClipFrame]:
    """A clip's kept frames for ``model``, in time order."""
    rows = catalog.conn.execute(
        "SELECT id, time FROM frames WHERE photo_id = ? AND model = ? ORDER BY time",
        (clip_id, model))
    return [ClipFrame(int(i), clip_id, float(t)) for i, t in rows]


def frame_vector(catalog: Catalog, frame_id: int) -> NDArray[np.float32]:
    """The embedding of one kept frame. Raises KeyError if there is none."""
    row = catalog.conn.execute("SELECT vector FROM frames WHERE id = ?", (frame_id,)).fetchone()
    if row is None:
        raise KeyError(f"no frame {frame_id}")
    return np.frombuffer(row[0], np.float16).astype(np.float32)


def durations(catalog: Catalog, ids: Iterable[int] | None = None) -> dict[int, float]:
    """Clip id -> duration in seconds, for every clip or those among ``ids``."""
    if ids is None:
        return {int(i): float(d) for i, d in
                catalog.conn.execute("SELECT photo_id, duration FROM clips")}
    out: dict[int, float] = {}
    for chunk in chunks([int(i) for i in ids], 900):
        marks = ",".join("?" * len(chunk))
        for i, d in catalog.conn.execute(
                f"SELECT photo_id, duration FROM clips WHERE photo_id IN ({marks})", chunk):
            out[int(i)] = float(d)
    return out


def frame_embeddings(catalog: Catalog, model: str
                     ) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
    """Every kept frame's embedding of ``model`` with its search id (``-frames.id``)."""
    rows = catalog.conn.execute(
        "SELECT id, vector FROM frames WHERE model = ? ORDER BY id", (model,)).fetchall()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    ids = -np.fromiter((r[0] for r in rows), np.int64, len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
    return ids, vectors


def frame_owners(catalog: Catalog, frame_ids: Iterable[int]) -> dict[int, tuple[int, float]]:
    """Frame id -> (clip id, time)."""
    out: dict[int, tuple[int, float]] = {}
    for chunk in chunks([int(i) for i in frame_ids], 900):
        marks = ",".join("?" * len(chunk))
        for i, clip, t in catalog.conn.execute(
                f"SELECT id, photo_id, time FROM frames WHERE id IN ({marks})", chunk):
            out[int(i)] = (int(clip), float(t))
    return out


def clip_frame_ids(catalog: Catalog, clip_ids: Iterable[int], model: str) -> list[int]:
    """The search ids (negative) of the kept frames of these clips."""
    out: list[int] = []
    for chunk in chunks([int(i) for i in clip_ids], 900):
        marks = ",".join("?" * len(chunk))
        out += [-int(r[0]) for r in catalog.conn.execute(
            f"SELECT id FROM frames WHERE model = ? AND photo_id IN ({marks})", (model, *chunk))]
    return out


def _blob(values: NDArray[np.floating]) -> bytes:
    return np.asarray(values, dtype=np.float16).tobytes()


def nearest_frame(catalog: Catalog, clip_id: int, model: str, at: float) -> ClipFrame | None:
    """The kept frame of a clip nearest to ``at`` seconds (None if it has none)."""
    row = catalog.conn.execute(
        "SELECT id, time FROM frames WHERE photo_id = ? AND model = ? "
        "ORDER BY abs(time - ?), time LIMIT 1", (clip_id, model, at)).fetchone()
    return ClipFrame(int(row[0]), clip_id, float(row[1])) if row else None


def clip_frame_vectors(catalog: Catalog, clip_id: int, model: str
                       ) -> tuple[NDArray[np.float64], NDArray[np.float16]]:
    """A clip's kept frames' (times, float16 embeddings) for ``model``, in time order."""
    rows = catalog.conn.execute(
        "SELECT time, vector FROM frames WHERE photo_id = ? AND model = ? ORDER BY time",
        (clip_id, model)).fetchall()
    if not rows:
        return np.zeros(0), np.zeros((0, 0), np.float16)
    times = np.array([r[0] for r in rows], dtype=np.float64)
    return times, np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
