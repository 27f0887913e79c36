"""The grid widget: a QListView in icon mode over a ThumbnailModel."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelection, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QHelpEvent, QKeyEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QToolTip, QWidget

from gui.grid.delegate import JUDGE_TIPS, ThumbnailDelegate
from gui.grid.model import Roles, ThumbnailModel

GRID_MARGIN = 2  # spare pixels, so that a full row never wraps early


class GridView(QListView):
    """Tiles in rows that wrap; extended selection; Enter or double-click opens a photo."""

    photo_activated = Signal(int)  # photo id (double-click, Enter)
    photo_clicked = Signal(int)
    judge_clicked = Signal(int, bool)  # photo id, similar: a tile's judgement button

    def __init__(self, model: ThumbnailModel, delegate: ThumbnailDelegate,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("photoGrid")
        self.setModel(model)
        self.setItemDelegate(delegate)
        self._delegate = delegate
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setWrapping(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(5000)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always on: columns are fitted to the width, a scroll bar coming and going would
        # change it again.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setMouseTracking(True)  # hover highlight
        self.setDragEnabled(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # tiles are not text
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._fit_columns()
        self.doubleClicked.connect(self._on_double_clicked)
        self.clicked.connect(lambda index: self.photo_clicked.emit(int(index.data(Roles.ID))))
        self._pressed_button = False  # the press went to a judgement button: so does its release

    def photo_model(self) -> ThumbnailModel:
        model = self.model()
        assert isinstance(model, ThumbnailModel)
        return model

    def set_tile_size(self, size: int) -> None:
        self._delegate.set_tile_size(size)
        self._fit_columns()
        current = self.currentIndex()
        if current.isValid():
            self.scrollTo(current)

    def selected_ids(self) -> list[int]:
        """Selected photo ids in grid order."""
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        model = self.photo_model()
        return [model.photo_id(r) for r in rows]

    def current_id(self) -> int:
        index = self.currentIndex()
        return int(index.data(Roles.ID)) if index.isValid() else -1

    def select_ids(self, ids: list[int], scroll: bool = True) -> None:
        """Select exactly ``ids`` (those shown), make the first current and scroll to it."""
        model = self.photo_model()
        rows = sorted(r for r in (model.row_of(i) for i in ids) if r >= 0)
        selection = QItemSelection()
        start = prev = None
        for row in [*rows, None]:
            if start is not None and (row is None or row != prev + 1):  # type: ignore[operator]
                selection.select(model.index(start, 0), model.index(prev, 0))  # type: ignore[arg-type]
                start = None
            if row is not None and start is None:
                start = row
            prev = row
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.selectionModel().select(selection, flags)
        first = model.row_of(ids[0]) if ids else -1
        if first >= 0:
            self.selectionModel().setCurrentIndex(
                model.index(first, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
            if scroll:
                self.scrollTo(model.index(first, 0))

    def _fit_columns(self) -> None:
        """Widen the tiles a little so that whole columns fill the row."""
        natural = self._delegate.natural_cell().width()
        width = self.viewport().width() - 2 * GRID_MARGIN
        columns = max(1, width // natural)
        size = self._delegate.set_cell(max(natural, width // columns))
        if size != self.gridSize():
            self.setGridSize(size)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.photo_activated.emit(self.current_id())
            return
        super().keyPressEvent(event)

    # -- judgement buttons on the tiles ---------------------------------------------------------

    def set_judging(self, judging: bool) -> None:
        """Show the judgement buttons on result tiles (while results of a query are shown)."""
        if judging != self._delegate.judging:
            self._delegate.judging = judging
            self.viewport().update()

    def judge_button_at(self, pos: object) -> tuple[int, bool] | None:
        """(photo id, similar) of the judgement button at viewport ``pos``, if any."""
        index = self.indexAt(pos)  # type: ignore[arg-type]
        hit = self._delegate.judge_hit(self.visualRect(index), index, pos)  # type: ignore[arg-type]
        return None if hit is None else (int(index.data(Roles.ID)), hit)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = (self.judge_button_at(event.position().toPoint())
               if event.button() == Qt.MouseButton.LeftButton else None)
        self._pressed_button = hit is not None
        if hit is None:
            super().mousePressEvent(event)
            return
        event.accept()  # the selection stays as it is
        self.judge_clicked.emit(*hit)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pressed_button:  # no click (nor click-to-search) on the tile under it
            self._pressed_button = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        hit = self.judge_button_at(event.position().toPoint())
        if hit is not None:  # a quick second click on a button: a click, not "open the photo"
            self._pressed_button = True
            event.accept()
            self.judge_clicked.emit(*hit)
            return
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._delegate.judging:  # the button under the mouse lights up
            old, pos = self._delegate.hover, event.position().toPoint()
            self._delegate.hover = pos
            for point in (old, pos):
                if point is not None and self.indexAt(point).isValid():
                    self.viewport().update(self.visualRect(self.indexAt(point)))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._delegate.hover = None
        super().leaveEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            hit = self.judge_button_at(event.pos())
            if hit is not None:
                QToolTip.showText(event.globalPos(), JUDGE_TIPS[hit[1]], self.viewport())
                return True
        return super().viewportEvent(event)

    def _on_double_clicked(self, index: QModelIndex) -> None:
        self.photo_activated.emit(int(index.data(Roles.ID)))
