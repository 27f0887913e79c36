"""CSV cells that are safe to open in a spreadsheet (OWASP's "CSV injection" advice).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run
as a formula by Excel, LibreOffice or Google Sheets: :func:`neutralise` puts a ``'`` in
front of it (shown by spreadsheets as text, not run). So that an export reads back exactly,
a cell that already begins with ``'`` gets one too, and :func:`restore` removes exactly one
``'`` from cells written that way. Every CSV that Lookalike writes goes through
:func:`neutralise` (or :func:`safe_row`); every CSV it reads, through :func:`restore`.
"""

from __future__ import annotations

from collections.abc import Iterable

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """``cell`` as written to a CSV: text that a spreadsheet would run gets a leading
    ``'``; numbers and other text are returned unchanged."""
    if isinstance(cell, str) and cell.startswith((*_FORMULA, "'")):
        return "'" + cell
    return cell


def restore(cell: str | None) -> str | None:
    """The text :func:`neutralise` was given, from the cell it wrote."""
    if cell and cell.startswith("'") and cell[1:].startswith((*_FORMULA, "'")):
        return cell[1:]
    return cell


def safe_row(cells: Iterable[object]) -> list[object]:
    """Every cell of a row through :func:`neutralise`."""
    return [neutralise(c) for c in cells]
