"""What an SQLite failure of a catalog means for the user, in words: the catalog is
damaged, its disk is full, it cannot be written, another process holds it, or the disk
failed. :meth:`core.catalog.Catalog.faults` turns such failures into these errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core import paths
from core.errors import CatalogError, CatalogInUse, LookalikeError


class CatalogDamaged(CatalogError):
    """A catalog that cannot be used as it is: damaged, or written by a newer Lookalike.
    Offer :func:`core.catalog.rebuild.rebuild` (``lookalike index FOLDER --rebuild``)."""


_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_READ_ONLY = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
              sqlite3.SQLITE_AUTH)
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def rebuild_command(root: Path, db_path: Path) -> str:
    """The command that rebuilds the catalog ``db_path`` of the library ``root``."""
    custom = "" if db_path == paths.default_catalog_path(root) else (
        f" --catalog {paths.display(db_path)}")
    return f"lookalike index {paths.display(root)} --rebuild{custom}"


def user_error(exc: sqlite3.Error, root: Path, db_path: Path) -> LookalikeError | None:
    """The error to show for ``exc`` raised on the catalog ``db_path``, or None when it is
    not about the catalog file (a bug, a constraint: let it propagate as it is)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    where = paths.display(db_path)
    if primary in _DAMAGED:
        return CatalogDamaged(
            f"The catalog {where} is damaged ({exc}). Rebuild it with "
            f"`{rebuild_command(root, db_path)}`: labels are recovered where possible, and "
            "your photos are not affected."
        )
    if primary == sqlite3.SQLITE_FULL:
        return CatalogError(
            f"The disk holding the catalog {where} is full: the last changes were not saved "
            "(the catalog is intact). Free some space and run it again."
        )
    if primary in _READ_ONLY:
        return CatalogError(
            f"Cannot write the catalog {where}: the file or its folder is read-only ({exc}). "
            "Make it writable, or choose another place with --catalog."
        )
    if primary in _BUSY:
        return CatalogInUse(
            f"The catalog {where} is busy: another Lookalike window or command is writing to "
            "it. Try again when it has finished."
        )
    if primary == sqlite3.SQLITE_IOERR:
        return CatalogError(
            f"The disk could not read or write the catalog {where} ({exc}). Check the disk, "
            "then run it again."
        )
    return None
