"""The state every window part shares: the open library, the selection, the query.

Widgets receive the :class:`AppContext` in ``__init__``, read from it, and subscribe to its
signals; none of them talks to another widget directly. The grid, the map and the
labelling panel stay in step through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from core.index import Hit
from core.library import Library
from gui.workers import Workers


@dataclass(frozen=True)
class Query:
    """A similarity query and its ranked results (best first, queries excluded)."""

    positives: tuple[int, ...]
    negatives: tuple[int, ...] = ()
    hits: tuple[Hit, ...] = field(default=())
    label: str = ""  # what to show, e.g. "Like IMG_0042.jpg"
    file: str | None = None  # the image file searched by, when it was one (drag and drop)
    scored: bool = True  # show each hit's score on its tile (False for plain listings)
    noun: str = "similar"  # the count's wording, e.g. "38 similar", "12 to review"


class AppContext(QObject):
    """The open library and the app-wide selection and query."""

    library_changed = Signal()  # a library was opened or closed
    photos_changed = Signal()  # photos or embeddings were added, changed or removed
    selection_changed = Signal(list)  # list[int]: the selected photo ids
    current_changed = Signal(int)  # the photo with keyboard focus (-1 for none)
    query_changed = Signal(object)  # Query | None (None: back to the whole library)
    query_counted = Signal(str)  # the shown query's count changed, e.g. "66 to review"
    labels_changed = Signal()  # labels or predictions changed
    indexing_changed = Signal(bool)  # a scan + embedding job started (True) or ended (False)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library: Library | None = None
        self.selection: list[int] = []
        self.current: int = -1
        self.query: Query | None = None
        self.indexing = False
        self.workers = Workers(self)  # every background thread goes through this

    def set_library(self, library: Library | None) -> None:
        """Switch to ``library`` (closing the previous one)."""
        if self.library is not None and self.library is not library:
            self.library.close()
        self.library = library
        self.selection, self.current, self.query = [], -1, None
        self.library_changed.emit()

    def set_selection(self, ids: Sequence[int]) -> None:
        """Select ``ids`` everywhere (no signal if nothing changed)."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        if ids != self.selection:
            self.selection = ids
            self.selection_changed.emit(ids)

    def set_current(self, photo_id: int) -> None:
        if photo_id != self.current:
            self.current = photo_id
            self.current_changed.emit(photo_id)

    def set_query(self, query: Query | None) -> None:
        self.query = query
        self.query_changed.emit(query)

    def set_indexing(self, running: bool) -> None:
        if running != self.indexing:
            self.indexing = running
            self.indexing_changed.emit(running)
