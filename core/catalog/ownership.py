"""Is this file ours? Lookalike opens, writes, and (on ``--rebuild``) moves aside only a
file that is recognisably one of its catalogs.

A catalog file is Lookalike's when it lies in Lookalike's own data folder, or when it is
an SQLite database with Lookalike's tables (or an empty one, as a first run leaves it), or
a damaged SQLite file whose first pages still hold Lookalike's table definitions. Anything
else - a photo, a text file, another program's database, a folder, a FIFO or a device - is
not ours: :func:`check` refuses it with :class:`NotACatalog`, before any lock file is
created beside it. A catalog inside the photo folder is refused too: Lookalike never
writes there.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from contextlib import closing
from enum import Enum
from pathlib import Path

from core import paths
from core.errors import CatalogError

SQLITE_MAGIC = b"SQLite format 3\x00"
OUR_TABLES = frozenset({"meta", "photos", "embeddings"})
_MARKERS = (b"CREATE TABLE photos", b"CREATE TABLE embeddings")
_SNIFF = 4 * 1024 * 1024  # how far into a damaged file to look for our table definitions
_ADVICE = ("Lookalike leaves it as it is: choose another file for --catalog (a new name), "
           "or leave out --catalog to use the default place.")


class NotACatalog(CatalogError):
    """``--catalog`` names a file that is not a Lookalike catalog (or one in the photo
    folder). Never offered a rebuild: the file is someone else's."""


class Verdict(Enum):
    """What :func:`check` found at a catalog path."""

    NEW = "new"  # nothing there (or an empty file): a catalog will be created
    OURS = "ours"  # a Lookalike catalog, readable or damaged


def check(root: Path, db_path: Path) -> Verdict:
    """Whether ``db_path`` may be used as the catalog of the library ``root``.

    Raises NotACatalog when it is not a Lookalike catalog or lies in the photo folder.
    Never writes, never creates a file.
    """
    where = paths.display(db_path)
    own_folder = _inside(db_path, paths.data_dir())
    if not own_folder and _inside(db_path, root):
        raise NotACatalog(
            f"The catalog {where} would be inside the photo folder {paths.display(root)}: "
            "Lookalike never writes there. Choose a place outside it with --catalog, or "
            "leave out --catalog.")
    try:
        st = os.stat(db_path)
    except FileNotFoundError:
        return Verdict.NEW
    except OSError as exc:
        raise CatalogError(f"Cannot read the catalog {where}: "
                           f"{(exc.strerror or str(exc)).lower()}.") from exc
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (" + (
            "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(
                st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket") + ")"
        raise NotACatalog(f"{where} is {kind}, not a Lookalike catalog. {_ADVICE}")
    if st.st_size == 0:
        return Verdict.NEW
    try:
        with open(db_path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise CatalogError(f"Cannot read the catalog {where}: "
                           f"{(exc.strerror or str(exc)).lower()}.") from exc
    if own_folder:
        return Verdict.OURS  # in Lookalike's own data folder: damaged if unreadable
    if not head.startswith(SQLITE_MAGIC):
        raise NotACatalog(f"{where} is not a Lookalike catalog ({describe(head)}). {_ADVICE}")
    tables = _tables(db_path)
    wal = Path(f"{db_path}-wal")
    if not tables and wal.exists():  # the latest pages are in the WAL (after a crash)
        tables = _tables(db_path, immutable=False) or tables
    if tables is None:  # an SQLite file that cannot be read: damaged, but whose?
        if any(marker in _head(db_path) + _head(wal) for marker in _MARKERS):
            return Verdict.OURS
        raise NotACatalog(f"{where} is not a Lookalike catalog (an SQLite database that "
                          f"cannot be read, without Lookalike's tables). {_ADVICE}")
    if tables >= OUR_TABLES or not tables:
        return Verdict.OURS if tables else Verdict.NEW
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    raise NotACatalog(f"{where} is not a Lookalike catalog (an SQLite database of another "
                      f"program, with the tables {shown}). {_ADVICE}")


def describe(head: bytes) -> str:
    """What a file that is not an SQLite database looks like, from its first bytes."""
    kinds = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"),
             (b"GIF8", "a GIF image"), (b"II*\x00", "a TIFF image or RAW file"),
             (b"MM\x00*", "a TIFF image or RAW file"), (b"%PDF", "a PDF document"),
             (b"PK\x03\x04", "a ZIP archive"), (b"BM", "a BMP image"))
    for magic, kind in kinds:
        if head.startswith(magic):
            return f"it is {kind}, not an SQLite database"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "it is a WebP image, not an SQLite database"
    if head[4:8] == b"ftyp":
        return "it is a HEIC image or a video, not an SQLite database"
    sample = head[:4096]
    if b"\x00" not in sample:
        with contextlib.suppress(UnicodeDecodeError):
            sample.decode("utf-8")
            return "it is a text file, not an SQLite database"
    return "it is not an SQLite database"


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(_SNIFF)
    except OSError:
        return b""


def _tables(db_path: Path, immutable: bool = True) -> frozenset[str] | None:
    """The tables of an SQLite file, read-only; ``immutable``: the main file alone, without
    creating anything (else with its WAL, whose index file SQLite may create). None when
    it cannot be read."""
    uri = f"{Path(os.path.abspath(db_path)).as_uri()}?mode=ro" + (
        "&immutable=1" if immutable else "")
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return frozenset(r[0] for r in rows if not r[0].startswith("sqlite_"))
    except sqlite3.Error:
        return None


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (which may not exist yet) lies inside ``folder``, links resolved."""
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real != top and real.startswith(top.rstrip(os.sep) + os.sep)
