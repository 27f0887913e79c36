"""The map's plot: one scatter item for all points, small items for the selection and the
query, rectangle and lasso selection, a hover card, and thumbnails at high zoom.

pyqtgraph's own hover and click handling (``hoverable=True``, ``sigClicked``) build one
SpotItem per point on first use: ~1 s for 100,000 points, again after every ``setData``.
So hits are found with :func:`core.clusters.nearest_point` over the numpy arrays instead.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

BACKGROUND = "#1b1d22"  # as the image viewer
SELECTION_PEN = pg.mkPen("#ffffff", width=1.6)
QUERY_PEN = pg.mkPen("#ffb000", width=2.2)
OVERLAY_PEN = pg.mkPen("#8ab4ff", width=1.5, style=Qt.PenStyle.DashLine)
OVERLAY_BRUSH = QBrush(QColor(138, 180, 255, 40))
HOVER_SIZE = 160  # px, the hover card's thumbnail
MODES = ("pan", "rect", "lasso")


class MapViewBox(pg.ViewBox):
    """Pan and zoom; rectangle selection (``rect`` mode or Shift+drag) and lasso."""

    rect_selected = Signal(object, object, object)  # corner, corner (QPointF), modifiers
    lasso_selected = Signal(object, object)  # (m, 2) polygon in map units, modifiers
    clicked = Signal(object, object)  # QPointF in map units, modifiers

    def __init__(self) -> None:
        super().__init__(enableMenu=False, defaultPadding=0.04)
        self.setAspectLocked(True)
        self.mode = "pan"
        self._trace: list[QPointF] = []
        self._overlay = QGraphicsPathItem()
        self._overlay.setPen(OVERLAY_PEN)
        self._overlay.setBrush(OVERLAY_BRUSH)
        self._overlay.setZValue(1e6)
        self._overlay.hide()
        self.addItem(self._overlay, ignoreBounds=True)

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:  # noqa: N802
        mode = self.mode
        if mode == "pan" and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:  # type: ignore
            mode = "rect"
        if mode == "pan" or ev.button() != Qt.MouseButton.LeftButton:  # type: ignore
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()  # type: ignore[attr-defined]
        here = self.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        if ev.isStart():  # type: ignore[attr-defined]
            self._trace = [self.mapSceneToView(ev.buttonDownScenePos())]  # type: ignore
        if mode == "rect":
            self._trace = [self._trace[0], here]
        else:
            self._trace.append(here)
        self._draw_overlay(mode)
        if ev.isFinish():  # type: ignore[attr-defined]
            self._overlay.hide()
            modifiers = ev.modifiers()  # type: ignore[attr-defined]
            if mode == "rect":
                self.rect_selected.emit(self._trace[0], self._trace[-1], modifiers)
            else:
                polygon = np.array([(p.x(), p.y()) for p in self._trace], dtype=np.float64)
                self.lasso_selected.emit(polygon, modifiers)
            self._trace = []

    def mouseClickEvent(self, ev: object) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            ev.accept()  # type: ignore[attr-defined]
            self.clicked.emit(self.mapSceneToView(ev.scenePos()), ev.modifiers())  # type: ignore
        else:
            super().mouseClickEvent(ev)

    def _draw_overlay(self, mode: str) -> None:
        path = QPainterPath()
        if mode == "rect":
            path.addRect(QRectF(self._trace[0], self._trace[-1]).normalized())
        else:
            path.moveTo(self._trace[0])
            for point in self._trace[1:]:
                path.lineTo(point)
            path.closeSubpath()
        self._overlay.setPath(path)
        self._overlay.show()


class HoverCard(QGraphicsRectItem):
    """A thumbnail and file name drawn beside the hovered point, unscaled by the zoom."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(QBrush(QColor(250, 250, 252, 245)))
        self.setPen(QPen(QColor(0, 0, 0, 90)))
        self.setZValue(2e6)
        self._pixmap = QGraphicsPixmapItem(self)
        self._text = QGraphicsSimpleTextItem(self)
        self._text.setBrush(QColor("#1f2430"))
        font = QFont()
        font.setPointSizeF(8.5)
        self._text.setFont(font)
        self.photo_id = -1
        self.hide()

    def show_photo(self, photo_id: int, at: QPointF, pixmap: QPixmap | None, name: str) -> None:
        self.photo_id = photo_id
        self.setPos(at)
        pad = 6
        if pixmap is None or pixmap.isNull():
            pixmap = QPixmap(HOVER_SIZE, HOVER_SIZE * 2 // 3)
            pixmap.fill(QColor("#dfe3e8"))
        self._pixmap.setPixmap(pixmap)
        self._text.setText(name)
        width = max(pixmap.width(), int(self._text.boundingRect().width())) + 2 * pad
        height = pixmap.height() + int(self._text.boundingRect().height()) + 3 * pad
        # Below-right of the point; y grows downwards in these unscaled coordinates.
        self.setRect(14, 14, width, height)
        self._pixmap.setPos(14 + pad, 14 + pad)
        self._text.setPos(14 + pad, 14 + 2 * pad + pixmap.height())
        self.show()

    def clear(self) -> None:
        self.photo_id = -1
        self.hide()


class ThumbnailLayer:
    """Up to ``cap`` thumbnails drawn at their points (items reused, unscaled by zoom)."""

    def __init__(self, view: pg.ViewBox, cap: int = 300) -> None:
        self.view = view
        self.cap = cap
        self._items: list[QGraphicsPixmapItem] = []
        self.shown: dict[int, QGraphicsPixmapItem] = {}  # photo id -> item

    def show(self, placed: list[tuple[int, float, float, QPixmap | None]]) -> None:
        """Draw these (photo id, x, y, pixmap or None while loading); hide the rest."""
        self.shown.clear()
        k = 0
        for photo_id, x, y, pixmap in placed[: self.cap]:
            if pixmap is None:
                continue
            item = self._item(k)
            item.setPixmap(pixmap)
            item.setOffset(-pixmap.width() / 2, -pixmap.height() / 2)
            item.setPos(x, y)
            item.show()
            self.shown[photo_id] = item
            k += 1
        for item in self._items[k:]:
            item.hide()

    def hide(self) -> None:
        self.show([])

    def _item(self, k: int) -> QGraphicsPixmapItem:
        while len(self._items) <= k:
            item = QGraphicsPixmapItem()
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            item.setZValue(10)
            self.view.addItem(item, ignoreBounds=True)
            self._items.append(item)
        return self._items[k]


def point_size(n: int) -> int:
    """Dot size in pixels: large for a few hundred photos, small for 100,000."""
    return 9 if n < 1000 else 6 if n < 20_000 else 4


def scatter_arrays(xy: NDArray[np.float32]) -> dict[str, object]:
    """The keyword arguments that put ``xy`` into a ScatterPlotItem (data = row numbers)."""
    return {"x": xy[:, 0], "y": xy[:, 1], "data": np.arange(len(xy))}
