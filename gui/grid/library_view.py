"""The library view: a header (query, sort, thumbnail size, count) over the photo grid.

It shows either the library (sorted, filtered by folder, growing while a scan runs) or the
context's current query (the query's photos pinned first, then the hits with scores), and
keeps its selection in step with the context's.
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePath

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import browse
from core.faces.filter import photos_of_people
from core.keywords import search_keywords
from core.library import Library
from core.paths import display
from gui.actions import Actions
from gui.context import AppContext, Query
from gui.elided import ElidedLabel
from gui.grid.cache import ThumbnailCache
from gui.grid.delegate import ThumbnailDelegate
from gui.grid.keyword_box import KeywordBox
from gui.grid.model import ThumbnailModel
from gui.grid.view import GridView
from gui.settings import THUMBNAIL_SIZES
from gui.viewer import load_preview

QUERY_THUMB_PX = 40


def _listing(library: Library, sort: str, folder: PurePath | None, keyword: str = "",
             person: str | None = None) -> tuple[list[int], int, dict[int, int]]:
    """In a worker thread: the sorted ids (those with ``keyword`` and showing ``person``
    if given), the last id they include, and each id's row (for the grid's model: at a
    million photos, Python lists and dicts are built here rather than on the GUI thread)."""
    last = browse.last_photo_id(library.catalog)
    ids = browse.list_photos(library.catalog, sort, folder)
    if keyword:
        found = search_keywords(library.catalog, library.model_key, keyword)
        ids = ids[np.isin(ids, np.asarray(found, dtype=np.int64))]
    if person:
        shown = sorted(photos_of_people(library.catalog, [person]))
        ids = ids[np.isin(ids, np.asarray(shown, dtype=np.int64))]
    listed = ids.tolist()
    return listed, last, {photo_id: row for row, photo_id in enumerate(listed)}


class LibraryView(QWidget):
    """The grid and its header; the main window's first view."""

    photo_activated = Signal(int)
    tile_size_changed = Signal(int)
    sort_changed = Signal(str)

    def __init__(self, context: AppContext, actions: Actions, tile_size: int, sort: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.actions = actions
        self.folder: PurePath | None = None
        self.person: str | None = None  # only this person's photos (gui.people.filter_box)
        self._sort = sort if sort in browse.SORTS else "date"
        self._last_id = -1  # photos above this id are not in the listing yet; -1: loading
        self._listing_token = 0
        # Set once the grid lists the open library (a worker may wait for it: see Indexer).
        self.listed = threading.Event()
        self._syncing = False
        self._stale = False  # the model still shows a query's results
        self.menu_extras: list[QAction] = []  # actions other parts add to the context menu
        self.cache = ThumbnailCache(context.workers, self)
        self.model = ThumbnailModel(self.cache, self)
        self.delegate = ThumbnailDelegate(self.cache, tile_size, self)
        self.grid = GridView(self.model, self.delegate, self)
        self._build_header(tile_size)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.grid, 1)

        self.grid.photo_activated.connect(self.photo_activated)
        self.grid.photo_clicked.connect(self._on_clicked)
        self.grid.customContextMenuRequested.connect(self._show_menu)
        self.grid.selectionModel().selectionChanged.connect(self._on_grid_selection)
        self.grid.selectionModel().currentChanged.connect(
            lambda cur, _prev: context.set_current(self.grid.current_id()))
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)
        context.library_changed.connect(self._on_library_changed)
        context.photos_changed.connect(self._on_photos_changed)
        context.indexing_changed.connect(self._on_indexing_changed)
        context.query_changed.connect(self._on_query_changed)
        context.selection_changed.connect(self._on_context_selection)
        context.query_counted.connect(self.count_label.setText)
        actions.show_captions.toggled.connect(self.set_captions)

    # -- header ----------------------------------------------------------------------------

    def _build_header(self, tile_size: int) -> None:
        self.header = QWidget(self)
        self.header.setObjectName("gridHeader")
        row = QHBoxLayout(self.header)
        row.setContentsMargins(10, 6, 10, 6)
        row.setSpacing(6)
        for action in (self.actions.back, self.actions.forward, self.actions.back_to_library):
            button = QToolButton(self.header)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            if action is self.actions.back_to_library:  # shown in a search only (see
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                button.hide()  # _set_sortable): in the library its room goes to the title
                self.back_button = button
            row.addWidget(button)
        self.query_thumb = QLabel(self.header)  # the outside image searched by, if any
        self.query_thumb.setObjectName("queryThumb")
        self.query_thumb.setFixedHeight(QUERY_THUMB_PX)
        self.query_thumb.hide()
        row.addWidget(self.query_thumb)
        self.title = ElidedLabel("", self.header)
        self.title.setObjectName("gridTitle")
        row.addWidget(self.title, 1)
        self.keyword_box = KeywordBox(self.header)
        self.keyword_box.keyword_changed.connect(self._on_keyword)
        row.addWidget(self.keyword_box)
        row.addSpacing(8)
        self.sort_box = QComboBox(self.header)
        self.sort_box.setToolTip("Order of the photos")
        for key, text in browse.SORTS.items():
            self.sort_box.addItem(text, key)
        self.sort_box.addItem("Similarity", "similarity")
        self.sort_box.setCurrentIndex(self.sort_box.findData(self._sort))
        self.sort_box.currentIndexChanged.connect(self._on_sort_chosen)
        self.sort_label = QLabel("Sort:", self.header)
        row.addWidget(self.sort_label)
        row.addWidget(self.sort_box)
        row.addSpacing(8)
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self.header)
        self.size_slider.setRange(*THUMBNAIL_SIZES)
        self.size_slider.setValue(tile_size)
        self.size_slider.setMinimumWidth(64)  # narrows first, so the docks can widen
        self.size_slider.setMaximumWidth(100)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self.set_tile_size)
        row.addWidget(self.size_slider)
        row.addSpacing(8)
        self.count_label = ElidedLabel("", self.header)
        self.count_label.setObjectName("gridCount")
        row.addWidget(self.count_label)

    def add_filter(self, widget: QWidget) -> None:
        """Add a filter (e.g. the person filter) to the header, after the search box."""
        row = self.header.layout()
        assert isinstance(row, QHBoxLayout)
        row.insertWidget(row.indexOf(self.keyword_box) + 1, widget)

    def set_person(self, name: str | None) -> None:
        """List only the photos showing the named person (None: everyone's). A similarity
        query is asked again by the search controller; a plain list gives way to the
        filtered library."""
        self.person = name or None
        query = self.context.query
        if query is not None and not (query.scored and (query.positives or query.file)):
            self.actions.back_to_library.trigger()
        self._stale = True
        self.reload()

    def _set_sortable(self, sortable: bool) -> None:
        """Search results are in similarity order: the Sort box is off and out of the way
        (its room goes to the query's title), and Back to Library takes its place. (One
        call, so that the header never needs both at once: the window would widen.)"""
        self.sort_box.setEnabled(sortable)
        self.sort_box.setVisible(sortable)
        self.sort_label.setVisible(sortable)
        self.back_button.setVisible(not sortable)

    def add_bar(self, widget: QWidget) -> None:
        """Add a row under the header (e.g. the similarity bar)."""
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(layout.indexOf(self.header) + 1, widget)

    def set_tile_size(self, size: int) -> None:
        size = min(max(int(size), THUMBNAIL_SIZES[0]), THUMBNAIL_SIZES[1])
        if self.size_slider.value() != size:
            self.size_slider.setValue(size)  # comes back here through valueChanged
            return
        self.grid.set_tile_size(size)
        self.tile_size_changed.emit(size)

    def set_captions(self, shown: bool) -> None:
        """Write each photo's name and date on its tile (View > Show Names and Dates)."""
        self.delegate.captions = shown
        self.grid.viewport().update()

    @property
    def sort(self) -> str:
        return self._sort

    def _on_sort_chosen(self) -> None:
        key = self.sort_box.currentData()
        if key == "similarity" and self.context.query is None:
            self.sort_box.setCurrentIndex(self.sort_box.findData(self._sort))  # needs a query
            return
        if key != "similarity" and key != self._sort:
            self._sort = key
            self.sort_changed.emit(key)
            self.reload()

    def _update_count(self) -> None:
        shown = self.model.rowCount()
        query = self.context.query
        if query is not None:
            self.title.setText(query.label)
            self.count_label.setText(f"{len(query.hits)} {query.noun}")
            return
        library = self.context.library
        where = f" in {self.folder.as_posix()}" if self.folder else ""
        if self.keyword_box.keyword:
            where = f" with “{self.keyword_box.keyword}”{where}"
        self.title.setText(library.root.name if library else "")
        self.count_label.setText(f"{shown:,} photo{'s' if shown != 1 else ''}{where}"
                                 + self._selection_note())

    def _selection_note(self) -> str:
        """" · 3 selected", and how many of them the grid does not show (a lasso on the
        map can reach outside the folder the grid is filtered to)."""
        chosen = self.context.selection
        if len(chosen) < 2 and not (chosen and self.model.row_of(chosen[0]) < 0):
            return ""
        hidden = sum(1 for i in chosen if self.model.row_of(i) < 0)
        where = "this folder" if self.folder else "this list"
        return f" · {len(chosen):,} selected" + (f", {hidden:,} outside {where}" if hidden
                                                  else "")

    # -- content ---------------------------------------------------------------------------

    def set_folder(self, folder: PurePath | None) -> None:
        """Show only the photos in ``folder`` (and its subfolders); None shows them all."""
        self.folder = None if folder is None or str(folder) in ("", ".") else folder
        if self.context.query is not None:
            self.actions.back_to_library.trigger()
        self.reload()

    def _on_indexing_changed(self, running: bool) -> None:
        """Indexing ended: list again (dates read, photos moved or removed) unless it changed
        nothing (a million photos relisted for nothing hold the GIL for seconds)."""
        if not running and self.context.indexing_changed_photos:
            self.reload()

    def reload(self) -> None:
        """List the library again (off the GUI thread) unless a query is shown."""
        library = self.context.library
        if library is None or self.context.query is not None:
            return
        self._listing_token += 1
        token = self._listing_token
        self.context.workers.run(
            _listing, library, self._sort, self.folder, self.keyword_box.keyword, self.person,
            what="Listing the photos",
            on_result=lambda result: self._on_listing(token, library, *result))

    def _on_listing(self, token: int, library: Library, ids: list[int], last: int,
                    rows: dict[int, int]) -> None:
        if token != self._listing_token or library is not self.context.library:
            return
        if self.context.query is None and (self._stale or not self.model.has_ids(ids)):
            self._stale = False
            self._show(ids, rows=rows)
        self._last_id = last
        self._on_photos_changed()  # photos committed while the listing ran
        self.listed.set()

    def _show(self, ids: list[int], scores: dict[int, float] | None = None,
              pinned: tuple[int, ...] = (), times: dict[int, float] | None = None,
              boxes: dict[int, tuple[float, float, float, float]] | None = None,
              rows: dict[int, int] | None = None) -> None:
        current = self.grid.current_id()
        self.model.set_photos(ids, scores, pinned, times, boxes, rows)
        self._syncing = True
        try:
            self.grid.select_ids(self.context.selection, scroll=False)
            row = self.model.row_of(current)
            if row >= 0:
                self.grid.scrollTo(self.model.index(row, 0))
        finally:
            self._syncing = False

    def _on_library_changed(self) -> None:
        library = self.context.library
        self.cache.set_catalog(library.catalog if library else None)
        self.listed = threading.Event()
        self.folder = None
        self._last_id = -1
        self.model.set_photos([])
        self._set_sortable(True)  # no query in a newly opened library
        self.sort_box.setCurrentIndex(self.sort_box.findData(self._sort))
        self.reload()

    def _on_photos_changed(self) -> None:
        """New photos were committed: append them (cheap: only ids above the last seen)."""
        library = self.context.library
        self.cache.forget_missing()
        self.grid.viewport().update()  # visible placeholders ask again for thumbnails
        if library is None or self.context.query is not None or self._last_id < 0:
            return
        if self.keyword_box.keyword or self.person:  # new photos may match: list again
            self.reload()
            return
        new = browse.photos_after(library.catalog, self._last_id, self.folder)
        if not len(new):
            return
        self._last_id = int(new[-1])
        # Each in its sorted place, so that the listing at the scan's end changes nothing;
        # the rows' keys are read as the search for each place needs them (~20 a photo).
        catalog, sort = library.catalog, self._sort
        keys = browse.sort_keys(catalog, sort, new.tolist())

        def key(photo_id: int) -> browse.SortKey:
            if photo_id not in keys:
                keys.update(browse.sort_keys(catalog, sort, [photo_id]))
            return keys.get(photo_id, ())  # () if gone: sorts first, moved at the next listing

        self.model.insert_sorted([i for i in new.tolist() if i in keys], key)

    def _show_query_file(self, file: str | None) -> None:
        """Show the image file searched by (not one of the library's photos) in the header."""
        self.query_thumb.hide()
        if file is None:
            return
        self.query_thumb.setToolTip(f"Photos like {display(Path(file))}")
        self.context.workers.run(
            load_preview, Path(file), 2 * QUERY_THUMB_PX, what="Showing the searched image",
            on_result=lambda image: self._on_query_image(file, image),
            on_error=lambda _exc: None)

    def _on_query_image(self, file: str, image: QImage) -> None:
        query = self.context.query
        if query is None or query.file != file:
            return
        self.query_thumb.setPixmap(QPixmap.fromImage(image).scaledToHeight(
            QUERY_THUMB_PX, Qt.TransformationMode.SmoothTransformation))
        self.query_thumb.show()

    def _on_keyword(self, _word: str) -> None:
        if self.context.query is not None:
            self.actions.back_to_library.trigger()  # the library, filtered, replaces the query
        self._stale = True
        self.reload()

    def _on_query_changed(self, query: Query | None) -> None:
        if query is None:
            self.query_thumb.hide()
            self._set_sortable(True)
            self.sort_box.setCurrentIndex(self.sort_box.findData(self._sort))
            self._last_id = -1
            self._stale = True
            self.reload()  # the listing replaces the results when it arrives
            return
        self._show_query_file(query.file)
        self.sort_box.setCurrentIndex(self.sort_box.findData("similarity"))
        self._set_sortable(False)
        ids = [*query.positives, *(h.photo_id for h in query.hits)]
        scores = {h.photo_id: h.score for h in query.hits} if query.scored else None
        times = {h.photo_id: h.time for h in query.hits if h.time is not None}
        boxes = {h.photo_id: h.box for h in query.hits if h.box is not None}
        if query.region is not None and query.positives:  # the query's own region
            boxes[query.positives[0]] = query.region
        self._show(ids, scores, query.positives, times, boxes)
        self.grid.scrollToTop()
        self._update_count()

    # -- selection -------------------------------------------------------------------------

    def _on_grid_selection(self) -> None:
        if not self._syncing:
            self._syncing = True
            try:
                self.context.set_selection(self.grid.selected_ids())
            finally:
                self._syncing = False

    def _on_context_selection(self, ids: list[int]) -> None:
        if self.context.query is None:
            self._update_count()
        if self._syncing or ids == self.grid.selected_ids():
            return
        self._syncing = True
        try:
            self.grid.select_ids(ids)
        finally:
            self._syncing = False

    def _on_clicked(self, photo_id: int) -> None:
        if self.actions.click_mode.isChecked():
            self.actions.find_similar.trigger()

    def context_menu(self) -> QMenu:
        """The grid's context menu for the current selection."""
        menu = QMenu(self)
        a = self.actions
        many = len(self.context.selection) > 1
        find = menu.addAction(a.find_similar.icon(),
                              "More Like These" if many else "Find Similar")
        find.setShortcut(a.find_similar.shortcut())
        find.triggered.connect(a.find_similar.trigger)
        for action in (a.not_like, None, a.view_photo, a.open_default, a.show_in_folder,
                       a.copy_paths):
            menu.addAction(action) if action else menu.addSeparator()
        for action in reversed(self.menu_extras):  # after the search's own, when they apply
            if action.isEnabled():
                menu.insertAction(menu.actions()[2], action)
        return menu

    def _show_menu(self, pos: QPoint) -> None:
        if self.grid.indexAt(pos).isValid():
            self.context_menu().exec(self.grid.viewport().mapToGlobal(pos))
