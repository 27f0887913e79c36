"""The grid's model: an ordered list of photo ids, with scores, a pinned query and badges."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QStandardItemModel

from gui.grid.cache import ThumbnailCache

Index = QModelIndex | QPersistentModelIndex


class Roles(IntEnum):
    """Data roles of :class:`ThumbnailModel` beyond Qt's own."""

    ID = Qt.ItemDataRole.UserRole + 1  # int: the photo id
    SCORE = Qt.ItemDataRole.UserRole + 2  # float | None: similarity to the query
    PINNED = Qt.ItemDataRole.UserRole + 3  # bool: one of the query's own photos
    BADGE = Qt.ItemDataRole.UserRole + 4  # str | None: e.g. a predicted label
    IMAGE = Qt.ItemDataRole.UserRole + 5  # QImage | None: the thumbnail, None while loading
    DURATION = Qt.ItemDataRole.UserRole + 6  # float | None: a video clip's length (s)
    TIME = Qt.ItemDataRole.UserRole + 7  # float | None: a clip hit's moment (s)
    JUDGED = Qt.ItemDataRole.UserRole + 8  # bool | None: marked (not) similar to the query
    BOX = Qt.ItemDataRole.UserRole + 9  # (x, y, w, h) | None: a region hit's box (relative)


class ThumbnailModel(QStandardItemModel):
    """Photo ids in display order. ``data()`` never reads a file (see ThumbnailCache).

    Only ``data()`` is Python. The view's layout asks the model for an index - and so for
    its row count - once per item: 100,000 calls per layout pass, each waiting for the
    GIL while a worker thread holds it. A QStandardItemModel answers ``rowCount()``,
    ``index()`` and ``flags()`` in C++; it holds no items here, only the number of rows
    (``setRowCount``), and ``data()`` answers from the id list.
    """

    def __init__(self, cache: ThumbnailCache, parent: Any = None) -> None:
        super().__init__(0, 1, parent)
        self.cache = cache
        self._ids: list[int] = []
        self._rows: dict[int, int] = {}
        self._scores: dict[int, float] = {}
        self._times: dict[int, float] = {}
        self._boxes: dict[int, tuple[float, float, float, float]] = {}
        self._pinned: frozenset[int] = frozenset()
        self._badges: dict[int, str] = {}
        self._judged: dict[int, bool] = {}
        cache.updated.connect(self._on_thumbnails)

    # -- content ---------------------------------------------------------------------------

    def set_photos(self, ids: Iterable[int], scores: Mapping[int, float] | None = None,
                   pinned: Iterable[int] = (), times: Mapping[int, float] | None = None,
                   boxes: Mapping[int, tuple[float, float, float, float]] | None = None,
                   rows: dict[int, int] | None = None) -> None:
        """Show ``ids`` in this order (a model reset): a new listing or new results
        (``times``: the moment of each clip hit's best frame, shown on its tile; ``boxes``:
        each region hit's matched box, drawn on it). ``rows``: photo id -> row, worked out
        by a worker for a big listing (a million rows take ~0.2 s on this thread)."""
        self.beginResetModel()
        self._ids = list(ids) if rows is not None else [int(i) for i in ids]
        self._rows = rows if rows is not None else {
            photo_id: row for row, photo_id in enumerate(self._ids)}
        self._scores = dict(scores or {})
        self._times = dict(times or {})
        self._boxes = dict(boxes or {})
        self.cache.set_moments(self._times)
        self._pinned = frozenset(pinned)
        blocked = self.blockSignals(True)  # inside the reset: no row signals
        self.setRowCount(len(self._ids))
        self.blockSignals(blocked)
        self.endResetModel()

    def append(self, ids: Sequence[int]) -> None:
        """Add photos at the end (new photos found by a scan); existing rows stay put."""
        new = [int(i) for i in ids if int(i) not in self._rows]
        if not new:
            return
        first = len(self._ids)
        self._ids.extend(new)  # data() answers for the new rows as soon as they exist
        self._rows.update({photo_id: first + n for n, photo_id in enumerate(new)})
        self.insertRows(first, len(new))  # emits rowsInserted

    def insert_sorted(self, ids: Iterable[int], key: Callable[[int], Any]) -> None:
        """Add photos (a scan's new ones), each in its place in the rows' order by ``key``
        (a photo id's sort key): the row index is worked out once for all of them."""
        new = sorted({int(i) for i in ids} - self._rows.keys(), key=key)
        for photo_id in new:  # in key order: each goes after those of equal key
            row = bisect.bisect_right(self._ids, key(photo_id), key=key)
            self._ids.insert(row, photo_id)  # data() answers for the row once it exists
            self.insertRows(row, 1)  # emits rowsInserted
        if new:
            self._rows = {pid: r for r, pid in enumerate(self._ids)}

    def set_badges(self, badges: Mapping[int, str]) -> None:
        """Badge text per photo id (e.g. "cat 92%"), painted on the tiles; {} clears."""
        changed = set(self._badges) | set(badges)
        self._badges = dict(badges)
        self._emit_rows(changed, [Roles.BADGE])

    def set_judgements(self, judged: Mapping[int, bool]) -> None:
        """Photo id -> marked similar (True) / not similar (False) to the query; {} clears."""
        changed = {i for i in set(self._judged) | set(judged)
                   if self._judged.get(i) != judged.get(i)}
        self._judged = dict(judged)
        self._emit_rows(changed, [Roles.JUDGED])

    def judgement(self, photo_id: int) -> bool | None:
        return self._judged.get(photo_id)

    def ids(self) -> list[int]:
        return list(self._ids)

    def has_ids(self, ids: list[int]) -> bool:
        """Whether the rows show exactly ``ids``, in this order (no copy made)."""
        return self._ids == ids

    def photo_id(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, photo_id: int) -> int:
        """The row showing ``photo_id``, or -1."""
        return self._rows.get(int(photo_id), -1)

    def score(self, photo_id: int) -> float | None:
        return self._scores.get(photo_id)

    def time(self, photo_id: int) -> float | None:
        """The moment of a clip hit's best frame (None: a photo, or no query)."""
        return self._times.get(photo_id)

    def boxes(self, matched_only: bool = False) -> dict[int, tuple[float, float, float, float]]:
        """The box drawn on each tile of a region search's results and its query's region
        (``matched_only``: the results' only)."""
        return {k: v for k, v in self._boxes.items()
                if not (matched_only and k in self._pinned)}

    @property
    def pinned(self) -> frozenset[int]:
        return self._pinned

    # -- Qt --------------------------------------------------------------------------------

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        photo_id = self._ids[index.row()]
        if role == Roles.ID:
            return photo_id
        if role == Roles.IMAGE:
            return self.cache.image(photo_id)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            name = self.cache.name(photo_id) or ""
            score = self._scores.get(photo_id)
            if role == Qt.ItemDataRole.ToolTipRole and score is not None:
                return f"{name}\nsimilarity {score:.3f}"
            return name
        if role == Roles.SCORE:
            return self._scores.get(photo_id)
        if role == Roles.PINNED:
            return photo_id in self._pinned
        if role == Roles.BADGE:
            return self._badges.get(photo_id)
        if role == Roles.DURATION:
            return self.cache.duration(photo_id)
        if role == Roles.TIME:
            return self._times.get(photo_id)
        if role == Roles.JUDGED:
            return self._judged.get(photo_id)
        if role == Roles.BOX:
            return self._boxes.get(photo_id)
        return None

    def _on_thumbnails(self, ids: list[int]) -> None:
        self._emit_rows(ids, [Roles.IMAGE, Qt.ItemDataRole.DisplayRole])

    def _emit_rows(self, ids: Iterable[int], roles: list[int]) -> None:
        for photo_id in ids:
            row = self._rows.get(photo_id)
            if row is not None:
                index = self.index(row, 0)
                self.dataChanged.emit(index, index, roles)
