"""The viewer's picture: one image, fit to the window or zoomed (wheel, +/-) and panned."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

NAVIGATION_KEYS = {Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
                   Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_Space, Qt.Key.Key_Backspace}


class ImageView(QGraphicsView):
    """One image: fit to the window, or zoomed (wheel, +/-) and panned by dragging."""

    image_changed = Signal()  # a new pixmap (its overlays are laid out again)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageView")
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.fitting = True
        self._source_width = 0  # the photo's pixel width (a thumbnail is shown scaled up)

    def set_image(self, pixmap: QPixmap, source_width: int) -> None:
        self._item.setPixmap(pixmap)
        self._source_width = source_width or pixmap.width()
        self._item.setScale(self._source_width / max(1, pixmap.width()))
        self.scene().setSceneRect(self._item.sceneBoundingRect())
        if self.fitting:
            self.fit()
        self.image_changed.emit()

    def fit(self) -> None:
        self.fitting = True
        rect = self._item.sceneBoundingRect()
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)

    def actual_size(self) -> None:
        self.fitting = False
        self.resetTransform()

    def zoom(self, factor: float) -> None:
        self.fitting = False
        scale = self.transform().m11() * factor
        if 0.02 < scale < 16:
            self.scale(factor, factor)

    def zoom_level(self) -> float:
        return self.transform().m11()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in NAVIGATION_KEYS:
            event.ignore()  # the viewer's: previous/next photo, not scrolling the image
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.fit()

    def image_rect(self) -> QRectF:
        return self._item.sceneBoundingRect()

    @property
    def photo_item(self) -> QGraphicsPixmapItem:
        return self._item
