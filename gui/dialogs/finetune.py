"""Fine-tune the network: train the backbone's last stage on the judgements and labels (a
background job with progress, an ETA and Cancel; a cancelled run resumes from its checkpoint),
then embed the library with the new weights and search with them.

The dialog adapts :func:`core.similarity.finetune.finetune`; both jobs run in workers, and
the library keeps its current model (and vectors) until the new one has embedded every
photo.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.jobs import Job, Progress
from core.library import Library
from gui.context import AppContext
from gui.panels.status import format_duration
from gui.workers import JobHandle

if TYPE_CHECKING:
    from core.similarity.finetune import FinetuneResult

DEFAULT_STEPS = 200


def finetune_job(library: Library, steps: int, cancel: threading.Event
                 ) -> Job[FinetuneResult]:
    """In a worker: fine-tune the library's model on its judgements and labels."""
    from core.embed import torch_loader

    torch_loader.ensure_torch()
    from core.similarity.finetune import finetune

    with library.catalog.faults():
        return (yield from finetune(library.catalog, library.model_name, library.weights,
                                    steps=steps, device=library.device, cancel=cancel))


def embed_job(library: Library, weights: Path, cancel: threading.Event) -> Job[int]:
    """In a worker: embed the library's photos with the fine-tuned weights (the old vectors
    stay in use meanwhile)."""
    from core.embed import embed_missing
    from core.embed.cnn import Embedder

    yield Progress("loading the fine-tuned model", 0, 0, "loading the fine-tuned model")
    embedder = Embedder(library.model_name, weights, library.device)
    with library.catalog.faults():
        done = yield from embed_missing(library.catalog, embedder, cancel)
    return int(done.embedded)


class FinetuneDialog(QDialog):
    """Steps, Start, a progress bar with the ETA, Cancel; then the figures and "Search with
    it"."""

    use_weights = Signal(str)  # the fine-tuned weights, embedded: make them the library's

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Fine-Tune the Network")
        self.setMinimumWidth(560)
        self._job: JobHandle | None = None
        self.weights: Path | None = None
        library = context.library
        model = library.model_name if library is not None else "the network"
        intro = QLabel(
            f"Retrains the last stage of {model} on the photos you marked similar and not "
            "similar and on your labels, so that “alike” means what you mean. On a CPU this "
            "is slow (minutes); you can cancel and resume later. The result is a new model "
            "for this library: it embeds every photo once, and the current one is used "
            "until then.", self)
        intro.setWordWrap(True)
        self.steps = QSpinBox(self)
        self.steps.setRange(1, 10_000)
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setToolTip("Training steps (4 triplets a step on a CPU, 32 on a GPU); "
                              "the same number resumes a cancelled run")
        form = QFormLayout()
        form.addRow("Steps:", self.steps)
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(True)
        self.status = QLabel("Ready.", self)
        self.status.setObjectName("finetuneStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(self)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.use_button = QPushButton("Search With It", self)
        self.use_button.setToolTip("Embed the library with the fine-tuned network, then "
                                   "search with it")
        self.close_button = QPushButton("Close", self)
        for button, role in ((self.start_button, QDialogButtonBox.ButtonRole.ActionRole),
                             (self.use_button, QDialogButtonBox.ButtonRole.ActionRole),
                             (self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole),
                             (self.close_button, QDialogButtonBox.ButtonRole.AcceptRole)):
            buttons.addButton(button, role)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.embed_and_use)
        self.close_button.clicked.connect(self.close)
        self._update()

    def _update(self) -> None:
        running = self._job is not None
        has_library = self.context.library is not None
        self.start_button.setEnabled(has_library and not running)
        self.steps.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(has_library and not running and self.weights is not None)

    def _run(self, name: str, make_job, on_done) -> None:  # type: ignore[no-untyped-def]
        handle = self.context.workers.start_job(name, make_job)
        handle.progressed.connect(self._on_progress)
        handle.succeeded.connect(on_done)
        handle.failed.connect(lambda exc: self.status.setText(str(exc)))
        handle.cancelled.connect(self._on_cancelled)
        handle.ended.connect(self._on_ended)
        self._job = handle
        self.bar.setRange(0, 0)  # busy until the first step
        self._update()

    def start(self) -> None:
        """Fine-tune in the background."""
        library = self.context.library
        if library is None or self._job is not None:
            return
        steps = self.steps.value()
        self.weights = None
        self.status.setText("Reading the judged and labelled photos…")
        self._run("Fine-tuning", lambda cancel: finetune_job(library, steps, cancel),
                  self._on_finetuned)

    def embed_and_use(self) -> None:
        """Embed the library with the fine-tuned weights, then make them the library's."""
        library, weights = self.context.library, self.weights
        if library is None or weights is None or self._job is not None:
            return
        self.status.setText("Embedding the library with the fine-tuned network…")
        self._run("Embedding with the fine-tuned network",
                  lambda cancel: embed_job(library, weights, cancel), self._on_embedded)

    def cancel(self) -> None:
        if self._job is not None:
            self.status.setText("Cancelling…")
            self._job.cancel()

    def _on_progress(self, progress: Progress) -> None:
        if progress.total:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(progress.done)
        text = progress.text
        if progress.eta is not None and progress.done < progress.total:
            text += f" · about {format_duration(progress.eta)} left"
        self.status.setText(text)

    def _on_finetuned(self, r: FinetuneResult) -> None:
        self.weights = Path(r.weights)
        resumed = f", resumed at step {r.resumed_from}" if r.resumed_from else ""
        self.status.setText(
            f"Fine-tuned for {r.steps} steps on {r.device} in {format_duration(r.seconds)}"
            f"{resumed}. Held-out triplets ordered correctly: {r.before:.0%} frozen, "
            f"{r.after:.0%} fine-tuned (of {r.held_out}). “Search With It” embeds the "
            "library with it.")

    def _on_embedded(self, count: int) -> None:
        assert self.weights is not None
        self.status.setText(f"Embedded {count} photos with the fine-tuned network; "
                            "searching with it.")
        self.use_weights.emit(str(self.weights))

    def _on_cancelled(self) -> None:
        self.status.setText("Cancelled. Start again with the same number of steps to go on "
                            "from the last checkpoint.")

    def _on_ended(self) -> None:
        self._job = None
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if self.weights is not None else 0)
        self._update()

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.cancel()  # a checkpoint keeps the steps done
        super().closeEvent(event)
