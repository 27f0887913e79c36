"""Two photos side by side at the same zoom and position, and a difference overlay."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

SCENE_WIDTH = 1000.0  # both photos are laid out this wide: same position = same place


def to_qimage(rgb: NDArray[np.uint8]) -> QImage:
    """A deep-copied QImage of an (h, w, 3) uint8 array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def difference(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """|a - b| per pixel, b resized (nearest) to a's shape, amplified 4x so that small
    differences (a re-encode's) show."""
    if a.shape != b.shape:
        rows = (np.arange(a.shape[0]) * b.shape[0] // a.shape[0]).clip(0, b.shape[0] - 1)
        cols = (np.arange(a.shape[1]) * b.shape[1] // a.shape[1]).clip(0, b.shape[1] - 1)
        b = b[rows][:, cols]
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)) * 4
    return diff.clip(0, 255).astype(np.uint8)


class PhotoView(QGraphicsView):
    """One photo scaled to SCENE_WIDTH; wheel zooms about the cursor. ``moved`` reports
    every change of zoom or scroll position so that a twin can follow."""

    moved = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.horizontalScrollBar().valueChanged.connect(self.moved)
        self.verticalScrollBar().valueChanged.connect(self.moved)
        self.zoom = 1.0  # 1 = whole photo fits

    def set_image(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            self._item.setPixmap(QPixmap())
            return
        pixmap = QPixmap.fromImage(image)
        self._item.setPixmap(pixmap)
        self._item.setScale(SCENE_WIDTH / max(pixmap.width(), 1))
        height = pixmap.height() * SCENE_WIDTH / max(pixmap.width(), 1)
        self.scene().setSceneRect(QRectF(0, 0, SCENE_WIDTH, height))
        self._apply()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = float(np.clip(zoom, 1.0, 32.0))
        self._apply()
        self.moved.emit()

    def _fit_scale(self) -> float:
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return 1.0
        view = self.viewport().rect()
        return min(view.width() / rect.width(), view.height() / rect.height())

    def _apply(self) -> None:
        s = self._fit_scale() * self.zoom
        self.setTransform(QTransform.fromScale(s, s))

    def wheelEvent(self, event: QWheelEvent) -> None:
        step = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.set_zoom(self.zoom * step)
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._apply()

    def centre(self) -> tuple[float, float]:
        """The scene point at the middle of the viewport."""
        point = self.mapToScene(self.viewport().rect().center())
        return point.x(), point.y()


class SyncedPair(QWidget):
    """Two :class:`PhotoView` s that follow each other's zoom and position."""

    def __init__(self, parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QHBoxLayout

        super().__init__(parent)
        self.left, self.right = PhotoView(self), PhotoView(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.left)
        layout.addWidget(self.right)
        self._syncing = False
        self.left.moved.connect(lambda: self._follow(self.left, self.right))
        self.right.moved.connect(lambda: self._follow(self.right, self.left))

    def _follow(self, leader: PhotoView, follower: PhotoView) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            if follower.zoom != leader.zoom:
                follower.set_zoom(leader.zoom)
            x, y = leader.centre()
            follower.centerOn(x, y * _height_ratio(leader, follower))
        finally:
            self._syncing = False


def _height_ratio(a: PhotoView, b: PhotoView) -> float:
    ha, hb = a.scene().sceneRect().height(), b.scene().sceneRect().height()
    return hb / ha if ha > 0 else 1.0
