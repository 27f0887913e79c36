"""The main window: builds the views, docks, menus and status bar, and connects them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from core.catalog.faults import CatalogDamaged
from core.catalog.rebuild import rebuild
from core.embed.models import SEMANTIC
from core.embed.offline import offline_models
from core.errors import LookalikeError, ModelUnavailable
from core.library import Library
from core.paths import display
from gui import commands
from gui.actions import build_menus, create_actions, icon
from gui.context import AppContext
from gui.dialogs.info import ShortcutsDialog, offer_rebuild, show_about, show_error
from gui.dialogs.preferences import ask_preferences
from gui.dialogs.weights import WeightsMissingDialog
from gui.elided import clamp_to_screen
from gui.grid import LibraryView
from gui.indexing import Indexer
from gui.layer import LayerSwitcher
from gui.panels.empty import EmptyState
from gui.panels.folders import FolderPanel
from gui.panels.problems import ProblemsPanel
from gui.panels.status import StatusPanel
from gui.search import SearchController
from gui.settings import ModelChoice, Settings
from gui.similarity import SimilarityBar
from gui.viewer import ViewerWindow


class MainWindow(QMainWindow):
    """Views in tabs (``add_view``), panels in docks (``add_dock``), one status bar."""

    def __init__(self, context: AppContext, settings: Settings, options: ModelChoice) -> None:
        super().__init__()
        self.context, self.settings, self.options = context, settings, options
        self.model_chosen = False  # the user chose a model: it overrides the library's
        self._pending: tuple[Path, Path | None] | None = None  # a library that failed to open
        self.setObjectName("mainWindow")
        self.setWindowTitle("Lookalike")
        self.setWindowIcon(icon("lookalike"))
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self.actions = create_actions(self)
        self.recent_menu, self.view_menu = build_menus(self, self.actions)
        self.search = SearchController(context, self)
        self.indexer = Indexer(context, self)
        self.layers = LayerSwitcher(context, self)
        self._layer: str | None = None  # a layer to open the next library with (Preferences)
        self.library_view = LibraryView(context, self.actions, settings.thumbnail_size,
                                        settings.sort, self)
        self.views = QTabWidget(self)
        self.views.setObjectName("views")
        self.views.setDocumentMode(True)
        self.views.setTabBarAutoHide(True)
        self.empty = EmptyState(self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.views)
        self.setCentralWidget(self.stack)
        self.add_view("Library", self.library_view)
        self.similarity = SimilarityBar(context, self.search, self)
        self.library_view.add_bar(self.similarity)
        self.similarity.attach_grid(self.library_view.grid)
        self.similarity.finetuned.connect(self._use_finetuned)
        next(a.menu() for a in self.menuBar().actions() if a.text() == "&Search").addAction(
            self.similarity.finetune)
        self.library_view.menu_extras += [self.similarity.mark_similar,
                                          self.similarity.mark_not_similar]
        self.similarity.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.folders = FolderPanel(context, self)
        self.problems = ProblemsPanel(context, self)
        folders_dock = self.add_dock("Folders", self.folders,
                                     Qt.DockWidgetArea.LeftDockWidgetArea)
        problems_dock = self.add_dock("Problems", self.problems,
                                      Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(folders_dock, problems_dock)
        folders_dock.raise_()
        self.status = StatusPanel(self)
        self.statusBar().addWidget(self.status, 1)
        self.model_label = QLabel(self)
        self.model_label.setObjectName("modelLabel")
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().setSizeGripEnabled(False)
        self._connect()
        self._fill_recent()

    # -- extension hooks -------------------------------------------------------------------

    def add_view(self, title: str, widget: QWidget) -> None:
        """Add a view (the map, …) as a tab beside the library grid."""
        self.views.addTab(widget, title)

    def add_dock(self, title: str, widget: QWidget,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Add a panel in a dock (its state is saved with the window's)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(widget)
        dock.setMinimumWidth(220)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    # -- wiring ----------------------------------------------------------------------------

    def _connect(self) -> None:
        a, c = self.actions, self.context
        a.open_folder.triggered.connect(self.choose_folder)
        a.rescan.triggered.connect(lambda: self.indexer.start())
        a.search_image.triggered.connect(self.choose_search_image)
        a.quit.triggered.connect(self.close)
        a.find_similar.triggered.connect(lambda: self.search.find_similar(c.selection))
        a.not_like.triggered.connect(lambda: self.search.not_like(c.selection))
        a.back_to_library.triggered.connect(self.search.back_to_library)
        a.back.triggered.connect(self.search.back)
        a.forward.triggered.connect(self.search.forward)
        a.view_photo.triggered.connect(lambda: self.open_viewer(c.current))
        a.open_default.triggered.connect(lambda: commands.open_paths(commands.selected_paths(c)))
        a.show_in_folder.triggered.connect(
            lambda: commands.show_in_file_manager(commands.selected_paths(c)))
        a.copy_paths.triggered.connect(lambda: commands.copy_paths(commands.selected_paths(c)))
        a.zoom_in.triggered.connect(lambda: self.library_view.set_tile_size(
            self.library_view.size_slider.value() + 32))
        a.zoom_out.triggered.connect(lambda: self.library_view.set_tile_size(
            self.library_view.size_slider.value() - 32))
        a.preferences.triggered.connect(self.show_preferences)
        a.shortcuts.triggered.connect(lambda: ShortcutsDialog(a.all(), self).open())
        a.about.triggered.connect(lambda: show_about(self))
        self.empty.open_requested.connect(self.choose_folder)
        self.empty.recent_chosen.connect(self.open_library)
        self.library_view.photo_activated.connect(self.open_viewer)
        self.library_view.tile_size_changed.connect(
            lambda size: setattr(self.settings, "thumbnail_size", size))
        self.library_view.sort_changed.connect(lambda key: setattr(self.settings, "sort", key))
        self.actions.show_captions.setChecked(self.settings.captions)
        self.actions.show_captions.toggled.connect(
            lambda shown: setattr(self.settings, "captions", shown))
        self.folders.folder_chosen.connect(self.library_view.set_folder)
        self.status.cancel_requested.connect(self._cancel_indexing)
        self.indexer.progressed.connect(self.status.show_progress)
        self.indexer.finished.connect(self.status.show_message)
        self.indexer.model_unavailable.connect(self._offer_weights)
        self.layers.progressed.connect(self.status.show_progress)
        self.layers.message.connect(self.status.show_message)
        self.layers.switched.connect(lambda _layer: self._reopen())
        self.search.history_changed.connect(self._update_actions)
        self.search.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.search.busy_changed.connect(
            lambda busy: self.statusBar().showMessage("Searching…" if busy else "", 0))
        c.workers.failed.connect(self.show_error)
        c.selection_changed.connect(self._update_actions)
        c.query_changed.connect(self._update_actions)
        c.library_changed.connect(self._update_actions)
        self._update_actions()

    def _update_actions(self) -> None:
        a, c = self.actions, self.context
        has_library, selected = c.library is not None, bool(c.selection)
        for action in (a.find_similar, a.view_photo, a.open_default, a.show_in_folder,
                       a.copy_paths):
            action.setEnabled(has_library and selected)
        a.not_like.setEnabled(selected and c.query is not None)
        a.back_to_library.setEnabled(c.query is not None)
        a.back.setEnabled(self.search.can_back)
        a.forward.setEnabled(self.search.can_forward)
        a.rescan.setEnabled(has_library)
        a.search_image.setEnabled(has_library)

    # -- libraries -------------------------------------------------------------------------

    def choose_folder(self) -> None:
        start = str(self.context.library.root) if self.context.library else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos", start)
        if folder:
            self.open_library(Path(folder))

    def open_library(self, folder: Path, catalog: Path | None = None) -> bool:
        """Open ``folder`` as the library and start scanning it; False (and a dialog) if not.

        A running scan is cancelled first; the library opens once it has stopped.
        """
        if self.indexer.running or self.layers.running:
            self.status.show_cancelling()
            self.indexer.cancel_then(lambda: self.layers.cancel_then(
                lambda: self.open_library(folder, catalog)))
            return True
        self.context.set_library(None)
        o, told = self.options, self.model_chosen  # else: the model the library remembers
        layer, self._layer = self._layer, None  # else: the layer the library remembers
        self.model_chosen = False
        try:
            library = Library(Path(folder), catalog_path=catalog, model=o.model if told else None,
                              weights=o.weights if told else None, device=o.device, lock=True,
                              default_model=o.model, default_weights=o.weights, layer=layer)
        except ModelUnavailable as exc:  # a weights file that cannot be read
            self._pending = (Path(folder), catalog)
            self._offer_weights(exc.plain)
            return False
        except CatalogDamaged as exc:  # damaged, or written by a newer Lookalike
            self._rebuild_box = offer_rebuild(
                self, exc, lambda: self._rebuild_and_open(Path(folder), catalog))
            return False
        except LookalikeError as exc:
            self.show_error("Opening the folder", exc)
            if not Path(folder).is_dir():
                self.settings.remove_recent(Path(folder))
                self._fill_recent()
            return False
        self._pending = None
        library.video_options = self.settings.video_options
        self.settings.add_recent(library.root)
        self._fill_recent()
        self.context.set_library(library)
        self.setWindowTitle(f"{display(library.root.name)} — Lookalike")
        self.model_label.setText(commands.describe_model(library))
        self.stack.setCurrentWidget(self.views)
        self.status.show_message("Opening…")
        self.indexer.start(after=self.library_view.listed)  # the grid is listed first
        return True

    def _reopen(self) -> None:
        """Open the current (or the last attempted) library again, with new options."""
        library = self.context.library
        if library is not None:
            self.open_library(library.root, library.catalog.path)
        elif self._pending is not None:
            self.open_library(*self._pending)

    def _cancel_indexing(self) -> None:
        self.status.show_cancelling()
        self.indexer.cancel()
        self.layers.cancel_then(lambda: None)

    def _offer_weights(self, message: str) -> None:
        dialog = WeightsMissingDialog(message, self)
        dialog.file_chosen.connect(self._use_weights_file)
        dialog.retry_requested.connect(self._reopen)
        dialog.model_chosen.connect(self._use_model)
        self.context.workers.run(offline_models, self.options.model, what="Listing models",
                                 on_result=dialog.offer_models, on_error=lambda _exc: None)
        dialog.open()
        self.weights_dialog = dialog

    def _use_model(self, name: str) -> None:
        self.settings.model_choice = self.options = replace(self.options, model=name,
                                                            weights="default")
        self.model_chosen = True
        self._reopen()

    def _use_weights_file(self, path: str) -> None:
        self.settings.weights = path
        self.options = replace(self.options, weights=path)
        self.model_chosen = True
        self._reopen()

    def _use_finetuned(self, path: str) -> None:
        """Search with fine-tuned weights: their semantic layer (fine-tuning trains the last
        stage; an earlier, visual layer is the same as before), embedded by the dialog."""
        self._layer = SEMANTIC
        self._use_weights_file(path)

    def show_preferences(self) -> None:
        library = self.context.library
        choice, video, layer = ask_preferences(self, self.options, self.settings.video_options,
                                               library.layer if library else None)
        if video is not None:  # for the clips indexed from now on
            self.settings.video_options = video
            if self.context.library is not None:
                self.context.library.video_options = video
        if choice is not None:  # another model: indexing it embeds the chosen layer
            self.settings.model_choice = self.options = choice
            self.model_chosen = True
            self._layer = layer
            self._reopen()
        elif layer is not None:  # the current vectors serve until the new layer's are made
            self.layers.switch(layer)

    def _fill_recent(self) -> None:
        recent = self.settings.recent_libraries
        self.recent_menu.clear()
        for folder in recent:
            self.recent_menu.addAction(display(folder), lambda f=folder: self.open_library(f))
        self.recent_menu.setEnabled(bool(recent))
        self.empty.set_recent(recent)

    # -- photos ----------------------------------------------------------------------------

    def open_viewer(self, photo_id: int) -> ViewerWindow | None:
        ids = self.library_view.model.ids()
        if photo_id not in ids:
            return None
        at = self.library_view.model.time(photo_id)
        if self.context.moment is not None and self.context.moment[0] == photo_id:
            at = self.context.moment[1]  # a clip's frame picked on the map
        viewer = ViewerWindow(self.context, self.library_view.cache, ids, ids.index(photo_id),
                              self, at=at,
                              boxes=self.library_view.model.boxes(matched_only=True))
        viewer.find_similar_requested.connect(lambda pid: self.search.find_similar([pid]))
        viewer.find_similar_moment.connect(self.search.find_similar_moment)
        viewer.find_region_requested.connect(self.search.find_region)
        viewer.show()
        return viewer

    def choose_search_image(self) -> None:
        path = commands.choose_image(self, self.context)
        if path is not None:
            self.search.search_file(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if commands.dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = commands.dropped_path(event.mimeData())
        if path is None:
            return
        event.acceptProposedAction()
        if path.is_dir():
            self.open_library(path)
        elif self.context.library is not None:
            self.search.search_file(path)
        else:
            self.statusBar().showMessage("Open a folder first, then drop a photo on it.", 5000)

    # -- errors, state, quitting -----------------------------------------------------------

    def show_error(self, what: str, exc: BaseException) -> QMessageBox:
        self.error_box = show_error(self, what, exc)
        return self.error_box

    def _rebuild_and_open(self, folder: Path, catalog: Path | None) -> None:
        """Set the damaged catalog aside, recover what can be read, then open the library."""
        try:
            done = rebuild(folder, catalog)
        except LookalikeError as exc:
            self.show_error("Rebuilding the catalog", exc)
            return
        self.status.show_message(f"Catalog rebuilt: {done.summary()}")
        self.open_library(folder, catalog)

    def restore_state(self) -> None:
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
            clamp_to_screen(self)  # saved on a larger screen, or widened by an old version
        if self.settings.window_state is not None:
            self.restoreState(self.settings.window_state)

    def save_state(self) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.thumbnail_size = self.library_view.size_slider.value()
        self.settings.sort = self.library_view.sort
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.indexer.stop(timeout_s=10)
        self.context.shutdown(timeout_s=5)
        super().closeEvent(event)
