"""Rebuilding a damaged catalog (or one from a newer Lookalike) without losing labels.

:func:`rebuild` takes the library's writer lock, moves the catalog aside as
``catalog.sqlite.damaged-<timestamp>`` (kept, never deleted), starts a new one and copies
from the old file, read-only and row by row, whatever can still be read: label sets,
labels, assignments and trained heads, people (persons, faces, corrections: like labels
they are keyed by content hash, so they apply to the new catalog as they are), then photo
records and embeddings whose vectors check out, the files known to be unreadable, the keywords,
the duplicates' pick/reject decisions and the model the library was indexed with, so that
work already done is not redone. Rows on damaged pages are lost; the next ``index`` scans
and embeds what is missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import paths
from core.catalog.database import Catalog

log = logging.getLogger(__name__)

# Copied in this order (foreign keys point to earlier tables).
LABEL_TABLES: tuple[str, ...] = ("label_sets", "labels", "assignments", "heads")
LABEL_TABLES += ("judgements", "similarities")  # the user's similarity judgements, learnt
PEOPLE_TABLES = ("persons", "faces", "face_rejections", "face_scans")  # keyed by content hash
WORK_TABLES = ("photos", "embeddings", "problems")
# copied when the old catalog has them (keywords: schema 4 on; duplicate decisions: 7 on;
# video clips, their kept frames and resume points: 9 on)
LATER_TABLES: tuple[str, ...] = ("keywords", "duplicate_decisions", "clips", "frames",
                               "clip_progress")
LATER_TABLES += ("region_reductions", "regions", "region_pending")  # 5 and 16 on
REMEMBERED = ("model", "weights", "layer")  # meta keys: what the library was indexed with


@dataclass(frozen=True)
class Rebuilt:
    """What :func:`rebuild` did. ``old`` is None when there was no catalog to move."""

    path: Path
    old: Path | None
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows recovered
    errors: dict[str, str] = field(default_factory=dict)  # table -> why it stopped

    def summary(self) -> str:
        """One line for the user."""
        if self.old is None:
            return f"Created a new catalog {paths.display(self.path)}."
        parts = [f"Moved the old catalog to {paths.display(self.old)} and started a new one."]
        if any(self.rows.values()):
            r = self.rows.get
            parts.append(
                f"Recovered from it: {r('label_sets', 0)} label sets, {r('assignments', 0)} "
                f"label decisions, {r('heads', 0)} trained heads, {r('faces', 0)} faces of "
                f"{r('persons', 0)} people, {r('embeddings', 0)} "
                f"embeddings of {r('photos', 0)} photos."
            )
        else:
            parts.append("Nothing could be recovered from it.")
        return " ".join(parts)


def rebuild(root: Path, catalog_path: Path | None = None) -> Rebuilt:
    """Set the catalog of ``root`` aside, create a new one and recover what can be read.

    Raises CatalogInUse if another Lookalike process has the library open, CatalogError if
    the catalog's folder is not writable.
    """
    suffix = _free_suffix(root, catalog_path)
    with Catalog.open(root, catalog_path, create=True, lock=True, set_aside=suffix) as catalog:
        old = catalog.path.with_name(catalog.path.name + suffix)
        if not old.exists():
            return Rebuilt(catalog.path, None)
        rows: dict[str, int] = {}
        errors: dict[str, str] = {}
        try:
            source = sqlite3.connect(f"{old.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            errors["*"] = str(exc)
            source = None
        if source is not None:
            with closing(source):
                for table in (LABEL_TABLES + PEOPLE_TABLES + WORK_TABLES
                              + _present(source, LATER_TABLES)):
                    rows[table], error = _copy_table(source, catalog, table)
                    if error:
                        errors[table] = error
                _copy_remembered(source, catalog)
        _redo_incomplete_clips(catalog)
        _restart_generations(catalog)
        log.info("catalog %s rebuilt; recovered %s; stopped on %s", catalog.path, rows, errors)
        return Rebuilt(catalog.path, old, rows, errors)


def _free_suffix(root: Path, catalog_path: Path | None) -> str:
    db = Path(catalog_path) if catalog_path else paths.default_catalog_path(
        Path(os.path.abspath(root)))
    base = f".damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix, n = base, 1
    while db.with_name(db.name + suffix).exists():
        suffix, n = f"{base}-{n}", n + 1
    return suffix


def _copy_table(source: sqlite3.Connection, catalog: Catalog, table: str) -> tuple[int, str]:
    """Copy the readable rows of ``table`` (columns both schemas have); (rows, error)."""
    target_columns = _columns(catalog.conn, table)
    try:
        columns = [c for c in _columns(source, table) if c in target_columns]
    except sqlite3.Error as exc:
        return 0, str(exc)
    if not columns:
        return 0, "no such table"
    rows: list[tuple] = []
    error = ""
    try:
        for row in _read(source, table, columns):
            rows.append(row)
    except sqlite3.Error as exc:  # a damaged page: keep what was read, look up the rest
        error = str(exc)
        rows += _look_up(source, catalog, table, columns, rows)
    if table == "embeddings":
        rows = _sound_vectors(rows, columns)
    marks = ",".join("?" * len(columns))
    sql = f"INSERT OR IGNORE INTO {table} ({','.join(columns)}) VALUES ({marks})"
    copied = 0
    with catalog.transaction() as tx:
        for row in rows:
            try:
                copied += tx.execute(sql, row).rowcount
            except sqlite3.IntegrityError:  # points to a row that was lost
                continue
    return copied, error


def _present(source: sqlite3.Connection, tables: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``tables`` the old catalog has (an older schema may lack them)."""
    try:
        return tuple(t for t in tables if _columns(source, t))
    except sqlite3.Error:
        return ()


def _copy_remembered(source: sqlite3.Connection, catalog: Catalog) -> None:
    """The model, weights and layer the library was indexed with, if they can be read."""
    try:
        marks = ",".join("?" * len(REMEMBERED))
        found = source.execute(
            f"SELECT key, value FROM meta WHERE key IN ({marks})", REMEMBERED).fetchall()
    except sqlite3.Error:
        return
    with catalog.transaction() as tx:
        for key, value in found:
            catalog.set_meta(str(key), str(value), tx)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _read(conn: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[tuple]:
    yield from conn.execute(f"SELECT {','.join(columns)} FROM {table}")


def _look_up(source: sqlite3.Connection, catalog: Catalog, table: str, columns: list[str],
             done: list[tuple]) -> list[tuple]:
    """Rows of ``photos`` (by id) or ``embeddings`` (by photo and model) that a full scan
    could not reach, read one by one: those on intact pages come back."""
    if table == "photos" and "id" in columns:
        try:
            last = int(source.execute("SELECT max(id) FROM photos").fetchone()[0] or 0)
        except sqlite3.Error:
            return []
        have = {row[columns.index("id")] for row in done}
        keys: list[tuple] = [(i,) for i in range(1, min(last, 10_000_000) + 1) if i not in have]
        where = "id = ?"
    elif table == "embeddings" and {"photo_id", "model"} <= set(columns):
        models = {row[columns.index("model")] for row in done}
        with contextlib.suppress(sqlite3.Error):
            models |= {key.split(":", 1)[1] for (key,) in source.execute(
                "SELECT key FROM meta WHERE key LIKE 'generation:%'")}
        have = {(row[columns.index("photo_id")], row[columns.index("model")]) for row in done}
        photo_ids = [r[0] for r in catalog.conn.execute("SELECT id FROM photos")]
        keys = [(i, m) for i in photo_ids for m in sorted(models) if (i, m) not in have]
        where = "photo_id = ? AND model = ?"
    else:
        return []
    found = []
    sql = f"SELECT {','.join(columns)} FROM {table} WHERE {where}"
    for key in keys:
        try:
            found += source.execute(sql, key).fetchall()
        except sqlite3.Error:
            continue
    return found


def _sound_vectors(rows: list[tuple], columns: list[str]) -> list[tuple]:
    """Embeddings whose vector is unit-length float16 of the model's usual length."""
    if "vector" not in columns or "model" not in columns:
        return []
    v, m = columns.index("vector"), columns.index("model")
    usual = {model: Counter(len(r[v]) for r in rows if r[m] == model).most_common(1)[0][0]
             for model in {r[m] for r in rows}}
    sound = []
    for row in rows:
        blob = row[v]
        if not isinstance(blob, bytes) or len(blob) != usual[row[m]] or len(blob) % 2:
            continue
        vector = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        if np.isfinite(vector).all() and abs(float(np.linalg.norm(vector)) - 1.0) < 0.02:
            sound.append(row)
    return sound


def _redo_incomplete_clips(catalog: Catalog) -> None:
    """A video clip whose ``clips`` row or kept frames were lost is embedded again (its
    embedding row alone would pass for a complete clip)."""
    from core.video import is_video

    rows = catalog.conn.execute(
        "SELECT e.photo_id, e.model, p.path, EXISTS (SELECT 1 FROM clips c WHERE c.photo_id = "
        "e.photo_id), EXISTS (SELECT 1 FROM frames f WHERE f.photo_id = e.photo_id AND "
        "f.model = e.model) FROM embeddings e JOIN photos p ON p.id = e.photo_id").fetchall()
    redo = [(pid, model) for pid, model, path, clip, frames in rows
            if is_video(os.fsdecode(path)) and not (clip and frames)]
    if redo:
        with catalog.transaction() as tx:
            tx.executemany("DELETE FROM embeddings WHERE photo_id = ? AND model = ?", redo)


def _restart_generations(catalog: Catalog) -> None:
    """Start every model's change counter far above the old catalog's, so that search
    indexes saved for the old catalog (stamped with its counters) are never reused."""
    start = str(int(time.time()))
    models = [r[0] for r in catalog.conn.execute("SELECT DISTINCT model FROM embeddings")]
    with catalog.transaction() as tx:
        for model in models:
            catalog.set_meta(f"generation:{model}", start, tx)
    for stamp in catalog.path.parent.glob("index-*.json"):
        stamp.unlink(missing_ok=True)
