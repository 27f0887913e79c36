"""The viewer's clip mode: a video clip shown at a moment, with a strip of its kept frames.

The viewer shows a clip as stills: the frame at the moment (decoded by PyAV in a worker, up
to 1280 px), and below it one thumbnail per kept scene with its time; clicking one, or the
arrow keys, jump between them. There is no playback: QtMultimedia comes with PySide6-Addons
(a ~200 MB wheel on top of PySide6-Essentials, and its FFmpeg backend needs an audio and
video output that an offscreen test run does not have), so the moments are shown as stills.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from core.video import clock
from core.video.indexer import moment_pixels

MOMENT_SIDE = 720  # shorter side of the still decoded for the viewer
STRIP_HEIGHT = 118


def load_moment(path: Path, at: float) -> tuple[float, QImage]:
    """In a worker thread: the clip's picture at ``at`` seconds, as a QImage."""
    pixels = moment_pixels(path, at, side=MOMENT_SIDE)
    h, w, _ = pixels.shape
    return at, QImage(pixels.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class FrameStrip(QListWidget):
    """A clip's kept frames in a row (thumbnail and time); emits the chosen frame's time."""

    moment_chosen = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frameStrip")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(128, 72))
        self.setSpacing(4)
        self.setFixedHeight(STRIP_HEIGHT)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the viewer handles the arrow keys
        self.setToolTip("The clip's kept scenes: click one, or step with ← and →")
        self.times: list[float] = []
        self.currentRowChanged.connect(self._on_row)

    def set_frames(self, frames: list[tuple[float, Path | None]]) -> None:
        """Show these (time, thumbnail file) frames, none selected."""
        blocked = self.blockSignals(True)
        self.clear()
        self.times = [t for t, _ in frames]
        for at, thumb in frames:
            item = QListWidgetItem(clock(at))
            if thumb is not None:
                item.setIcon(QIcon(QPixmap(str(thumb))))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
        self.blockSignals(blocked)

    def select_nearest(self, at: float) -> None:
        """Mark the kept frame nearest to ``at`` as current (no signal)."""
        if not self.times:
            return
        row = min(range(len(self.times)), key=lambda i: abs(self.times[i] - at))
        blocked = self.blockSignals(True)
        self.setCurrentRow(row)
        self.blockSignals(blocked)
        self.scrollToItem(self.item(row))

    def step(self, delta: int) -> bool:
        """Move to the next (+1) or previous (-1) kept frame; False at either end."""
        row = self.currentRow() + delta
        if not 0 <= row < self.count():
            return False
        self.setCurrentRow(row)  # emits moment_chosen
        return True

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.times):
            self.moment_chosen.emit(self.times[row])
