"""The state every window part shares: the open library, the selection, the query.

Widgets receive the :class:`AppContext` in ``__init__``, read from it, and subscribe to its
signals; none of them talks to another widget directly. The grid, the map and the
labelling panel stay in step through it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from core.index import Hit
from core.library import Library
from core.map.engine import MapEngine
from gui.workers import JobHandle, Workers

log = logging.getLogger(__name__)


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
    region: tuple[float, float, float, float] | None = None  # searched by this part of a photo


class AppContext(QObject):
    """The open library and the app-wide selection and query."""

    library_changed = Signal()  # a library was opened or closed
    photos_changed = Signal()  # photos or embeddings were added, changed or removed
    selection_changed = Signal(list)  # list[int]: the selected photo ids
    current_changed = Signal(int)  # the photo with keyboard focus (-1 for none)
    query_changed = Signal(object)  # Query | None (None: back to the whole library)
    query_counted = Signal(str)  # the shown query's count changed, e.g. "66 to review"
    labels_changed = Signal()  # labels or predictions changed (emitted by the catalog)
    _catalog_changed = Signal(str)  # from any thread; re-emitted on the GUI thread
    indexing_changed = Signal(bool)  # a scan + embedding job started (True) or ended (False)

    def __init__(self, parent: QObject | None = None, map_engine: MapEngine | None = None
                 ) -> None:
        """``map_engine``: share an engine (its child process) instead of owning one."""
        super().__init__(parent)
        self._map_engine = map_engine
        self._owns_map_engine = map_engine is None
        self.library: Library | None = None
        self.selection: list[int] = []
        self.current: int = -1
        self.moment: tuple[int, float] | None = None  # (clip, time) picked on the map
        self.query: Query | None = None
        self.indexing = False
        # whether the last indexing job may have changed the listing (new, changed, moved or
        # removed photos, dates read): if not, the grid is not listed again when it ends
        self.indexing_changed_photos = True
        self.workers = Workers(self)  # every background thread goes through this
        self._search_build: JobHandle | None = None
        self._region_build: JobHandle | None = None
        self._catalog_changed.connect(self._on_catalog_changed)  # queued to this thread

    @property
    def map_engine(self) -> MapEngine:
        """The process that computes maps (started on first use, stopped by shutdown)."""
        if self._map_engine is None:
            self._map_engine = MapEngine()
        return self._map_engine

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Cancel and wait for every background job, stop the map engine this context owns,
        close the library. Returns False if some job was still running at the timeout."""
        stopped = self.workers.stop_all(timeout_s=timeout_s)
        if self._owns_map_engine and self._map_engine is not None:
            self._map_engine.close()
            self._map_engine = None
        self.set_library(None)
        return stopped

    def prepare_search(self) -> None:
        """Build the open library's approximate search index in a worker if it needs one
        (after indexing, or after a query that exact search answered meanwhile); quitting
        cancels and waits for it like any job."""
        library = self.library
        if library is None or self._search_build is not None or not library.searcher.build_pending:
            return
        handle = self.workers.start_job("Preparing search", library.searcher.build_index)
        handle.failed.connect(lambda exc: log.warning("could not prepare the search: %s", exc))
        handle.ended.connect(self._on_search_built)
        self._search_build = handle

    def prepare_region_search(self) -> None:
        """After indexing: build the approximate index of a large library's regions in a
        worker (a no-op when exact search serves them or the saved one is current), so the
        first "Find this region" does not wait for it."""
        library = self.library
        if library is None or self._region_build is not None:
            return
        handle = self.workers.start_job("Preparing region search", library.regions.build_index)
        handle.failed.connect(lambda exc: log.warning("could not prepare region search: %s",
                                                      exc))
        handle.ended.connect(self._on_region_search_built)
        self._region_build = handle

    def _on_region_search_built(self) -> None:
        self._region_build = None

    def _on_catalog_changed(self, topic: str) -> None:
        if topic in ("labels", "predictions"):
            self.labels_changed.emit()

    def _on_search_built(self) -> None:
        self._search_build = None

    def set_library(self, library: Library | None) -> None:
        """Switch to ``library`` (closing the previous one)."""
        if self.library is not None and self.library is not library:
            self.library.catalog.changed.disconnect(self._catalog_changed.emit)
            self.library.close()
        if library is not None and library is not self.library:
            library.catalog.changed.connect(self._catalog_changed.emit)
        self.library = library
        self.selection, self.current, self.query, self.moment = [], -1, None, None
        self.library_changed.emit()

    def set_selection(self, ids: Sequence[int]) -> None:
        """Select ``ids`` everywhere (no signal if nothing changed)."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        if ids != self.selection:
            self.selection = ids
            self.selection_changed.emit(ids)

    def set_current(self, photo_id: int) -> None:
        if photo_id != self.current:
            self.current, self.moment = photo_id, None
            self.current_changed.emit(photo_id)

    def set_moment(self, clip_id: int, at: float) -> None:
        """The current clip, at this moment (a kept frame's point on the map): the viewer
        opens it there."""
        self.set_current(clip_id)
        self.moment = (clip_id, at)

    def set_query(self, query: Query | None) -> None:
        self.query = query
        self.query_changed.emit(query)

    def set_indexing(self, running: bool) -> None:
        if running != self.indexing:
            self.indexing = running
            self.indexing_changed.emit(running)
