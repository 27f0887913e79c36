"""The viewer's clip mode: a video clip played from a moment, with a strip of its kept frames.

:class:`ClipPlayer` plays the clip with QtMultimedia (PySide6-Addons; Qt's FFmpeg backend,
which needs libpulse0 on Linux even without sound) from the moment a search matched, with
play/pause, a position slider and the time; below it :class:`FrameStrip` shows one
thumbnail per kept scene with its time, following the playback; clicking one, or the arrow
keys, jump between them. QtMultimedia is imported when the first clip is opened (the app's
start-up does not load it). Where it cannot load, :func:`make_player` says why and the
viewer shows the moments as stills decoded by PyAV (:func:`load_moment`).
"""

from __future__ import annotations

import bisect
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.video import clock
from core.video.indexer import moment_pixels
from gui.actions import icon

log = logging.getLogger(__name__)

MOMENT_SIDE = 720  # shorter side of the still decoded for the viewer
STRIP_HEIGHT = 118
SEEK_SLACK_S = 1.0  # a position this near a jump's target is past the jump


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

    def select_scene(self, at: float) -> None:
        """Mark the scene playing at ``at`` (the last kept frame at or before it), no signal."""
        if not self.times:
            return
        row = max(0, bisect.bisect_right(self.times, at + 1e-3) - 1)
        if row != self.currentRow():
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


def make_player(parent: QWidget) -> ClipPlayer | None:
    """A :class:`ClipPlayer`, or None (logged with the reason) where QtMultimedia cannot
    load: PySide6-Addons missing, or a library it needs (libpulse0) not installed."""
    try:
        return ClipPlayer(parent)
    except ImportError as exc:
        log.warning("clips are shown as stills: QtMultimedia cannot load (%s)", exc)
        return None


class ClipPlayer(QWidget):
    """Plays a clip from a moment: the video, play/pause, a position slider and the time.

    :meth:`open` starts playing at ``at`` seconds once the media is loaded; :meth:`seek`
    jumps (and plays). ``moved`` reports the playing position in seconds; ``failed`` the
    reason Qt gives when it cannot play the file.
    """

    moved = Signal(float)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        super().__init__(parent)
        self.setObjectName("clipPlayer")
        self._status = QMediaPlayer.MediaStatus
        self._playing = QMediaPlayer.PlaybackState.PlayingState
        self.video = QVideoWidget(self)
        self.player = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        self.player.setAudioOutput(self.audio)
        self.player.setVideoOutput(self.video)
        self._pending: float | None = None  # where to start once the media is loaded
        self._seeking: float | None = None  # a jump not reached yet: older positions are stale
        self.play_button = QToolButton(self)
        self.play_button.setIcon(icon("play"))
        self.play_button.setToolTip("Play / pause (P)")
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setToolTip("Position in the clip")
        self.slider.sliderMoved.connect(self.player.setPosition)
        self.time_label = QLabel("00:00 / 00:00", self)
        controls = QHBoxLayout()
        controls.setContentsMargins(6, 2, 6, 2)
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.video, 1)
        layout.addLayout(controls)
        self.player.mediaStatusChanged.connect(self._on_status)
        self.player.positionChanged.connect(self._on_position)
        self.player.durationChanged.connect(lambda ms: self.slider.setRange(0, ms))
        self.player.playbackStateChanged.connect(self._on_state)
        self.player.errorOccurred.connect(self._on_error)

    def open(self, path: Path, at: float) -> None:
        """Load the clip and play it from ``at`` seconds."""
        self._pending = at
        self.player.setSource(QUrl.fromLocalFile(str(path)))

    def seek(self, at: float) -> None:
        """Jump to ``at`` seconds and play."""
        status = self.player.mediaStatus()
        if status in (self._status.NoMedia, self._status.LoadingMedia):
            self._pending = at  # played from there once loaded
            return
        self._seeking = at
        self.player.setPosition(round(at * 1000))
        self.player.play()

    def toggle(self) -> None:
        """Pause, or play on."""
        if self.player.playbackState() == self._playing:
            self.player.pause()
        else:
            self.player.play()

    def position(self) -> float:
        """The playing position in seconds."""
        return self.player.position() / 1000

    def is_playing(self) -> bool:
        return bool(self.player.playbackState() == self._playing)

    def stop(self) -> None:
        """Stop and let go of the file."""
        self._pending = self._seeking = None
        self.player.stop()
        self.player.setSource(QUrl())

    def _on_status(self, status: Any) -> None:
        if status == self._status.LoadedMedia and self._pending is not None:
            at, self._pending = self._pending, None
            self._seeking = at
            self.player.setPosition(round(at * 1000))
            self.player.play()
        elif status == self._status.InvalidMedia:
            self.failed.emit(self.player.errorString() or "this video cannot be played")

    def _on_position(self, ms: int) -> None:
        if self._seeking is not None:
            if abs(ms / 1000 - self._seeking) > SEEK_SLACK_S:
                return  # a position from before the jump
            self._seeking = None
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)
        self.time_label.setText(f"{clock(ms / 1000)} / {clock(self.player.duration() / 1000)}")
        self.moved.emit(ms / 1000)

    def _on_state(self, state: Any) -> None:
        self.play_button.setIcon(icon("pause" if state == self._playing else "play"))

    def _on_error(self, _error: Any, message: str) -> None:
        self.failed.emit(message or "this video cannot be played")
