"""Dragging a rectangle over the photo in the viewer: with the "Select region" tool on, or
with Shift held (a plain drag still pans the photo)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QGraphicsView

from gui.regions.overlay import Box, RegionOverlay, rect_box

MIN_SIDE_PX = 6  # a drag shorter than this on screen is a click, not a region


class RegionSelector(QObject):
    """Turns drags on ``view`` into a relative box on its photo (see :class:`RegionOverlay`).

    ``selected(box)``: a region was drawn (relative x, y, w, h on the upright photo);
    ``cleared()``: a click without a drag removed it.
    """

    selected = Signal(tuple)
    cleared = Signal()

    def __init__(self, view: QGraphicsView, overlay: RegionOverlay,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.overlay = overlay
        self.active = False  # the "Select region" tool: every drag draws a region
        self._start: QPointF | None = None  # the press, in the pixmap's pixels
        self._press_pos = QPointF()
        view.viewport().installEventFilter(self)

    @property
    def box(self) -> Box | None:
        return self.overlay.selection

    def set_active(self, active: bool) -> None:
        """Turn the tool on (drags draw regions, cross cursor) or off (drags pan)."""
        self.active = active
        self.view.setDragMode(QGraphicsView.DragMode.NoDrag if active
                              else QGraphicsView.DragMode.ScrollHandDrag)
        if active:
            self.view.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.view.viewport().unsetCursor()

    def clear(self) -> None:
        self.overlay.set_selection(None)
        self.cleared.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        pressed = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick)
        if kind in pressed and isinstance(event, QMouseEvent):
            return self._press(event)
        if kind == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            return self._move(event)
        if kind == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            return self._release(event)
        return False

    def _pixmap_point(self, event: QMouseEvent) -> QPointF:
        scene = self.view.mapToScene(event.position().toPoint())
        return self.overlay.photo.mapFromScene(scene)

    def _press(self, event: QMouseEvent) -> bool:
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if event.button() != Qt.MouseButton.LeftButton or not (self.active or shift):
            return False
        if self.overlay.photo.pixmap().isNull():
            return False
        self._start = self._pixmap_point(event)
        self._press_pos = event.position()
        return True  # the view does not pan while a region is drawn

    def _move(self, event: QMouseEvent) -> bool:
        if self._start is None:
            return False
        moved = event.position() - self._press_pos
        if max(abs(moved.x()), abs(moved.y())) >= MIN_SIDE_PX:  # not a click's jitter
            self._show(self._start, self._pixmap_point(event))
        return True

    def _release(self, event: QMouseEvent) -> bool:
        if self._start is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        start, self._start = self._start, None
        moved = event.position() - self._press_pos
        if max(abs(moved.x()), abs(moved.y())) < MIN_SIDE_PX:
            self.clear()  # a click: no region
            return True
        box = self._show(start, self._pixmap_point(event))
        if box[2] > 0 and box[3] > 0:
            self.selected.emit(box)
        else:
            self.clear()
        return True

    def _show(self, a: QPointF, b: QPointF) -> Box:
        size = self.overlay.photo.pixmap().size()
        box = rect_box(QRectF(a, b), size.width(), size.height())
        self.overlay.set_selection(box if box[2] > 0 and box[3] > 0 else None)
        return box
