"""The catalog: one SQLite database (WAL mode) per library folder.

It records the photos found (relative paths, stored as bytes so that any file name the
file system allows round-trips), their metadata, one float16 embedding per photo and
model, and the files that could not be read. Each thread gets its own connection, so the
GUI reads while a worker writes. A writer may take an exclusive lock (a lock file beside
the database) so that two app instances never write one library at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core import paths
from core.catalog import faults as catalog_faults
from core.catalog import ownership
from core.catalog.schema import MIGRATIONS, latest_version
from core.catalog.vectors import VectorReads, chunks
from core.errors import CatalogError, CatalogInUse, LookalikeError
from core.events import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Photo:
    """A photo in the catalog. ``path`` is absolute; metadata is None until read."""

    id: int
    path: Path
    size: int
    mtime_ns: int
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    captured_at: str | None = None
    camera: str | None = None


@dataclass(frozen=True)
class Problem:
    """A file that could not be read, and why, in plain words."""

    path: Path
    reason: str


@dataclass(frozen=True)
class PhotoMeta:
    """What reading a file tells the catalog about it."""

    content_hash: str
    width: int
    height: int
    captured_at: str | None
    camera: str | None


_PHOTO_COLUMNS = "id, path, size, mtime_ns, content_hash, width, height, captured_at, camera"


class Catalog(VectorReads):
    """A library's catalog. Open with :meth:`open`; close (or use as a context manager)."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = root
        self.path = db_path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._lock_file: int | None = None
        # Emitted after a change the views show is committed: "labels" (sets, labels,
        # assignments), "predictions" (heads and their predictions).
        self.changed = Event()

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        root: Path,
        catalog_path: Path | None = None,
        *,
        create: bool = True,
        lock: bool = False,
        set_aside: str | None = None,
    ) -> Catalog:
        """Open (or create) the catalog of the library at ``root``.

        ``lock=True`` takes the library's writer lock and raises :class:`CatalogInUse` if
        another process holds it. ``set_aside`` (with ``lock``): once the lock is held, rename
        the existing catalog files by appending this suffix, and start a new catalog (see
        :mod:`core.catalog.rebuild`). Raises :class:`CatalogError` if the catalog does not exist and
        ``create`` is false, is damaged, cannot be written, or was written by a newer
        Lookalike; :class:`~core.catalog.ownership.NotACatalog`, before anything is written,
        if the file is not a Lookalike catalog or lies in the photo folder.
        """
        root = Path(os.path.abspath(root))
        db_path = Path(catalog_path) if catalog_path else paths.default_catalog_path(root)
        if ownership.check(root, db_path) is ownership.Verdict.NEW and not db_path.exists():
            if not create:
                raise CatalogError(
                    f"No catalog for {root} yet: run `lookalike index {root}` first."
                )
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(
                    f"Cannot create the catalog folder {db_path.parent}: "
                    f"{_os_reason(exc)}. {_ELSEWHERE}"
                ) from exc
        catalog = cls(root, db_path)
        try:
            if lock:
                catalog._acquire_lock()
            if set_aside:
                catalog._set_aside(set_aside)
            catalog._migrate()
        except BaseException:
            catalog.close()
            raise
        return catalog

    def _set_aside(self, suffix: str) -> None:
        """Rename the catalog and its WAL files to ``<name><suffix>`` (kept for recovery)."""
        for extra in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + extra)
            if src.exists():
                try:
                    os.replace(src, self.path.with_name(self.path.name + suffix + extra))
                except OSError as exc:
                    raise CatalogError(
                        f"Cannot move the catalog {src} aside: {_os_reason(exc)}."
                    ) from exc

    def _acquire_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CatalogError(
                f"Cannot write the catalog in {lock_path.parent}: {_os_reason(exc)}. "
                f"{_ELSEWHERE}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise CatalogInUse(
                f"The library {self.root} is open in another Lookalike window or command; "
                "close it first."
            ) from exc
        self._lock_file = fd

    def _migrate(self) -> None:
        conn = self.conn
        with self.faults():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        latest = latest_version()
        if version > latest:
            raise catalog_faults.CatalogDamaged(
                f"The catalog {self.path} was written by a newer Lookalike (schema {version}, "
                f"this one knows {latest}). Update Lookalike, or rebuild the catalog with "
                f"`{self.rebuild_command}` (labels are kept; your photos are not affected)."
            )
        todo = sorted(n for n in MIGRATIONS if n > version) + _skipped(conn, version)
        if not todo:
            return
        try:
            with self.transaction() as tx:
                for number in sorted(todo):
                    for statement in _split_sql(MIGRATIONS[number]):
                        tx.execute(statement)
                    tx.execute(f"PRAGMA user_version = {int(max(number, version))}")
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('root', ?)",
                    (os.fsdecode(self.root).encode("utf-8", "surrogateescape").decode(
                        "utf-8", "replace"),),
                )
        except sqlite3.Error as exc:
            raise CatalogError(f"Cannot update the catalog {self.path}: {exc}.") from exc
        log.info("catalog %s migrated from schema %d to %d", self.path, version, latest)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                with self.faults():
                    conn = sqlite3.connect(
                        self.path, timeout=30, isolation_level=None, check_same_thread=False
                    )
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection and release the writer lock."""
        with self._conn_lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.Error:  # pragma: no cover - closing is best effort
                    log.exception("closing catalog connection")
            self._connections.clear()
        self._local = threading.local()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection: all or nothing."""
        conn = self.conn
        with self.faults():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite has already rolled back after SQLITE_FULL
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    # -- faults ----------------------------------------------------------------------------

    @property
    def rebuild_command(self) -> str:
        """The command that rebuilds this catalog, for error messages."""
        return catalog_faults.rebuild_command(self.root, self.path)

    def fault(self, exc: sqlite3.Error) -> LookalikeError | sqlite3.Error:
        """The user's error for an SQLite failure of this catalog (damaged, disk full,
        read-only, busy, I/O); any other error (a bug, a constraint) is returned unchanged."""
        return catalog_faults.user_error(exc, self.root, self.path) or exc

    @contextmanager
    def faults(self) -> Iterator[None]:
        """Turn SQLite failures of this catalog (damage, full disk, read-only...) into
        :class:`CatalogError` with a message naming the file and the fix."""
        try:
            yield
        except sqlite3.Error as exc:
            error = self.fault(exc)
            if error is exc:
                raise
            raise error from exc

    # -- paths -----------------------------------------------------------------------------

    def encode_path(self, path: Path) -> bytes:
        """The stored form of ``path``: relative to the root, as file-system bytes."""
        return os.fsencode(os.path.relpath(path, self.root))

    def decode_path(self, stored: bytes) -> Path:
        """The absolute path for a stored relative path."""
        return self.root / os.fsdecode(stored)

    # -- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str, conn: sqlite3.Connection | None = None) -> None:
        (conn or self.conn).execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
        )

    def generation(self, model: str) -> int:
        """A counter that changes whenever the embeddings of ``model`` change."""
        return int(self.get_meta(f"generation:{model}", "0") or 0)

    def bump_generation(self, model: str | None, conn: sqlite3.Connection) -> None:
        """Mark the embeddings of ``model`` (of every model if None) as changed."""
        if model is None:
            conn.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                "WHERE key LIKE 'generation:%'"
            )
            return
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
            "SET value = CAST(value AS INTEGER) + 1",
            (f"generation:{model}",),
        )

    # -- photos ----------------------------------------------------------------------------

    def _photo(self, row: Sequence[object]) -> Photo:
        return Photo(row[0], self.decode_path(row[1]), *row[2:])  # type: ignore[arg-type]

    def photos(self, ids: Iterable[int] | None = None) -> list[Photo]:
        """All photos ordered by id, or those with the given ids (in the order given)."""
        if ids is None:
            rows = self.conn.execute(f"SELECT {_PHOTO_COLUMNS} FROM photos ORDER BY id")
            return [self._photo(r) for r in rows]
        wanted = [int(i) for i in ids]  # numpy ints would bind as bytes
        found: dict[int, Photo] = {}
        for chunk in chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = self._photo(row)
        return [found[i] for i in wanted if i in found]

    def photo(self, photo_id: int) -> Photo | None:
        found = self.photos([photo_id])
        return found[0] if found else None

    def photo_by_path(self, path: Path) -> Photo | None:
        row = self.conn.execute(
            f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE path = ?", (self.encode_path(path),)
        ).fetchone()
        return self._photo(row) if row else None

    def photo_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM photos").fetchone()[0])

    def photo_ids(self) -> NDArray[np.int64]:
        rows = self.conn.execute("SELECT id FROM photos ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def ids_by_hash(self, hashes: Iterable[str]) -> dict[str, list[int]]:
        """Photo ids for each content hash (photos not read yet have no hash)."""
        out: dict[str, list[int]] = {}
        for chunk in chunks(list(hashes), 900):
            marks = ",".join("?" * len(chunk))
            for pid, digest in self.conn.execute(
                f"SELECT id, content_hash FROM photos WHERE content_hash IN ({marks})", chunk
            ):
                out.setdefault(digest, []).append(pid)
        return out

    def scan_state(self) -> dict[bytes, tuple[int, int, int, str | None]]:
        """Stored path -> (id, size, mtime_ns, content_hash), for the scanner's diff."""
        rows = self.conn.execute("SELECT path, id, size, mtime_ns, content_hash FROM photos")
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    # -- embeddings ------------------------------------------------------------------------

    def embedded_count(self, model: str) -> int:
        return int(
            self.conn.execute(
                "SELECT count(*) FROM embeddings WHERE model = ?", (model,)
            ).fetchone()[0]
        )

    def missing_embeddings(self, model: str) -> list[Photo]:
        """Photos with no embedding for ``model``, in id order."""
        rows = self.conn.execute(
            f"SELECT {_PHOTO_COLUMNS} FROM photos p WHERE NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.photo_id = p.id AND e.model = ?) ORDER BY id",
            (model,),
        )
        return [self._photo(r) for r in rows]

    def store_results(
        self,
        model: str,
        embedded: Sequence[tuple[int, PhotoMeta, NDArray[np.float32]]],
        failed: Sequence[tuple[int, str]],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Record one batch of the embedding pass, atomically.

        ``embedded``: (photo id, metadata, vector) — the vector is stored float16.
        ``failed``: (photo id, reason) — the photo moves to the problems table.
        ``also``: more writes of the same batch, in the same transaction (keywords).
        """
        now = time.time()
        with self.transaction() as tx:
            for photo_id, meta, vector in embedded:
                tx.execute(
                    "UPDATE photos SET content_hash = ?, width = ?, height = ?, captured_at = ?, "
                    "camera = ? WHERE id = ?",
                    (meta.content_hash, meta.width, meta.height, meta.captured_at, meta.camera,
                     photo_id),
                )
                tx.execute(
                    "INSERT OR REPLACE INTO embeddings (photo_id, model, vector) VALUES (?, ?, ?)",
                    (photo_id, model, np.asarray(vector, dtype=np.float16).tobytes()),
                )
            for photo_id, reason in failed:
                row = tx.execute(
                    "SELECT path, size, mtime_ns FROM photos WHERE id = ?", (photo_id,)
                ).fetchone()
                if row is None:
                    continue
                tx.execute(
                    "INSERT OR REPLACE INTO problems (path, size, mtime_ns, reason, seen_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (row[0], row[1], row[2], reason, now),
                )
                tx.execute("DELETE FROM photos WHERE id = ?", (photo_id,))
            if also is not None:
                also(tx)
            if embedded:
                self.bump_generation(model, tx)
            if failed:
                self.bump_generation(None, tx)

    # -- problems --------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        rows = self.conn.execute("SELECT path, reason FROM problems ORDER BY path")
        return [Problem(self.decode_path(p), reason) for p, reason in rows]

    def problem_state(self) -> dict[bytes, tuple[int | None, int | None]]:
        """Stored path -> (size, mtime_ns) of every problem file."""
        rows = self.conn.execute("SELECT path, size, mtime_ns FROM problems")
        return {r[0]: (r[1], r[2]) for r in rows}


_ELSEWHERE = "Make it writable, or choose another place for the catalog with --catalog."


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _skipped(conn: sqlite3.Connection, version: int) -> list[int]:
    """Migrations numbered below ``version`` that a catalog lacks: features are numbered as
    they are planned, not as they are merged, so a catalog written at 9 may predate 5.
    A migration is there if the first table (or else index) it creates is."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    out = []
    for number, script in MIGRATIONS.items():
        created = (re.search(r"CREATE TABLE (\w+)", script)
                   or re.search(r"CREATE INDEX (\w+)", script))
        if 1 < number < version and created and created.group(1) not in names:
            out.append(number)
    return out


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (they hold no semicolons inside strings)."""
    return [s.strip() for s in script.split(";") if s.strip()]
