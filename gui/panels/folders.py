"""The folder tree of the library: choosing a folder filters the grid."""

from __future__ import annotations

from pathlib import PurePath

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QTreeView, QVBoxLayout, QWidget

from core import browse
from core.browse import FolderNode
from core.library import Library
from gui.actions import icon
from gui.context import AppContext

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
REFRESH_WHILE_SCANNING_MS = 2000


class FolderPanel(QWidget):
    """Folders holding photos, with counts; refreshed after each scan."""

    folder_chosen = Signal(object)  # PurePath relative to the root, or None for all photos

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.model = QStandardItemModel(self)
        self.tree = QTreeView(self)
        self.tree.setObjectName("folderTree")
        self.tree.setModel(self.model)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.clicked.connect(self._on_clicked)
        self.tree.activated.connect(self._on_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self._token = 0
        self._folder_icon = icon("folder")
        self._later = QTimer(self)  # while a scan runs, refresh now and then, not per batch
        self._later.setSingleShot(True)
        self._later.setInterval(REFRESH_WHILE_SCANNING_MS)
        self._later.timeout.connect(self.refresh)
        context.library_changed.connect(self.refresh)
        context.photos_changed.connect(lambda: self._later.isActive() or self._later.start())
        context.indexing_changed.connect(lambda running: running or self.refresh())

    def refresh(self) -> None:
        """Read the folder tree again, off the GUI thread."""
        library = self.context.library
        self._token += 1
        token = self._token
        if library is None:
            self.model.clear()
            return
        self.context.workers.run(browse.folder_tree, library.catalog, what="Reading folders",
                                 on_result=lambda tree: self._show(token, library, tree))

    def _show(self, token: int, library: Library, tree: FolderNode) -> None:
        if token != self._token or library is not self.context.library:
            return
        selected = self.selected_folder()
        self.model.clear()
        root = QStandardItem(icon("library"), f"All photos ({tree.total:,})")
        root.setData(None, PATH_ROLE)
        self.model.appendRow(root)
        self._add_children(root, tree)
        self.tree.expand(root.index())
        for child in range(root.rowCount()):
            self.tree.expand(root.child(child).index())
        self._select(selected)

    def _add_children(self, parent: QStandardItem, node: FolderNode) -> None:
        for child in node.children:
            item = QStandardItem(self._folder_icon, f"{child.name} ({child.total:,})")
            item.setData(child.path.as_posix(), PATH_ROLE)
            item.setToolTip(child.path.as_posix())
            parent.appendRow(item)
            self._add_children(item, child)

    def selected_folder(self) -> PurePath | None:
        index = self.tree.currentIndex()
        value = index.data(PATH_ROLE) if index.isValid() else None
        return PurePath(value) if value else None

    def _select(self, folder: PurePath | None) -> None:
        matches = self.model.match(self.model.index(0, 0), PATH_ROLE,
                                   folder.as_posix() if folder else None, 1,
                                   Qt.MatchFlag.MatchRecursive | Qt.MatchFlag.MatchExactly)
        if folder is not None and matches:
            self.tree.setCurrentIndex(matches[0])
        else:
            self.tree.setCurrentIndex(self.model.index(0, 0))

    def _on_clicked(self, index: QModelIndex) -> None:
        value = index.data(PATH_ROLE)
        self.folder_chosen.emit(PurePath(value) if value else None)
