"""Switching the open library's descriptor layer (Preferences > Descriptor): the photos are
embedded with the new layer in the background while search goes on with the current one,
then the library is opened again with the new layer (``Library.embed_layer`` remembers it).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.embed import EmbedResult
from core.jobs import Progress
from gui.context import AppContext
from gui.workers import JobHandle


class LayerSwitcher(QObject):
    """Runs one layer switch at a time for the context's library."""

    progressed = Signal(object)  # Progress of the embedding pass
    switched = Signal(str)  # the layer, embedded and remembered: open the library again
    message = Signal(str)  # a line for the status bar

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.job: JobHandle | None = None
        self.layer: str | None = None  # the layer being embedded

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def switch(self, layer: str) -> None:
        """Embed the library with ``layer``, then emit :attr:`switched` (a switch already
        running is cancelled first)."""
        library = self.context.library
        if library is None:
            return
        if self.job is not None and self.job.running:
            job = self.job
            job.cancel()
            job.ended.connect(lambda: self.switch(layer))
            return
        if layer == library.layer:
            return
        self.layer = layer
        job = self.context.workers.start_job(
            f"Analysing with the {layer} layer",
            lambda cancel: library.embed_layer(layer, cancel))
        job.progressed.connect(self._on_progress)
        job.failed.connect(lambda exc: self.context.workers.failed.emit(
            f"Analysing with the {layer} layer", exc))
        job.succeeded.connect(lambda result: self._on_succeeded(job, layer, result))
        job.cancelled.connect(lambda: self.message.emit(
            f"Stopped analysing with the {layer} layer; search goes on with the "
            f"{library.layer} layer."))
        job.ended.connect(lambda: self._on_ended(job))
        self.job = job
        self.message.emit(f"Analysing the photos with the {layer} layer; search uses the "
                          f"{library.layer} layer until it is done.")

    def cancel_then(self, then: Callable[[], object]) -> None:
        """Cancel a running switch and call ``then`` once it has ended (at once if none
        runs): the library must not close under it."""
        job = self.job
        if job is None or not job.running:
            then()
            return
        job.cancel()
        job.ended.connect(then)

    def _on_progress(self, progress: Progress) -> None:
        self.progressed.emit(progress)

    def _on_succeeded(self, job: JobHandle, layer: str, result: EmbedResult) -> None:
        if job is self.job:
            self.message.emit(f"Analysed {result.embedded:,} photos with the {layer} layer: "
                              "searching with it.")
            self.switched.emit(layer)

    def _on_ended(self, job: JobHandle) -> None:
        if job is self.job:
            self.job = None
            self.layer = None
