"""Face boxes drawn over a photo in the viewer, each with its person's name."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

from core.faces import Face

BOX = QColor(255, 214, 10)


class FaceBoxes:
    """Boxes (children of the photo's pixmap item, so they zoom with it) for its faces."""

    def __init__(self, photo: QGraphicsPixmapItem) -> None:
        self.photo = photo
        self.items: list[QGraphicsItem] = []

    def show(self, faces: list[Face]) -> None:
        """Replace the boxes with those of ``faces`` (relative boxes, upright photo)."""
        self.clear()
        pixmap = self.photo.pixmap()
        if pixmap.isNull():
            return
        width, height = pixmap.width(), pixmap.height()
        line = max(1.5, width / 400)
        for face in faces:
            rect = QRectF(face.x * width, face.y * height, face.w * width, face.h * height)
            box = QGraphicsRectItem(rect, self.photo)
            box.setPen(QPen(BOX, line))
            box.setToolTip(face.person_name or "Unnamed")
            self.items.append(box)
            if face.person_name:
                text = QGraphicsSimpleTextItem(face.person_name, self.photo)
                font = text.font()
                font.setPixelSize(max(10, round(width / 45)))
                text.setFont(font)
                text.setBrush(QBrush(Qt.GlobalColor.black))
                back = QGraphicsRectItem(text.boundingRect().adjusted(-3, -1, 3, 1), self.photo)
                back.setBrush(QBrush(BOX))
                back.setPen(QPen(Qt.PenStyle.NoPen))
                back.setPos(rect.left(), rect.bottom() + line)
                text.setPos(rect.left(), rect.bottom() + line)
                text.setZValue(1)
                self.items += [back, text]

    def clear(self) -> None:
        for item in self.items:
            scene = item.scene()
            if scene is not None:
                scene.removeItem(item)
        self.items.clear()
