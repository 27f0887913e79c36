"""The status bar's job area: what is happening, how far, how fast, and a Cancel button."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core.jobs import Progress

PHASES = {"scanning": "Scanning the folder", "embedding": "Analysing photos"}


def format_duration(seconds: float) -> str:
    """A duration in words: "8 s", "3 min", "1 h 20 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


def describe(progress: Progress) -> str:
    """One line for the status bar, e.g. "Analysing photos: 120 of 200 · 14.2 photos/s ·
    about 6 s left"."""
    phase = PHASES.get(progress.phase, progress.phase.capitalize())
    if progress.phase == "loading":
        return f"{progress.text}…"
    if not progress.total:
        return f"{phase}… found {progress.done:,} photos"
    parts = [f"{phase}: {progress.done:,} of {progress.total:,}"]
    if progress.rate:
        parts.append(f"{progress.rate:.1f} photos/s")
    if progress.eta is not None and progress.done < progress.total:
        parts.append(f"about {format_duration(progress.eta)} left")
    return " · ".join(parts)


class StatusPanel(QWidget):
    """Lives in the status bar; shows one job's progress and offers to cancel it."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobStatus")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(10)
        self.label = QLabel(self)
        self.label.setObjectName("jobText")
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop now; what was done is kept (Rescan continues)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.show_message("")

    def show_progress(self, progress: Progress) -> None:
        """Show a running job's progress (the bar once the total is known)."""
        self.label.setText(describe(progress))
        # No busy indicator while the total is unknown: a styled one takes ~1 s to paint.
        self.bar.setVisible(progress.total > 0)
        if progress.total:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(progress.done)
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)

    def show_message(self, text: str) -> None:
        """Show ``text`` with no job running."""
        self.label.setText(text)
        self.bar.hide()
        self.cancel_button.hide()

    def show_cancelling(self) -> None:
        self.label.setText("Stopping…")
        self.cancel_button.setEnabled(False)
