"""The cluster map view: every photo as a point, similar photos together (core.map).

It shows the stored map (or an instant PCA layout) at once, computes or updates the UMAP
map in the background with progress, and stays in step with the app through the context:
a click selects a photo, a rectangle or lasso selects many, the selection and the current
query's results are highlighted. Colouring choices come from ``core.map.clusters.colourings``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from core.jobs import Progress
from core.map import MapResult, initial_layout, is_current
from core.map import clusters as groups
from core.map.engine import MapEngine
from gui.actions import icon
from gui.context import AppContext, Query
from gui.elided import ElidedLabel
from gui.grid.cache import ThumbnailCache
from gui.map.export import ExportOptions, ask_and_export, export_map
from gui.map.overlays import PhotoOverlays
from gui.map.plot import (
    BACKGROUND,
    QUERY_COLOUR,
    SELECTION_COLOUR,
    MapLegend,
    MapViewBox,
    PointCloud,
    point_size,
)
from gui.workers import JobHandle


class MapView(QWidget):
    """The map tab. ``set_points`` shows a precomputed map (tests, previews)."""

    map_shown = Signal(object)  # MapResult | None: what the view now shows

    def __init__(self, context: AppContext, parent: QWidget | None = None,
                 warm_up_after_ms: int | None = 3000, engine: MapEngine | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.engine = engine or context.map_engine  # a child process: UMAP never stalls the GUI
        self.cache = ThumbnailCache(context.workers, self, max_bytes=48 * 1024 * 1024)
        self.ids = np.zeros(0, dtype=np.int64)
        self.times: NDArray[np.float64] | None = None  # a clip frame's time per point
        self.xy = np.zeros((0, 2), dtype=np.float32)
        self.clusters = np.zeros(0, dtype=np.int32)
        self.result: MapResult | None = None
        self.colouring: groups.Colouring | None = None
        self.job: JobHandle | None = None
        self._stale = True  # the library changed since the map was last computed
        self._options: dict[str, Callable[[], groups.Colouring]] = {}
        self._build()
        self._connect()
        if warm_up_after_ms is not None:  # numba compiles umap's code once per process
            QTimer.singleShot(warm_up_after_ms, self, self._warm_up)

    def _warm_up(self) -> None:
        self.context.workers.start_job("Preparing the map", self.engine.warm_up_job)

    # -- building --------------------------------------------------------------------------

    def _build(self) -> None:
        self.view_box = MapViewBox()
        self.plot = pg.PlotWidget(viewBox=self.view_box, background=BACKGROUND)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()  # pyqtgraph's bare "A": the bar's Fit All does it
        self.scatter = PointCloud()
        self.selected_item = PointCloud(ring=True)
        self.selected_item.set_colours(np.zeros(0, np.intp), [SELECTION_COLOUR])
        self.query_item = PointCloud(ring=True)
        self.query_item.set_colours(np.zeros(0, np.intp), [QUERY_COLOUR])
        for z, item in ((0, self.scatter), (20, self.query_item), (21, self.selected_item)):
            item.setZValue(z)  # rings above the thumbnails (10, 11)
            self.view_box.addItem(item)
        self.overlays = PhotoOverlays(self.plot, self.view_box, self.cache, self)
        self.overlays.rings = [self.query_item, self.selected_item]

        bar = QHBoxLayout()
        bar.setContentsMargins(8, 6, 8, 6)
        self.mode_buttons = QButtonGroup(self)
        for mode, text, tip in (
            ("pan", "Move", "Drag to move, wheel to zoom (Shift+drag: rectangle)"),
            ("rect", "Rectangle", "Drag a rectangle to select photos (Ctrl: add)"),
            ("lasso", "Lasso", "Draw around photos to select them (Ctrl: add)"),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(mode == "pan")
            button.setProperty("mode", mode)
            self.mode_buttons.addButton(button)
            bar.addWidget(button)
        self.fit_button = QToolButton(self)
        self.fit_button.setIcon(icon("fit-all"))
        self.fit_button.setText("Fit All")
        self.fit_button.setToolTip("Show the whole map (Home)")
        self.fit_button.setShortcut("Home")
        self.fit_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addWidget(self.fit_button)
        bar.addSpacing(6)
        bar.addWidget(QLabel("Colour:", self))
        self.colour_combo = QComboBox(self)
        self.colour_combo.setMinimumWidth(120)  # the bar stays narrow: the docks can widen
        bar.addWidget(self.colour_combo)
        bar.addStretch(1)
        self.status = ElidedLabel("", self)
        self.status.setObjectName("hint")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(140)
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.recompute_button = QPushButton(icon("refresh"), "Recompute", self)
        self.recompute_button.setToolTip("Lay the map out again from scratch")
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save the map as a PNG image")
        for widget in (self.recompute_button, self.export_button):
            bar.addWidget(widget)
        status_row = QHBoxLayout()
        status_row.setContentsMargins(8, 0, 8, 4)
        self.selected_label = QLabel("", self)
        self.selected_label.setObjectName("hint")
        for widget in (self.status, self.progress, self.cancel_button, self.selected_label):
            status_row.addWidget(widget, 1 if widget is self.status else 0)
        self.progress.hide()
        self.cancel_button.hide()

        self.legend = MapLegend(self)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.plot, 1)
        body.addWidget(self.legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addLayout(status_row)
        layout.addLayout(body, 1)

    def _connect(self) -> None:
        c = self.context
        c.library_changed.connect(self._on_library_changed)
        c.photos_changed.connect(self._on_photos_changed)
        c.selection_changed.connect(self._on_selection_changed)
        c.query_changed.connect(self._on_query_changed)
        c.labels_changed.connect(self._refresh_colourings)
        c.indexing_changed.connect(lambda running: None if running else
                                   self._on_photos_changed())
        self.mode_buttons.buttonClicked.connect(
            lambda button: setattr(self.view_box, "mode", button.property("mode")))
        self.colour_combo.currentTextChanged.connect(self._on_colour_chosen)
        self.recompute_button.clicked.connect(lambda: self.compute(recompute=True))
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self._on_export)
        self.fit_button.clicked.connect(lambda: self.view_box.autoRange())
        self.legend.entry_clicked.connect(self._on_legend_clicked)
        self.view_box.clicked.connect(self._on_clicked)
        self.view_box.rect_selected.connect(self._on_rect_selected)
        self.view_box.lasso_selected.connect(self._on_lasso_selected)

    # -- showing points --------------------------------------------------------------------

    def set_points(self, ids: NDArray[np.int64], xy: NDArray[np.float32],
                   clusters: NDArray[np.int32] | None = None, *, fit: bool = True,
                   times: NDArray[np.float64] | None = None) -> None:
        """Show these points (photo ids, 2-D positions, cluster numbers or -1; a clip's kept
        frames: its id with their ``times``, NaN for photos); ``fit`` zooms out to all of
        them (else the view stays where the user left it)."""
        self.ids = np.asarray(ids, dtype=np.int64)
        self.times = times
        self.xy = np.ascontiguousarray(xy, dtype=np.float32)
        self.clusters = (np.full(len(self.ids), -1, np.int32) if clusters is None
                         else np.asarray(clusters, dtype=np.int32))
        size = point_size(len(self.ids))
        self.scatter.set_points(self.xy, size)
        self.selected_item.size = size + 6
        self.query_item.size = size + 11
        if fit:
            self.view_box.autoRange()
        self.overlays.thumbnails_enabled = self.context.library is not None
        self.overlays.set_points(self.ids, self.xy, times)
        self._refresh_colourings()
        self._on_selection_changed(self.context.selection)
        self._on_query_changed(self.context.query)

    def show_result(self, result: MapResult) -> None:
        """Show a map; an update of the map on screen keeps the zoom."""
        same_layout = self.result is not None and self.result.method == result.method \
            and len(self.ids) > 0
        self.result = result
        self.set_points(result.ids, result.xy, result.clusters, fit=not same_layout,
                        times=result.times)
        self.map_shown.emit(result)

    def colour_by(self, colouring: groups.Colouring) -> None:
        """Colour the points (one glyph per legend colour) and fill the legend."""
        if len(colouring.values) != len(self.ids):
            return  # computed for a map no longer shown
        self.colouring = colouring
        palette = [QColor(*rgb) for rgb in (groups.NONE_COLOUR, *colouring.colours())]
        self.scatter.set_colours(colouring.values + 1, palette)  # uncoloured: 0, underneath
        self.overlays.set_colours(self.scatter.colour, palette)
        self.legend.show_colouring(colouring)

    def _refresh_colourings(self) -> None:
        """Fill the colour-by combo with what the library offers; re-apply the choice."""
        library = self.context.library
        if library is not None:
            self._options = groups.colourings(library.catalog, self.ids, self.clusters,
                                              library.model_key)
        else:
            self._options = {"Cluster": lambda: groups.by_cluster(self.clusters)}
        chosen = self.colour_combo.currentText() or "Cluster"
        self.colour_combo.blockSignals(True)
        self.colour_combo.clear()
        self.colour_combo.addItems(list(self._options))
        self.colour_combo.setCurrentText(chosen if chosen in self._options else "Cluster")
        self.colour_combo.blockSignals(False)
        self._on_colour_chosen(self.colour_combo.currentText())

    def _on_colour_chosen(self, name: str) -> None:
        make = self._options.get(name)
        if make is None:
            return
        if name == "Cluster":  # in memory: at once
            self.colour_by(make())
        else:  # may read the catalog: off the GUI thread, dropped if the map changed
            ids = self.ids
            self.context.workers.run(
                make, on_result=lambda c: self.colour_by(c) if self.ids is ids else None,
                what=f"Colouring by {name}")

    # -- computing -------------------------------------------------------------------------

    def compute(self, *, recompute: bool = False) -> None:
        """Compute (or update, or reuse) the open library's map in the background."""
        library = self.context.library
        if library is None:
            return
        self.cancel()
        catalog, model = library.catalog, library.model_key
        self._stale = False
        if self.result is None:
            self.context.workers.run(
                initial_layout, catalog, model, what="Reading the map",
                on_result=lambda r: self._on_initial(r) if self.context.library is library
                else None)
        job = self.context.workers.start_job(
            "Map", lambda cancel: self.engine.compute(catalog, model, recompute=recompute,
                                                      cancel=cancel))
        job.progressed.connect(self._on_progress)
        job.succeeded.connect(lambda result: self._on_computed(job, result))
        job.ended.connect(lambda: self._on_job_ended(job))
        job.failed.connect(lambda exc: self.status.setText(f"Map failed: {exc}"))
        job.cancelled.connect(lambda: self.status.setText("Map computation cancelled"))
        self.job = job
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.recompute_button.setEnabled(False)

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    def _on_initial(self, result: MapResult) -> None:
        if self.result is None and len(result):
            self.show_result(result)

    def _on_progress(self, progress: Progress) -> None:
        self.status.setText(progress.text)
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        else:
            self.progress.setRange(0, 0)

    def _on_computed(self, job: JobHandle, result: MapResult) -> None:
        if job is not self.job:
            return
        if self.result is None or result.how != "cached" or len(result) != len(self.ids):
            self.show_result(result)
        else:
            self.result = result
        unclustered = int((result.clusters < 0).sum())
        self.status.setText(f"{result.describe()} · {len(result.cluster_info)} clusters"
                            + (f" · {unclustered:,} in none" if unclustered else ""))

    def _on_job_ended(self, job: JobHandle) -> None:
        if job is self.job:
            self.job = None
            self.progress.hide()
            self.cancel_button.hide()
            self.recompute_button.setEnabled(True)
            if self._stale and self.isVisible():
                self._schedule_update()

    def _on_library_changed(self) -> None:
        self.cancel()
        self.job = None
        self.result = None
        self.cache.set_catalog(self.context.library.catalog if self.context.library else None)
        self.set_points(np.zeros(0, np.int64), np.zeros((0, 2), np.float32))
        self.status.setText("")
        self._stale = True
        if self.context.library is not None and self.isVisible():
            self.compute()

    def _on_photos_changed(self) -> None:
        self._stale = True
        self.cache.forget_missing()
        if self.isVisible() and not self.context.indexing:
            self._schedule_update()

    @qdebounced(timeout=1500)
    def _schedule_update(self) -> None:
        library = self.context.library
        if library is None or (self.job is not None and self.job.running):
            return
        if self.result is None or not is_current(library.catalog, library.model_key,
                                                 self.result):
            self.compute()

    def showEvent(self, event: object) -> None:
        super().showEvent(event)  # type: ignore[arg-type]
        if self._stale and self.context.library is not None and self.job is None:
            self.compute()

    # -- interaction -----------------------------------------------------------------------

    def _on_clicked(self, at: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        row = self.overlays.pick(at)
        if row is None:
            if not modifiers & Qt.KeyboardModifier.ControlModifier:
                self.context.set_selection([])
            return
        photo_id = int(self.ids[row])
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            chosen = list(self.context.selection)
            chosen = [i for i in chosen if i != photo_id] if photo_id in chosen \
                else [*chosen, photo_id]
            self.context.set_selection(chosen)
        else:
            self.context.set_selection([photo_id])
        self.context.set_current(photo_id)
        if self.times is not None and not np.isnan(self.times[row]):
            self.context.set_moment(photo_id, float(self.times[row]))  # the viewer opens there

    def _select_rows(self, rows: NDArray[np.intp], modifiers: Qt.KeyboardModifier) -> None:
        ids = [int(i) for i in self.ids[rows]]
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            ids = [*self.context.selection, *ids]
        self.context.set_selection(ids)
        if len(rows):
            self.context.set_current(ids[-1] if modifiers else int(self.ids[rows[0]]))

    def _on_rect_selected(self, a: QPointF, b: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        self._select_rows(groups.in_rectangle(self.xy, (a.x(), a.y()), (b.x(), b.y())),
                          modifiers)

    def _on_lasso_selected(self, polygon: NDArray[np.float64],
                           modifiers: Qt.KeyboardModifier) -> None:
        self._select_rows(groups.in_polygon(self.xy, polygon), modifiers)

    def _on_legend_clicked(self, entry: int) -> None:
        if self.colouring is not None:
            self._select_rows(self.colouring.members(entry), Qt.KeyboardModifier.NoModifier)

    def _on_selection_changed(self, ids: list[int]) -> None:
        mask = np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        self.selected_label.setText(f"{len(ids):,} selected" if ids else "")
        self._highlight(self.selected_item, mask)
        self.overlays.set_marks(selected=mask)

    def _on_query_changed(self, query: Query | None) -> None:
        wanted = [] if query is None else [*query.positives, *(h.photo_id for h in query.hits)]
        mask = np.isin(self.ids, np.asarray(wanted, dtype=np.int64))
        self._highlight(self.query_item, mask)
        self.overlays.set_marks(in_query=mask)

    def _highlight(self, item: PointCloud, mask: NDArray[np.bool_]) -> None:
        item.set_points(self.xy[mask])

    def _on_export(self) -> None:
        ask_and_export(self)

    def export_png(self, path: Path, options: ExportOptions | None = None) -> bool:
        """Save the map as a PNG (see :func:`gui.map.export.export_map`)."""
        return export_map(self, path, options or ExportOptions(whole=False))
