"""Painting one grid tile: the thumbnail (or a placeholder), selection, score and badges."""

from __future__ import annotations

import zlib

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from core.video import clock
from gui.grid.cache import ThumbnailCache
from gui.grid.model import Roles

PADDING = 7  # around each tile, inside its grid cell
ASPECT = 0.75  # tiles are 4:3 (most photos); portrait photos are fitted inside
ACCENT = QColor("#2f6fde")
PLACEHOLDER = QColor("#e3e6eb")
PLACEHOLDER_TEXT = QColor("#8a9099")
PILL = QColor(20, 24, 31, 200)
BADGE_COLOURS = [QColor(c) for c in ("#7c3aed", "#0f8a5f", "#c2410c", "#1d4ed8", "#be185d",
                                      "#0e7490", "#a16207", "#4d7c0f", "#b91c1c", "#475569")]
CAPTION = QColor(15, 18, 24, 190)
MATCH_BOX = QColor("#ffb020")  # a region hit's matched box (as in the viewer)
SIMILAR = QColor("#15803d")  # a result marked like the query
NOT_SIMILAR = QColor("#b91c1c")  # ... not like it
JUDGE_TIPS = {True: "More like this: mark as similar to the query (S)",
              False: "Not like this: mark as not similar to the query (D)"}


def badge_colour(text: str) -> QColor:
    """One colour per label, the same on every tile and every run: the label's name (what
    comes before a confidence such as " 92%", after a review mark such as "✓ ") picks it."""
    name = text.removeprefix("✓ ").removeprefix("✗ ").rsplit(" ", 1)
    key = name[0] if len(name) == 2 and name[1].endswith("%") else " ".join(name)
    return BADGE_COLOURS[zlib.crc32(key.encode("utf-8")) % len(BADGE_COLOURS)]


def format_score(score: float) -> str:
    """A similarity as shown on a tile: 3 decimals, 4 when near 1 (to tell them apart)."""
    return f"{score:.4f}" if score >= 0.99 else f"{score:.3f}"


def clip_caption(duration: float, time: float | None) -> str:
    """A clip tile's pill: its length, or the moment of the search's best frame in it."""
    return f"▶ {clock(time)} / {clock(duration)}" if time is not None else f"▶ {clock(duration)}"


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints tiles of about ``tile_size`` px wide; the view widens them a little
    (:meth:`set_cell`) so that whole columns fill its width."""

    def __init__(self, cache: ThumbnailCache, tile_size: int, parent: QObject | None = None):
        super().__init__(parent)
        self.cache = cache
        self.tile_size = tile_size
        self.cell = self.natural_cell()
        self.captions = False  # write the file name and date on each tile
        self.judging = False  # results of a query: draw the judgement buttons on the tiles
        self.hover: QPoint | None = None  # the mouse in the viewport (a button lights up)

    def set_tile_size(self, size: int) -> None:
        self.tile_size = size
        self.cell = self.natural_cell()

    def natural_cell(self) -> QSize:
        """The cell for ``tile_size`` before it is fitted to the view's width."""
        return QSize(self.tile_size + 2 * PADDING, round(self.tile_size * ASPECT) + 2 * PADDING)

    def set_cell(self, width: int) -> QSize:
        """Use cells ``width`` px wide (the height follows the tiles' aspect); returns it."""
        box = width - 2 * PADDING
        self.cell = QSize(width, round(box * ASPECT) + 2 * PADDING)
        return self.cell

    def tile_box(self) -> QSize:
        """The area a thumbnail is fitted into."""
        return QSize(self.cell.width() - 2 * PADDING, self.cell.height() - 2 * PADDING)

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        cell = QRect(option.rect)  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        frame = QRectF(cell.adjusted(2, 2, -2, -2))
        if selected:
            painter.setPen(QPen(ACCENT, 2))
            painter.setBrush(QColor(47, 111, 222, 40))
            painter.drawRoundedRect(frame, 6, 6)
        elif hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 18))
            painter.drawRoundedRect(frame, 6, 6)

        photo_id = int(index.data(Roles.ID))
        box = QRect(QPoint(0, 0), self.tile_box())
        box.moveCenter(cell.center())
        pixmap = self.cache.pixmap(photo_id, self.tile_box())
        image_rect = self.image_rect(cell, photo_id)
        if pixmap is None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(PLACEHOLDER)
            painter.drawRoundedRect(QRectF(image_rect), 4, 4)
            self._placeholder_text(painter, image_rect, index.data(Qt.ItemDataRole.DisplayRole))
        else:
            painter.drawPixmap(image_rect, pixmap)

        region = index.data(Roles.BOX)
        if region is not None and pixmap is not None:
            self._box(painter, image_rect, region, ACCENT if index.data(Roles.PINNED)
                      else MATCH_BOX)
        if index.data(Roles.PINNED):
            painter.setPen(QPen(ACCENT, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(image_rect).adjusted(1.5, 1.5, -1.5, -1.5))
            self._pill(painter, image_rect, "Query", ACCENT, top=True, left=True)
        score = index.data(Roles.SCORE)
        if score is not None:
            self._pill(painter, image_rect, format_score(score), PILL, top=False, left=False)
        if self.captions:
            self._caption(painter, image_rect, photo_id)
        badge = index.data(Roles.BADGE)
        if badge:  # one pill per label, within the tile (a portrait photo is narrow)
            area = QRect(box.left(), image_rect.top(), box.width(), image_rect.height())
            for k, part in enumerate(str(badge).split(", ")[:3]):
                self._pill(painter, area, part, badge_colour(part), top=True, left=False,
                           row=k)
        duration = index.data(Roles.DURATION)
        if duration is not None:
            pinned = bool(index.data(Roles.PINNED))  # "Query" takes the top-left corner
            self._pill(painter, image_rect, clip_caption(duration, index.data(Roles.TIME)), PILL,
                       top=not pinned, left=True)
        if self.judgeable(index):
            self._judgement(painter, image_rect, index.data(Roles.JUDGED), hovered)
        painter.restore()

    @staticmethod
    def _box(painter: QPainter, rect: QRect, box: tuple[float, float, float, float],
             colour: QColor) -> None:
        """A region (relative to the upright photo) on the tile's image, over a dark edge so
        that it shows on light and dark photos alike."""
        x, y, w, h = box
        r = QRectF(rect.left() + x * rect.width(), rect.top() + y * rect.height(),
                   max(2.0, w * rect.width()), max(2.0, h * rect.height()))
        r = r.intersected(QRectF(rect).adjusted(1, 1, -1, -1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 150), 4))
        painter.drawRect(r)
        painter.setPen(QPen(colour, 2))
        painter.drawRect(r)

    # -- judgement buttons -------------------------------------------------------------------

    def image_rect(self, cell: QRect, photo_id: int) -> QRect:
        """Where the photo is drawn in ``cell`` (the whole tile box while it loads)."""
        box = QRect(QPoint(0, 0), self.tile_box())
        box.moveCenter(cell.center())
        pixmap = self.cache.pixmap(photo_id, self.tile_box())
        if pixmap is None:
            return box
        size = pixmap.deviceIndependentSize().toSize()
        rect = QRect(0, 0, size.width(), size.height())
        rect.moveCenter(box.center())
        return rect

    def judgeable(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        """A result of the query (not one of its own photos) while results are shown."""
        return (self.judging and index.data(Roles.SCORE) is not None
                and not index.data(Roles.PINNED))

    def judge_buttons(self, image_rect: QRect) -> dict[bool, QRect]:
        """The "more like this" (True) and "not like this" (False) buttons on a tile: round,
        at the bottom left of the photo (above the caption when captions are shown)."""
        side = max(20, min(28, self.cell.width() // 8))
        bottom = image_rect.bottom() - 5 - self._caption_height(image_rect)
        similar = QRect(image_rect.left() + 5, bottom - side + 1, side, side)
        return {True: similar, False: similar.translated(side + 5, 0)}

    def judge_hit(self, cell: QRect, index: QModelIndex | QPersistentModelIndex,
                  pos: QPoint) -> bool | None:
        """Which judgement button of the tile in ``cell`` is at ``pos`` (None: neither)."""
        if not index.isValid() or not self.judgeable(index):
            return None
        buttons = self.judge_buttons(self.image_rect(cell, int(index.data(Roles.ID))))
        return next((kind for kind, rect in buttons.items() if rect.contains(pos)), None)

    def _judgement(self, painter: QPainter, image_rect: QRect, judged: bool | None,
                   hovered: bool) -> None:
        """The tile's mark (a coloured frame and its button) and, under the mouse, both
        buttons."""
        if judged is not None:
            painter.setPen(QPen(SIMILAR if judged else NOT_SIMILAR, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(image_rect).adjusted(1.5, 1.5, -1.5, -1.5))
        font = QFont(painter.font())
        font.setBold(True)
        for kind, rect in self.judge_buttons(image_rect).items():
            if not hovered and kind is not judged:
                continue
            lit = self.hover is not None and rect.contains(self.hover)
            colour = QColor(SIMILAR if kind else NOT_SIMILAR) if kind is judged else QColor(PILL)
            if lit:
                colour = colour.lighter(135) if kind is judged else (
                    QColor(SIMILAR if kind else NOT_SIMILAR))
            painter.setPen(QPen(QColor(255, 255, 255, 230), 1.5))
            painter.setBrush(colour)
            painter.drawEllipse(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5))
            font.setPixelSize(round(rect.height() * 0.6))
            painter.setFont(font)
            painter.setPen(QColor("white"))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "✓" if kind else "✗")

    def _caption_height(self, rect: QRect) -> int:
        if not self.captions:
            return 0
        font = QFont()
        font.setPointSizeF(max(7.0, min(9.0, self.cell.width() / 20)))
        height = QFontMetrics(font).height()
        return (2 if rect.height() > 4 * height else 1) * height + 6

    def _caption(self, painter: QPainter, rect: QRect, photo_id: int) -> None:
        """The file name and capture date on a dark strip at the bottom of the image."""
        name, taken = self.cache.name(photo_id), self.cache.date(photo_id)
        if not name:
            return
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, min(9.0, self.cell.width() / 20)))
        metrics = QFontMetrics(font)
        lines = [name] + ([taken] if taken and rect.height() > 4 * metrics.height() else [])
        strip = QRect(rect.left(), rect.bottom() - len(lines) * metrics.height() - 5,
                      rect.width(), len(lines) * metrics.height() + 6)
        painter.fillRect(strip, CAPTION)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        for k, line in enumerate(lines):
            text = metrics.elidedText(line, Qt.TextElideMode.ElideMiddle, rect.width() - 10)
            painter.drawText(strip.adjusted(5, 3 + k * metrics.height(), -5, 0),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), text)

    def _placeholder_text(self, painter: QPainter, rect: QRect, name: object) -> None:
        if not name or rect.width() < 60:
            return
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        painter.setPen(PLACEHOLDER_TEXT)
        text = QFontMetrics(font).elidedText(str(name), Qt.TextElideMode.ElideMiddle,
                                             rect.width() - 12)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _pill(self, painter: QPainter, rect: QRect, text: str, colour: QColor, *,
              top: bool, left: bool, row: int = 0) -> None:
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(max(7.5, min(10.0, self.cell.width() / 17)))
        metrics = QFontMetrics(font)
        width = min(metrics.horizontalAdvance(text) + 12, rect.width() - 8)
        height = metrics.height() + 4
        x = rect.left() + 4 if left else rect.right() - 4 - width
        y = rect.top() + 4 + row * (height + 3) if top else rect.bottom() - 4 - height
        pill = QRectF(x, y, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width - 10)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
