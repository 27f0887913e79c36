"""The labelling panel's Train section: head choice, progress, the head's state and figures.

Training and the prediction of the library that follows run as one core job
(:func:`core.labels.review.train_and_predict`) in a worker; Cancel stops it between epochs.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.jobs import Job, Progress
from core.labels import LabelSet
from core.labels.heads import HeadInfo
from core.labels.review import train_and_predict
from gui.context import AppContext
from gui.labels.widgets import compact_combo, validation_html
from gui.workers import JobHandle

HEADS = {"linear": "Linear", "mlp": "Two-layer"}


class TrainBox(QWidget):
    """Train the current label set's head; shows how the stored head validated."""

    trained = Signal(object)  # HeadInfo, after training and predicting the library
    message = Signal(str, bool)  # (text, is an error)
    running_changed = Signal(bool)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.label_set: LabelSet | None = None
        self.job: JobHandle | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        row = QHBoxLayout()
        self.head_box = compact_combo(self)
        for key, text in HEADS.items():
            self.head_box.addItem(text, key)
        self.head_box.setToolTip("Linear: logistic regression. Two-layer: a hidden layer "
                                 "first (more flexible, needs more examples)")
        row.addWidget(self.head_box)
        self.train_button = QPushButton("Train", self)
        self.train_button.setToolTip("Learn the labels from the labelled photos, then "
                                     "predict the whole library")
        self.train_button.clicked.connect(self.train)
        row.addWidget(self.train_button, 1)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        row.addWidget(self.progress, 1)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setText("Cancel")
        self.cancel_button.clicked.connect(lambda: self.job and self.job.cancel())
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.status = QLabel(self)
        self.status.setObjectName("headStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.figures = QLabel(self)
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setWordWrap(True)
        layout.addWidget(self.figures)
        self._set_running(False)

    @property
    def running(self) -> bool:
        return self.job is not None

    def show_state(self, label_set: LabelSet | None, info: HeadInfo | None,
                   other_models: list[str]) -> None:
        """Show ``label_set``'s head for the library's current model (``info``, read by the
        panel in a worker) and the models it was trained on otherwise."""
        self.label_set = label_set
        library = self.context.library
        self.figures.setText(validation_html(info) if info else "")
        stale, text = False, ""
        if library is not None and label_set is not None:
            if info is None and other_models:
                stale = True
                text = (f"The head was trained on {other_models[-1]}; the library now uses "
                        f"{library.model_key}. The labels are kept: train again.")
            elif info is None:
                text = "Label at least 2 photos with each of 2 labels, then Train."
            elif label_set.revision > info.revision:
                stale, text = True, "Labels changed since training: train again to update."
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.status.setProperty("stale", stale)
        self.status.style().polish(self.status)
        self.train_button.setEnabled(label_set is not None and not self.running)

    def train(self) -> None:
        """Train the set's head in a worker, then predict the library."""
        library, label_set = self.context.library, self.label_set
        if library is None or label_set is None or self.running:
            return
        kind = self.head_box.currentData()

        def make(cancel: threading.Event) -> Job[HeadInfo]:
            return train_and_predict(library.catalog, label_set.id, library.model_key, kind,
                                     cancel=cancel)

        self.job = self.context.workers.start_job("Training", make)
        self.job.progressed.connect(self._on_progress)
        self.job.succeeded.connect(self._on_trained)
        self.job.failed.connect(lambda exc: self.message.emit(str(exc), True))
        self.job.cancelled.connect(lambda: self.message.emit("Training cancelled.", False))
        self.job.ended.connect(self._on_ended)
        self.progress.setRange(0, 0)
        self._set_running(True)
        self.message.emit("Training…", False)

    def _on_progress(self, progress: Progress) -> None:
        self.progress.setRange(0, max(1, progress.total))
        self.progress.setValue(progress.done)

    def _on_trained(self, info: HeadInfo) -> None:
        self.figures.setText(validation_html(info))  # at once; the panel's refresh follows
        self.message.emit(f"Trained on {info.examples} photos in {info.seconds:.1f} s; "
                          "the library's predictions are updated.", False)
        self.trained.emit(info)

    def _on_ended(self) -> None:
        self.job = None
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.train_button.setEnabled(not running and self.label_set is not None)
        self.running_changed.emit(running)
