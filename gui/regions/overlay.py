"""What the viewer draws over a photo for regions: the rectangle the user drags ("Find this
region"), the box a region search matched, and a label's heat map.

Every item is a child of the photo's pixmap item, so it zooms and pans with the photo; boxes
are kept relative (x, y, w, h on the upright photo) and laid out again when the pixmap changes
(the thumbnail shown first, then the full image).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

Box = tuple[float, float, float, float]

SELECTION = QColor("#ffffff")
SELECTION_EDGE = QColor(20, 24, 31)
MATCH = QColor("#ffb020")
DIM = QColor(0, 0, 0, 130)  # outside the selected region


def box_rect(box: Box, width: float, height: float) -> QRectF:
    """``box`` (relative) in the pixels of a ``width`` × ``height`` image."""
    x, y, w, h = box
    return QRectF(x * width, y * height, w * width, h * height)


def rect_box(rect: QRectF, width: float, height: float) -> Box:
    """A rectangle in image pixels as a relative box, clipped to the image."""
    r = rect.normalized().intersected(QRectF(0, 0, width, height))
    if r.isEmpty() or width <= 0 or height <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (r.x() / width, r.y() / height, r.width() / width, r.height() / height)


class RegionOverlay:
    """The selected region (white, dashed over a dark edge, the rest of the photo dimmed) and
    a region search's matched box (amber, captioned "Match")."""

    def __init__(self, photo: QGraphicsPixmapItem) -> None:
        self.photo = photo
        self.selection: Box | None = None
        self.match: Box | None = None
        self._dim = QGraphicsPathItem(photo)
        self._dim.setBrush(QBrush(DIM))
        self._dim.setPen(QPen(Qt.PenStyle.NoPen))
        self._edge = QGraphicsRectItem(photo)
        self._band = QGraphicsRectItem(photo)
        self._match = QGraphicsRectItem(photo)
        self._caption = QGraphicsSimpleTextItem("Match", photo)
        self._caption_back = QGraphicsRectItem(photo)
        font = self._caption.font()
        font.setBold(True)
        self._caption.setFont(font)
        self._caption.setBrush(QBrush(QColor(20, 24, 31)))
        text = self._caption.boundingRect()
        self._caption.setPos(0, 0)
        self._caption_back.setRect(QRectF(0, 0, text.width() + 10, text.height() + 2))
        self._caption.setTransform(self._caption.transform().fromTranslate(5, 1))
        self._caption_back.setBrush(QBrush(MATCH))
        self._caption_back.setPen(QPen(Qt.PenStyle.NoPen))
        for z, item in enumerate((self._dim, self._edge, self._band, self._match,
                                  self._caption_back, self._caption)):
            item.setZValue(10 + z)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            item.hide()
        for item in (self._caption, self._caption_back):  # a screen-sized caption at any zoom
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    @property
    def items(self) -> list[QGraphicsItem]:
        return [self._dim, self._edge, self._band, self._match, self._caption_back,
                self._caption]

    def set_selection(self, box: Box | None) -> None:
        self.selection = box
        self.relayout()

    def set_match(self, box: Box | None) -> None:
        self.match = box
        self.relayout()

    def selection_rect(self) -> QRectF | None:
        """The selection in the pixmap's pixels (None when nothing is selected)."""
        size = self.photo.pixmap().size()
        if self.selection is None or size.isEmpty():
            return None
        return box_rect(self.selection, size.width(), size.height())

    def relayout(self) -> None:
        """Place the items for the current pixmap's size (pens are cosmetic: the same
        width on screen at every zoom)."""
        size = self.photo.pixmap().size()
        width, height = size.width(), size.height()
        visible = not size.isEmpty()
        rect = self.selection_rect()
        for item in (self._dim, self._edge, self._band):
            item.setVisible(visible and rect is not None)
        if rect is not None:
            path = QPainterPath()
            path.addRect(QRectF(0, 0, width, height))
            path.addRect(rect)  # odd-even fill: the region itself stays clear
            self._dim.setPath(path)
            self._edge.setRect(rect)
            self._edge.setPen(_cosmetic(SELECTION_EDGE, 4))
            self._band.setRect(rect)
            self._band.setPen(_cosmetic(SELECTION, 2, Qt.PenStyle.DashLine))
        shown = visible and self.match is not None
        for item in (self._match, self._caption, self._caption_back):
            item.setVisible(shown)
        if shown and self.match is not None:
            match = box_rect(self.match, width, height)
            self._match.setRect(match)
            self._match.setPen(_cosmetic(MATCH, 3))
            self._caption.setPos(match.topLeft())
            self._caption_back.setPos(match.topLeft())


def _cosmetic(colour: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)
    return pen


# -- heat maps -----------------------------------------------------------------------------

_STOPS = np.array([[0.0, 40, 60, 220], [0.35, 30, 200, 230], [0.6, 250, 220, 40],
                   [1.0, 230, 40, 30]], np.float32)  # blue, cyan, yellow, red


def heat_colours(heat: NDArray[np.floating], max_alpha: int = 170) -> NDArray[np.uint8]:
    """RGBA pixels for a grid of scores in 0-1: cold blue to hot red, more opaque where
    hotter (a photo without the label stays almost clear); NaN (no region there): clear."""
    raw = np.asarray(heat, np.float32)
    h = np.clip(np.nan_to_num(raw, nan=0.0), 0, 1)
    out = np.empty((*h.shape, 4), np.uint8)
    for c in range(3):
        out[..., c] = np.interp(h, _STOPS[:, 0], _STOPS[:, c + 1]).astype(np.uint8)
    out[..., 3] = np.where(np.isnan(raw), 0, 25 + (max_alpha - 25) * h ** 1.5).astype(np.uint8)
    return out


def heat_image(heat: NDArray[np.floating]) -> QImage:
    """The heat grid as a small RGBA image (one pixel per cell)."""
    pixels = np.ascontiguousarray(heat_colours(heat))
    rows, columns = pixels.shape[:2]
    return QImage(pixels.data, columns, rows, 4 * columns,
                  QImage.Format.Format_RGBA8888).copy()


class HeatOverlay:
    """A translucent heat map over the photo, stretched smoothly to its size."""

    def __init__(self, photo: QGraphicsPixmapItem) -> None:
        self.photo = photo
        self.heat: NDArray[np.float32] | None = None
        self.item = QGraphicsPixmapItem(photo)
        self.item.setZValue(5)  # under the region boxes, over the photo
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.item.hide()

    def show(self, heat: NDArray[np.float32] | None) -> None:
        self.heat = heat
        self.relayout()

    def relayout(self) -> None:
        size = self.photo.pixmap().size()
        if self.heat is None or size.isEmpty():
            self.item.hide()
            return
        pixmap = QPixmap.fromImage(heat_image(self.heat))
        self.item.setPixmap(pixmap)
        self.item.setScale(1.0)
        self.item.setTransform(self.item.transform().fromScale(
            size.width() / pixmap.width(), size.height() / pixmap.height()))
        self.item.show()

    def colour_at(self, x: float, y: float) -> QColor:
        """The heat colour drawn at relative (x, y) (for checks: hot where the label is)."""
        if self.heat is None:
            return QColor(0, 0, 0, 0)
        rows, columns = self.heat.shape
        r = min(rows - 1, int(y * rows))
        c = min(columns - 1, int(x * columns))
        red, green, blue, alpha = heat_colours(self.heat[r:r + 1, c:c + 1])[0, 0]
        return QColor(int(red), int(green), int(blue), int(alpha))
