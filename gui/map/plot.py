"""The map's plot items: the points (all, the selection, the query's results), a view box
with rectangle and lasso selection; and the map's legend.

Measured here with pyqtgraph 0.14 and 100,000 points: ``ScatterPlotItem.setData`` plus a
per-point brush array took 1.8-2.4 s and a recolouring 1.4 s (its symbol atlas is keyed
point by point in Python), and its hover/click handling builds one SpotItem per point on
first use (~1 s, again after every ``setData``). So the points are a :class:`PointCloud`:
the same pxMode drawing (one ``drawPixmapFragments`` call from an atlas of a few glyphs)
fed numpy arrays, where setting or recolouring 100,000 points is numpy work; hits are
found with :func:`core.map.clusters.nearest_point`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from pyqtgraph.Qt.internals import PrimitiveArray
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.map.clusters import NONE_COLOUR, Colouring

BACKGROUND = "#1b1d22"  # as the image viewer
SELECTION_COLOUR = QColor("#ffffff")
QUERY_COLOUR = QColor("#ffb000")
OVERLAY_PEN = pg.mkPen("#8ab4ff", width=1.5, style=Qt.PenStyle.DashLine)
OVERLAY_BRUSH = QBrush(QColor(138, 180, 255, 40))
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

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:
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

    def mouseClickEvent(self, ev: object) -> None:
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


def point_size(n: int) -> int:
    """Dot size in pixels: large for a few hundred photos, small for 100,000."""
    return 9 if n < 1000 else 6 if n < 20_000 else 4


DEDUPE_ABOVE = 50_000  # visible points: above, one dot per screen cell is drawn


def _topmost_per_cell(points: NDArray[np.floating], cell: float) -> NDArray[np.bool_] | None:
    """Which of the points (screen coordinates, 2 x m, in drawing order) to draw so that
    each ``cell`` x ``cell`` pixel square keeps one: the last drawn (the one on top). None
    when the points spread so far beyond a screen that a grid would not pay.

    Measured here: drawing 1,000,000 dots took 235 ms of CPU a frame, most of it in Qt
    drawing dots that other dots cover. With cells of half a dot, a frame draws one dot a
    cell (at most ~1366 x 768 / 4 of them), each at most half its radius from its place.
    """
    col = np.floor(points[0] / cell)
    row = np.floor(points[1] / cell)
    x0, y0 = col.min(), row.min()
    width = int(col.max() - x0) + 1
    height = int(row.max() - y0) + 1
    if width * height > 16 * points.shape[1]:
        return None
    key = ((row - y0) * width + (col - x0)).astype(np.intp)
    owner = np.full(width * height, -1, dtype=np.intp)
    # numpy writes repeated indices in order, so a cell keeps its last point (any point of
    # the cell would do: the last is the one that would be drawn on top)
    owner[key] = np.arange(len(key))
    keep = np.zeros(len(key), dtype=bool)
    keep[owner[owner >= 0]] = True
    return keep


class PointCloud(pg.GraphicsObject):
    """Dots of one pixel size, coloured from a small palette by an index per point.

    ``ring=True`` draws outlines (for highlights) instead of filled dots. Points are drawn
    in ``order`` (later ones on top), culled to the view, as pixmap fragments.
    """

    def __init__(self, *, ring: bool = False) -> None:
        super().__init__()
        self.ring = ring
        self.size = 6
        self.x = np.zeros(0)
        self.y = np.zeros(0)
        self.colour = np.zeros(0, dtype=np.intp)  # palette index of each point
        self.order = np.zeros(0, dtype=np.intp)
        self.palette: list[QColor] = [QColor("#4e79a7")]
        self._bounds: tuple[float, float, float, float] | None = None
        self._atlas: QPixmap | None = None
        self._atlas_dpr = 0.0
        self._fragments = PrimitiveArray(QPainter.PixmapFragment, 10)
        self._thinned: tuple[tuple[float, float, int], NDArray[np.float32], NDArray[np.float32],
                             NDArray[np.float32]] | None = None
        self.drawn = 0

    def set_points(self, xy: NDArray[np.float32], size: int | None = None) -> None:
        """Show these points, all in the first palette colour."""
        self.prepareGeometryChange()
        self.x = np.asarray(xy[:, 0], dtype=np.float64)
        self.y = np.asarray(xy[:, 1], dtype=np.float64)
        self.colour = np.zeros(len(self.x), dtype=np.intp)
        self.order = np.arange(len(self.x))
        self._bounds = (float(self.x.min()), float(self.x.max()), float(self.y.min()),
                        float(self.y.max())) if len(self.x) else None
        if size is not None and size != self.size:
            self.size, self._atlas = size, None
        self._arrange()
        self.informViewBoundsChanged()
        self.update()

    def set_colours(self, colour: NDArray[np.intp], palette: list[QColor]) -> None:
        """Colour point i with ``palette[colour[i]]``; higher indices are drawn on top."""
        self.colour = np.asarray(colour, dtype=np.intp)
        self.order = np.argsort(self.colour, kind="stable")
        self.palette = palette
        self._atlas = None
        self._arrange()
        self.update()

    def _arrange(self) -> None:
        """Coordinates and atlas offsets in drawing order, float32: what a frame reads (at
        1M points, gathering them anew every frame cost 20 ms)."""
        self._xs = self.x[self.order].astype(np.float32)
        self._ys = self.y[self.order].astype(np.float32)
        self._offsets = self.colour[self.order].astype(np.float32)
        self._thinned = None

    def _thin(self, sx: float, sy: float
              ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Above DEDUPE_ABOVE points, the topmost point of each cell of a grid fixed to the
        map, its cells half a dot wide on screen at this zoom: worked out once a zoom level,
        so a frame while panning handles the thinned points only (at 1M points, thinning
        every frame anew cost most of its ~55 ms)."""
        key = (sx, sy, self.size)
        old = self._thinned[0] if self._thinned is not None else None
        if old is None or old[2] != key[2] or not np.allclose(old[:2], key[:2], rtol=1e-6,
                                                             atol=0.0):
            xs, ys, offsets = self._xs, self._ys, self._offsets
            if len(xs) > DEDUPE_ABOVE:
                scaled = np.stack([xs * np.float64(abs(sx)), ys * np.float64(abs(sy))])
                keep = _topmost_per_cell(scaled, max(1.0, self.size / 2))
                if keep is not None:
                    xs, ys, offsets = xs[keep], ys[keep], offsets[keep]
            self._thinned = (key, xs, ys, offsets)
        return self._thinned[1], self._thinned[2], self._thinned[3]

    # -- QGraphicsItem / pyqtgraph protocol ------------------------------------------------

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: object = None) -> tuple[float | None, float | None]:
        if self._bounds is None:
            return (None, None)
        return self._bounds[0:2] if ax == 0 else self._bounds[2:4]

    def pixelPadding(self) -> float:
        return self.size / 2 + 2

    def boundingRect(self) -> QRectF:
        if self._bounds is None:
            return QRectF()
        x0, x1, y0, y1 = self._bounds
        px, py = self.pixelVectors()
        pad_x = (px.length() if px is not None else 0.0) * self.pixelPadding()
        pad_y = (py.length() if py is not None else 0.0) * self.pixelPadding()
        return QRectF(x0 - pad_x, y0 - pad_y, x1 - x0 + 2 * pad_x, y1 - y0 + 2 * pad_y)

    def viewTransformChanged(self) -> None:
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def paint(self, painter: QPainter, option: object, widget: object = None) -> None:
        if not len(self.x):
            return
        dpr = widget.devicePixelRatioF() if widget is not None else 1.0  # type: ignore
        if self._atlas is None or dpr != self._atlas_dpr:
            self._build_atlas(dpr)
        t = painter.transform()  # affine: map units to device pixels
        xs, ys, offsets = self._xs, self._ys, self._offsets
        if t.m12() == t.m21() == 0:  # not rotated: as every map is drawn
            xs, ys, offsets = self._thin(t.m11(), t.m22())
        thinned = len(xs) < len(self._xs)
        view = self.viewRect()
        x0, x1, y0, y1 = self._bounds or (0.0, 0.0, 0.0, 0.0)
        if view is not None and not (view.left() <= x0 and x1 <= view.right()
                                     and view.top() <= y0 and y1 <= view.bottom()):
            visible = np.flatnonzero((xs >= view.left()) & (xs <= view.right())
                                     & (ys >= view.top()) & (ys <= view.bottom()))
            xs, ys, offsets = xs[visible], ys[visible], offsets[visible]
        if not len(xs):
            return
        offsets = offsets * self._cell
        points = np.empty((2, len(xs)), np.float32)
        np.multiply(xs, t.m11(), out=points[0])
        points[0] += t.m21() * ys + t.dx()
        np.multiply(xs, t.m12(), out=points[1])
        points[1] += t.m22() * ys + t.dy()
        painter.resetTransform()
        if len(xs) > DEDUPE_ABOVE and not thinned:  # a map rotated, or spread far beyond
            keep = _topmost_per_cell(points, max(1.0, self.size / 2))
            if keep is not None:
                points, offsets = points[:, keep], offsets[keep]
        cell = self._cell
        self._fragments.resize(points.shape[1])
        frags = self._fragments.ndarray()
        frags[:, 0:2] = np.clip(points.T, -2**30, 2**30)
        frags[:, 2] = offsets
        frags[:, 3] = 0
        frags[:, 4:6] = cell
        frags[:, 6:10] = [1 / dpr, 1 / dpr, 0.0, 1.0]
        painter.drawPixmapFragments(*self._fragments.drawargs(), self._atlas)
        self.drawn = points.shape[1]

    def _build_atlas(self, dpr: float) -> None:
        """One glyph per palette colour, side by side, at the screen's pixel ratio."""
        self._cell = int(np.ceil((self.size + 4) * dpr))
        atlas = QPixmap(self._cell * len(self.palette), self._cell)
        atlas.fill(Qt.GlobalColor.transparent)
        painter = QPainter(atlas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        half = self.size * dpr / 2
        for k, colour in enumerate(self.palette):
            centre = QPointF(k * self._cell + self._cell / 2, self._cell / 2)
            if self.ring:
                painter.setPen(QPen(colour, 1.8 * dpr))
                painter.setBrush(Qt.BrushStyle.NoBrush)
            else:
                painter.setPen(QPen(colour.darker(135), 0.8 * dpr))
                painter.setBrush(QBrush(colour))
            painter.drawEllipse(centre, half, half)
        painter.end()
        self._atlas, self._atlas_dpr = atlas, dpr


class MapLegend(QWidget):
    """What the colours mean, with counts; clicking an entry emits its legend index
    (-1 for the uncoloured points)."""

    entry_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mapLegend")
        self.setFixedWidth(200)
        self.setStyleSheet("#mapLegend, #mapLegend QListWidget { background: #ffffff; }")
        self.title = QLabel("", self)
        self.title.setStyleSheet("font-weight: 600; padding: 8px 8px 2px 8px;")
        hint = QLabel("Click an entry to select its photos", self)
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        hint.setStyleSheet("padding: 0 8px 6px 8px; font-size: 8pt;")
        self.entries = QListWidget(self)
        self.entries.setFrameShape(QListWidget.Shape.NoFrame)
        self.entries.setSpacing(1)
        self.entries.itemClicked.connect(
            lambda item: self.entry_clicked.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for widget in (self.title, hint, self.entries):
            layout.addWidget(widget)

    def show_colouring(self, colouring: Colouring) -> None:
        self.entries.clear()
        self.title.setText(colouring.name if colouring.name != "Cluster"
                           else f"{len(colouring.legend)} clusters")
        for entry, (name, count, rgb) in enumerate(zip(
                colouring.legend, colouring.counts, colouring.colours(), strict=True)):
            self._row(f"{name}  ({count:,})", rgb, entry)
        missing = int((colouring.values < 0).sum())
        if missing:
            none = "No cluster" if colouring.name == "Cluster" else "None"
            self._row(f"{none}  ({missing:,})", NONE_COLOUR, -1)

    def texts(self) -> list[str]:
        return [self.entries.item(i).text() for i in range(self.entries.count())]

    def _row(self, text: str, rgb: tuple[int, int, int], entry: int) -> None:
        swatch = QPixmap(12, 12)
        swatch.fill(QColor(*rgb))
        item = QListWidgetItem(QIcon(swatch), text)
        item.setData(Qt.ItemDataRole.UserRole, entry)
        self.entries.addItem(item)
