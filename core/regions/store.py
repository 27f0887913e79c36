"""The catalog's region descriptors and their reduction (tables ``regions`` and
``region_reductions``, migration 5)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog, Photo
from core.regions.grid import MAX_REGIONS
from core.regions.pca import RegionReduction, decode_codes, encode
from core.video import is_video


def generation_key(model: str) -> str:
    """The catalog generation that changes whenever the regions of ``model`` change."""
    return f"{model}#regions"


def load_reduction(catalog: Catalog, model: str) -> RegionReduction | None:
    """The reduction learned for ``model``, or None before the first regions are stored."""
    row = catalog.conn.execute(
        "SELECT mean, axes, scales, photos FROM region_reductions WHERE model = ?", (model,)
    ).fetchone()
    if row is None:
        return None
    mean = np.frombuffer(row[0], np.float32)
    scales = np.frombuffer(row[2], np.float32)
    axes = np.frombuffer(row[1], np.float32).reshape(len(scales), len(mean))
    return RegionReduction(mean, axes, scales, int(row[3]))


def save_reduction(tx: sqlite3.Connection, model: str, reduction: RegionReduction) -> None:
    tx.execute(
        "INSERT OR REPLACE INTO region_reductions (model, mean, axes, scales, photos, fitted_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (model, reduction.mean.tobytes(), reduction.axes.tobytes(), reduction.scales.tobytes(),
         reduction.photos, time.time()))


def write_regions(catalog: Catalog, tx: sqlite3.Connection, model: str,
                  rows: Sequence[tuple[int, NDArray[np.float32], NDArray[np.float32]]]) -> None:
    """Store ``(photo id, boxes (R, 4), codes (R, dim))`` rows in transaction ``tx``."""
    for photo_id, boxes, codes in rows:
        tx.execute(
            "INSERT OR REPLACE INTO regions (photo_id, model, boxes, vectors) "
            "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM photos WHERE id = ?)",
            (int(photo_id), model, np.asarray(boxes, np.float16).tobytes(),
             encode(codes).tobytes(), int(photo_id)))
    if rows:
        catalog.bump_generation(generation_key(model), tx)


PENDING_BLOCK = 8  # photos read at a time while learning the reduction (~1 MB)


def write_pending(tx: sqlite3.Connection, model: str,
                  rows: Sequence[tuple[int, NDArray[np.float32], NDArray[np.float32]]]) -> None:
    """Keep ``(photo id, boxes, raw descriptors)`` rows until the reduction is learned."""
    tx.executemany(
        "INSERT OR REPLACE INTO region_pending (photo_id, model, boxes, raw) "
        "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM photos WHERE id = ?)",
        [(int(i), model, np.asarray(b, np.float16).tobytes(),
          np.asarray(r, np.float16).tobytes(), int(i)) for i, b, r in rows])


def pending_count(catalog: Catalog, model: str) -> int:
    """Photos whose raw descriptors wait for ``model``'s reduction."""
    return int(catalog.conn.execute(
        "SELECT count(*) FROM region_pending WHERE model = ?", (model,)).fetchone()[0])


def pending_blocks(catalog: Catalog, model: str, conn: sqlite3.Connection | None = None
                   ) -> Iterator[list[tuple[int, NDArray[np.float32], NDArray[np.float32]]]]:
    """The waiting rows, :data:`PENDING_BLOCK` photos at a time, as float32."""
    for rows in _pages(conn or catalog.conn, "region_pending", "raw", model, PENDING_BLOCK):
        block = []
        for photo_id, boxes, raw in rows:
            b = np.frombuffer(boxes, np.float16).astype(np.float32).reshape(-1, 4)
            r = np.frombuffer(raw, np.float16).astype(np.float32).reshape(len(b), -1)
            block.append((int(photo_id), b, r))
        yield block


def _pages(conn: sqlite3.Connection, table: str, column: str, model: str, size: int
           ) -> Iterator[list[tuple[int, bytes, bytes]]]:
    """(photo_id, boxes, ``column``) rows of ``table`` for ``model``, ``size`` photos at a
    time in id order (keyset paging: each page is an index range)."""
    last = -1
    while True:
        rows = conn.execute(
            f"SELECT photo_id, boxes, {column} FROM {table} WHERE model = ? AND photo_id > ? "
            "ORDER BY photo_id LIMIT ?", (model, last, size)).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def missing_regions(catalog: Catalog, model: str) -> list[Photo]:
    """Photos (not clips) embedded with ``model`` with no regions stored or waiting (a
    library indexed before regions existed, a rebuild that lost them, a cluster pass of an
    older version, or regions of an older format dropped)."""
    rows = catalog.conn.execute(
        "SELECT p.id FROM photos p JOIN embeddings e ON e.photo_id = p.id AND e.model = ? "
        "WHERE NOT EXISTS (SELECT 1 FROM regions r WHERE r.photo_id = p.id AND r.model = ?) "
        "AND NOT EXISTS (SELECT 1 FROM region_pending w WHERE w.photo_id = p.id AND "
        "w.model = ?) ORDER BY p.id", (model, model, model))
    photos = catalog.photos([r[0] for r in rows])
    return [p for p in photos if not is_video(p.path)]


def region_count(catalog: Catalog, model: str) -> int:
    """How many photos have regions stored for ``model``."""
    return int(catalog.conn.execute(
        "SELECT count(*) FROM regions WHERE model = ?", (model,)).fetchone()[0])


def photo_regions(catalog: Catalog, photo_id: int, model: str
                  ) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """(boxes (R, 4), codes (R, dim)) of one photo, or None."""
    row = catalog.conn.execute(
        "SELECT boxes, vectors FROM regions WHERE photo_id = ? AND model = ?",
        (int(photo_id), model)).fetchone()
    reduction = load_reduction(catalog, model)
    if row is None or reduction is None:
        return None
    boxes = np.frombuffer(row[0], np.float16).reshape(-1, 4).astype(np.float32)
    return boxes, decode_codes(row[1], len(boxes), reduction.dim)


def all_regions(catalog: Catalog, model: str
                ) -> tuple[NDArray[np.int64], NDArray[np.float16], NDArray[np.float16]]:
    """Every stored region of ``model``: (region ids ``photo_id * MAX_REGIONS + r``,
    boxes (n, 4), codes (n, dim)), float16, in id order."""
    reduction = load_reduction(catalog, model)
    dim = reduction.dim if reduction is not None else 0
    ids: list[NDArray[np.int64]] = []
    boxes: list[NDArray[np.float16]] = []
    codes: list[NDArray[np.float16]] = []
    cursor = catalog.conn.execute(
        "SELECT photo_id, boxes, vectors FROM regions WHERE model = ? ORDER BY photo_id",
        (model,))
    while rows := cursor.fetchmany(2048):
        for photo_id, box_blob, code_blob in rows:
            b = np.frombuffer(box_blob, np.float16).reshape(-1, 4)
            ids.append(photo_id * MAX_REGIONS + np.arange(len(b), dtype=np.int64))
            boxes.append(b)
            codes.append(decode_codes(code_blob, len(b), dim).astype(np.float16))
    if not ids:
        return (np.zeros(0, np.int64), np.zeros((0, 4), np.float16),
                np.zeros((0, 0), np.float16))
    return np.concatenate(ids), np.concatenate(boxes), np.concatenate(codes)


CODE_BLOCK = 4096  # photos read at a time when codes are read or rewritten in order


def code_blocks(catalog: Catalog, model: str, dim: int, conn: sqlite3.Connection | None = None
                ) -> Iterator[tuple[list[int], list[bytes], NDArray[np.float32]]]:
    """The stored regions of ``model`` (codes of ``dim``) :data:`CODE_BLOCK` photos at a
    time: (photo ids, their boxes blobs, all their codes ``(n, dim)`` stacked; each photo
    has as many regions as its boxes)."""
    for rows in _pages(conn or catalog.conn, "regions", "vectors", model, CODE_BLOCK):
        codes = [decode_codes(v, len(b) // 8, dim) for _i, b, v in rows]
        yield [int(r[0]) for r in rows], [r[1] for r in rows], np.concatenate(codes)


def recode_regions(catalog: Catalog, tx: sqlite3.Connection, model: str,
                   reduction: RegionReduction,
                   recode: Callable[[NDArray[np.float32]], NDArray[np.float32]]) -> None:
    """Save ``reduction`` and rewrite every stored code of ``model`` through ``recode`` (old
    codes -> the new reduction's), in transaction ``tx``."""
    save_reduction(tx, model, reduction)
    for ids, boxes, codes in code_blocks(catalog, model, reduction.dim, tx):
        new = encode(recode(codes))
        sizes = np.cumsum([0] + [len(b) // 8 for b in boxes])
        tx.executemany("UPDATE regions SET vectors = ? WHERE photo_id = ? AND model = ?",
                       [(new[sizes[j]:sizes[j + 1]].tobytes(), i, model)
                        for j, i in enumerate(ids)])
    catalog.bump_generation(generation_key(model), tx)


def drop_older_format(catalog: Catalog, model: str) -> bool:
    """Drop ``model``'s regions, reduction and waiting descriptors if its codes are of the
    older format (float16, before int8: see :func:`core.regions.pca.decode_codes`), so that
    the indexing pass describes those photos again; until then they are searched as they
    are. Returns whether it dropped them."""
    reduction = load_reduction(catalog, model)
    row = catalog.conn.execute(
        "SELECT length(boxes), length(vectors) FROM regions WHERE model = ? LIMIT 1",
        (model,)).fetchone()
    if reduction is None or row is None or row[1] == row[0] // 8 * reduction.dim:
        return False
    with catalog.transaction() as tx:
        for table in ("regions", "region_reductions", "region_pending"):
            tx.execute(f"DELETE FROM {table} WHERE model = ?", (model,))
        catalog.bump_generation(generation_key(model), tx)
    return True
