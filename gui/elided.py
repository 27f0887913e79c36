"""Labels that never widen the window: long text is cut with "…" and shown whole in a tooltip,
and a saved window geometry is kept inside the screen."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QWidget

MIN_CHARS = 8  # an elided label asks for room for this many characters, no more


class ElidedLabel(QLabel):
    """A one-line label whose minimum width does not grow with its text.

    When the text does not fit it ends in "…" and the full text is the tooltip (unless a
    tooltip was set explicitly with :meth:`set_fixed_tooltip`).
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._fixed_tip: str | None = None
        self.setWordWrap(False)
        self._update_tip()

    def set_fixed_tooltip(self, tip: str | None) -> None:
        self._fixed_tip = tip
        self._update_tip()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._update_tip()

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        width = self.fontMetrics().horizontalAdvance("x" * MIN_CHARS)
        return QSize(min(hint.width(), width), hint.height())

    @property
    def elided(self) -> bool:
        """Whether the text is cut at the current width."""
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._update_tip()

    def _update_tip(self) -> None:
        if self._fixed_tip is not None:
            self.setToolTip(self._fixed_tip)
        else:
            self.setToolTip(self.text() if self.text() and self.elided else "")

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), text)


def clamp_to_screen(widget: QWidget) -> None:
    """Move and shrink a top-level ``widget`` so that it lies within its screen's
    available area (a geometry saved on a larger screen must not open off-screen)."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return
    area: QRect = screen.availableGeometry()
    frame = widget.frameGeometry()
    extra_w = frame.width() - widget.width()
    extra_h = frame.height() - widget.height()
    width = min(widget.width(), area.width() - extra_w)
    height = min(widget.height(), area.height() - extra_h)
    if (width, height) != (widget.width(), widget.height()):
        if widget.isMaximized():
            return
        widget.resize(width, height)
    frame = widget.frameGeometry()
    # Too big even so (its minimum is larger than the screen): keep its top left corner.
    x = max(min(frame.x(), area.right() + 1 - frame.width()), area.left())
    y = max(min(frame.y(), area.bottom() + 1 - frame.height()), area.top())
    if (x, y) != (frame.x(), frame.y()):
        widget.move(x, y)
