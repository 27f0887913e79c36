"""Face boxes drawn over a photo in the viewer, each with its person's name; double-click
one to find that face in every photo."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsSceneMouseEvent,
    QGraphicsSimpleTextItem,
)

from core.faces import Face
from core.index import Hit
from core.library import Library
from gui.context import Query

BOX = QColor(255, 214, 10)


class FaceBox(QGraphicsRectItem):
    """One face's box; double-click: "Find this face"."""

    def __init__(self, rect: QRectF, face: Face, parent: QGraphicsItem,
                 on_find: Callable[[int], None] | None) -> None:
        super().__init__(rect, parent)
        self.face_id = face.id
        self._on_find = on_find
        self.setToolTip(f"{face.person_name or 'Unnamed'} · double-click: find this face")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        event.accept()  # a box takes its clicks (the photo pans elsewhere)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._on_find is not None:
            self._on_find(self.face_id)
        event.accept()


class FaceBoxes:
    """Boxes (children of the photo's pixmap item, so they zoom with it) for its faces."""

    def __init__(self, photo: QGraphicsPixmapItem,
                 on_find: Callable[[int], None] | None = None) -> None:
        self.photo = photo
        self.on_find = on_find
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
            box = FaceBox(rect, face, self.photo, self.on_find)
            box.setPen(QPen(BOX, line))
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


def people_query(library: Library, face_id: int) -> Query:
    """A grid query: the photos whose faces are nearest to face ``face_id``, nearest first
    (score: 1 - distance; the same person is above 1 - 0.55)."""
    hits = tuple(Hit(pid, max(0.0, 1.0 - d))
                 for pid, d in library.people.similar_faces(face_id))
    face = library.people.face(face_id)
    return Query((), (), hits, f"Face of {face.person_name or 'someone unnamed'}",
                 noun="with this face")
