"""What the map draws over its points: a card with the hovered photo's thumbnail and name,
and, at high zoom (few points in view), the photos' thumbnails instead of dots."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)
from superqt.utils import qdebounced, qthrottled

from core.map import clusters as groups
from core.map.spread import spread_on_grid, thumbnail_side
from core.video import clock
from gui.grid.cache import ThumbnailCache
from gui.map.plot import QUERY_COLOUR, SELECTION_COLOUR

HOVER_PX = 160  # the hover card's thumbnail
HOVER_RADIUS_PX = 8  # how near the cursor a point must be to count as hovered or clicked
THUMBNAIL_CAP = 300  # at most this many thumbnails; more points in view: dots only
MARGIN_PX = 40  # room around the points' span for their thumbnails


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

    def show_photo(self, photo_id: int, at: QPointF, pixmap: QPixmap | None, name: str,
                   room: tuple[float, float] = (1e9, 1e9)) -> None:
        """Show the card at ``at``: below right of the point, or left of / above it where
        ``room`` (px to the view's right and bottom edges) is too small."""
        self.photo_id = photo_id
        self.setPos(at)
        pad, gap = 6, 14
        if pixmap is None or pixmap.isNull():
            pixmap = QPixmap(HOVER_PX, HOVER_PX * 2 // 3)
            pixmap.fill(QColor("#dfe3e8"))
        self._pixmap.setPixmap(pixmap)
        self._text.setText(name)
        text = self._text.boundingRect()
        width = max(pixmap.width(), int(text.width())) + 2 * pad
        height = pixmap.height() + int(text.height()) + 3 * pad
        left = gap if room[0] >= gap + width else -gap - width  # y grows down here
        top = gap if room[1] >= gap + height else -gap - height
        self.setRect(left, top, width, height)
        self._pixmap.setPos(left + pad, top + pad)
        self._text.setPos(left + pad, top + 2 * pad + pixmap.height())
        self.show()

    def clear(self) -> None:
        self.photo_id = -1
        self.hide()


class ThumbnailLayer:
    """Up to ``cap`` thumbnails at their points, framed in the point's colour; the items are
    reused, and drawn unscaled by the zoom."""

    def __init__(self, view: pg.ViewBox, cap: int = THUMBNAIL_CAP) -> None:
        self.view = view
        self.cap = cap
        self._frames: list[QGraphicsRectItem] = []
        self.shown: dict[int, QGraphicsRectItem] = {}  # photo id -> its frame

    def show(self, placed: list[tuple[int, float, float, QPixmap | None, QColor, bool]]) -> None:
        """Draw these (photo id, x, y, pixmap or None while loading, frame colour, marked);
        marked ones (selected, query results) get a wider frame and come on top."""
        self.shown.clear()
        k = 0
        for photo_id, x, y, pixmap, colour, marked in placed[: self.cap]:
            if pixmap is None:
                continue
            frame = self._frame(k)
            w, h = pixmap.width(), pixmap.height()
            pad = 4 if marked else 2
            frame.setRect(-w / 2 - pad, -h / 2 - pad, w + 2 * pad, h + 2 * pad)
            frame.setBrush(colour)
            frame.setZValue(11 if marked else 10)
            child = frame.childItems()[0]
            assert isinstance(child, QGraphicsPixmapItem)
            child.setPixmap(pixmap)
            child.setOffset(-w / 2, -h / 2)
            frame.setPos(x, y)
            frame.show()
            self.shown[photo_id] = frame
            k += 1
        for frame in self._frames[k:]:
            frame.hide()

    def hide(self) -> None:
        self.show([])

    def _frame(self, k: int) -> QGraphicsRectItem:
        while len(self._frames) <= k:
            frame = QGraphicsRectItem()
            frame.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            frame.setPen(Qt.PenStyle.NoPen)
            QGraphicsPixmapItem(frame).setTransformationMode(
                Qt.TransformationMode.SmoothTransformation)
            self.view.addItem(frame, ignoreBounds=True)
            self._frames.append(frame)
        return self._frames[k]


class PhotoOverlays(QObject):
    """Follows the mouse and the zoom of ``plot`` to show the photos behind the points."""

    def __init__(self, plot: pg.PlotWidget, view_box: pg.ViewBox, cache: ThumbnailCache,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.plot, self.view_box, self.cache = plot, view_box, cache
        self.ids = np.zeros(0, dtype=np.int64)
        self.xy = np.zeros((0, 2), dtype=np.float32)
        self.times: NDArray[np.float64] | None = None
        self._hover_row = -1
        self.colours: list[QColor] = []  # frame colour of each point's colour index
        self.colour_index = np.zeros(0, dtype=np.intp)
        self.selected = np.zeros(0, dtype=bool)
        self.in_query = np.zeros(0, dtype=bool)
        self.thumbnails_enabled = True
        self.layout_side = 0  # the thumbnails' size in px as last drawn (0: dots)
        self.rings: list[QGraphicsItem] = []  # highlight items, hidden under thumbnails
        self.hover = HoverCard()
        view_box.addItem(self.hover, ignoreBounds=True)
        self.thumbnails = ThumbnailLayer(view_box)
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        view_box.sigRangeChanged.connect(self._update_thumbnails_later)
        cache.updated.connect(self._on_thumbnails_loaded)

    def set_points(self, ids: NDArray[np.int64], xy: NDArray[np.float32],
                   times: NDArray[np.float64] | None = None) -> None:
        """Points of photos (ids, positions); a clip's kept frames have its id and their
        ``times`` (NaN for photos)."""
        self.ids, self.xy, self.times = ids, xy, times
        self._hover_row = -1
        self.colour_index = np.zeros(len(ids), dtype=np.intp)
        self.selected = self.in_query = np.zeros(len(ids), dtype=bool)
        self.hover.clear()
        self.update_thumbnails()

    def set_colours(self, index: NDArray[np.intp], colours: list[QColor]) -> None:
        self.colour_index, self.colours = index, colours
        self.update_thumbnails()

    def set_marks(self, selected: NDArray[np.bool_] | None = None,
                  in_query: NDArray[np.bool_] | None = None) -> None:
        """Which points are selected and which are the query's results (frames show it)."""
        if selected is not None:
            self.selected = selected
        if in_query is not None:
            self.in_query = in_query
        self.update_thumbnails()

    def pick(self, at: QPointF, radius_px: float = HOVER_RADIUS_PX) -> int | None:
        """The row of the point under ``at`` (map units), or None."""
        pixel = self.view_box.viewPixelSize()
        return groups.nearest_point(self.xy, (at.x(), at.y()), pixel, radius_px)

    @qthrottled(timeout=40)
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if not len(self.ids) or not self.view_box.sceneBoundingRect().contains(scene_pos):
            self.hover.clear()
            return
        row = self.pick(self.view_box.mapSceneToView(scene_pos))
        if row is None:
            self.hover.clear()
        elif int(self.ids[row]) != self.hover.photo_id or row != self._hover_row:
            self._show_hover(row)

    def _show_hover(self, row: int) -> None:
        photo_id = int(self.ids[row])
        pixmap = self._pixmap(row, HOVER_PX)
        name = self.cache.name(photo_id) or "…"
        self._hover_row = row
        if self.times is not None and not np.isnan(self.times[row]):
            name = f"{name} · {clock(float(self.times[row]))}"  # a clip's kept frame
        at = QPointF(float(self.xy[row, 0]), float(self.xy[row, 1]))
        scene, bounds = self.view_box.mapViewToScene(at), self.view_box.sceneBoundingRect()
        self.hover.show_photo(photo_id, at, pixmap, name,
                              (bounds.right() - scene.x(), bounds.bottom() - scene.y()))

    def _pixmap(self, row: int, side: int) -> QPixmap | None:
        """Point ``row``'s picture: its photo's thumbnail, or its clip frame's own."""
        if self.times is not None and not np.isnan(self.times[row]):
            return self.cache.frame_pixmap(int(self.ids[row]), float(self.times[row]), side)
        return self.cache.pixmap(int(self.ids[row]), side)

    def _on_thumbnails_loaded(self, ids: list[int]) -> None:
        hovered = self.hover.photo_id
        if hovered in ids:
            if 0 <= self._hover_row < len(self.ids) and self.ids[self._hover_row] == hovered:
                self._show_hover(self._hover_row)
            elif len(rows := np.flatnonzero(self.ids == hovered)):
                self._show_hover(int(rows[0]))
        self._update_thumbnails_later()

    @qdebounced(timeout=120)
    def _update_thumbnails_later(self, *_args: object) -> None:
        self.update_thumbnails()

    def update_thumbnails(self) -> None:
        """Draw the thumbnails of the points in view, sized to the room each has (dots
        alone when too crowded) and spread on a grid so that none hides another."""
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        rows = groups.in_rectangle(self.xy, (x0, y0), (x1, y1))
        pixel = self.view_box.viewPixelSize()
        side = 0
        if self.thumbnails_enabled and len(rows) and pixel[0] > 0 and pixel[1] > 0:
            # The room is what the points span on screen: zooming out shrinks it.
            span = (self.xy[rows].max(axis=0) - self.xy[rows].min(axis=0)) / np.array(pixel)
            side = thumbnail_side(len(rows), float(span[0]) + 2 * MARGIN_PX,
                                  float(span[1]) + 2 * MARGIN_PX)
        if not side or len(rows) > THUMBNAIL_CAP:
            self.thumbnails.hide()
            self.layout_side = 0
            for ring in self.rings:
                ring.setVisible(True)
            return
        side = max(24, side // 8 * 8)  # a few sizes only: each is a cached pixmap
        self.layout_side = side
        scale = np.array(pixel, dtype=np.float64)
        marked = self.selected[rows] | self.in_query[rows]
        order = np.argsort(~marked, kind="stable")  # the selection chooses its cells first
        inside = (x0 / scale[0], y0 / scale[1], x1 / scale[0], y1 / scale[1])  # whole cells
        placed, centres = spread_on_grid(self.xy[rows] / scale, side + 8, order=order,
                                         bounds=inside)
        centres = centres * scale
        grey = QColor(*groups.NONE_COLOUR)
        shown = []
        for k, (cx, cy) in zip(placed.tolist(), centres, strict=True):
            r = rows[k]
            colour = SELECTION_COLOUR if self.selected[r] else QUERY_COLOUR if \
                self.in_query[r] else self.colours[self.colour_index[r]] if self.colours else grey
            shown.append((int(self.ids[r]), float(cx), float(cy),
                          self._pixmap(int(r), side), colour, bool(marked[k])))
        self.thumbnails.show(shown)
        for ring in self.rings:  # frames mark the selection while thumbnails are drawn
            ring.setVisible(not self.thumbnails.shown)
