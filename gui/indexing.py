"""Scanning and analysing the open library in the background, reported for the status bar."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.embed import EmbedResult
from core.errors import ModelUnavailable
from core.jobs import Job, Progress, check_cancel
from core.library import IndexResult, Library
from gui.context import AppContext
from gui.workers import JobHandle

log = logging.getLogger(__name__)

PHOTOS_CHANGED_EVERY_S = 0.4  # at most this often: the grid appends, thumbnails refresh
AFTER_WAIT_S = 5.0  # the longest the scan waits for the grid's listing


def index_job(library: Library, cancel: threading.Event | None = None,
              after: threading.Event | None = None) -> Job[IndexResult]:
    """``Library.index()``, with a "loading the model" step between the scan and the
    analysis so that the status bar says why nothing moves for a few seconds; the model is
    not loaded at all when every photo is analysed already.

    With ``after``, the scan waits (up to AFTER_WAIT_S) until that event is set: on a big
    library, listing the grid and scanning are both long loops in Python threads, and
    running them at once keeps the UI thread waiting for the GIL.
    """
    if after is not None:
        deadline = time.monotonic() + AFTER_WAIT_S
        while not after.wait(0.05) and time.monotonic() < deadline:
            check_cancel(cancel)
    scanned = yield from library.scan(cancel)
    catalog = library.catalog
    if catalog.embedded_count(library.model_key) >= catalog.photo_count():
        return IndexResult(scanned, EmbedResult(0, 0, 0.0))
    yield Progress("loading", 0, 0, f"Loading the {library.model_name} network")
    embedded = yield from library.embed(cancel)
    return IndexResult(scanned, embedded)


def summary(result: IndexResult, total: int) -> str:
    """The status line after indexing, e.g. "200 photos · 12 new analysed at 9.1 photos/s"."""
    parts = [f"{total:,} photo{'s' if total != 1 else ''}"]
    if result.embed.embedded:
        parts.append(f"{result.embed.embedded:,} analysed at {result.embed.rate:.1f} photos/s")
    else:
        parts.append("up to date")
    problems = result.scan.problems
    if problems:
        parts.append(f"{problems:,} could not be read (see Problems)")
    return " · ".join(parts)


class Indexer(QObject):
    """Runs ``Library.index()`` for the context's library; one job at a time."""

    progressed = Signal(object)  # Progress
    finished = Signal(str)  # a one-line summary for the status bar
    model_unavailable = Signal(str)  # the weights could not be loaded: offer a file or retry

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.job: JobHandle | None = None
        self._last_notice = 0.0

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start(self, *, after: threading.Event | None = None) -> None:
        """Scan the open library and analyse new photos (after a running job has stopped;
        the scan itself waits for ``after``, see :func:`index_job`)."""
        library = self.context.library
        if library is None:
            return
        if self.running:  # a rescan while scanning: start again once this one has stopped
            self.cancel_then(lambda: self.start(after=after))
            return
        job = self.context.workers.start_job(
            "Indexing", lambda cancel: index_job(library, cancel, after))
        job.progressed.connect(self._on_progress)
        job.succeeded.connect(lambda result: self._on_succeeded(job, result))
        job.cancelled.connect(lambda: self._on_cancelled(job))
        job.failed.connect(lambda exc: self._on_failed(job, exc))
        job.ended.connect(lambda: self._on_ended(job))
        self.job = job
        self.context.indexing_changed_photos = True  # until it ends without changes
        self.context.set_indexing(True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def cancel_then(self, then: Callable[[], object]) -> None:
        """Cancel the running job and call ``then`` once it has ended (at once if none runs);
        the GUI thread is never blocked waiting for the current batch."""
        job = self.job
        if job is None or not job.running:
            then()
            return
        job.cancel()
        job.ended.connect(then)  # after _on_ended, connected first

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Cancel the running job and wait for its thread (True if it ended in time)."""
        job, self.job = self.job, None
        if job is None or not job.running:
            return True
        job.cancel()
        ok = job.wait(timeout_s)
        self.context.set_indexing(False)
        return ok

    def _on_progress(self, progress: Progress) -> None:
        if self.job is None:
            return
        self.progressed.emit(progress)
        now = time.monotonic()
        if now - self._last_notice >= PHOTOS_CHANGED_EVERY_S:
            self._last_notice = now
            self.context.photos_changed.emit()

    def _on_succeeded(self, job: JobHandle, result: IndexResult) -> None:
        library = self.context.library
        if job is self.job:
            scan = result.scan
            self.context.indexing_changed_photos = bool(
                scan.new or scan.changed or scan.removed or scan.moved or result.embed.embedded)
        if job is self.job and library is not None:
            self.finished.emit(summary(result, library.catalog.photo_count()))
            # A big library's search index is built now, in the background, rather than
            # when the first Find similar asks for it.
            self.context.prepare_search()
            self.context.prepare_region_search()

    def _on_cancelled(self, job: JobHandle) -> None:
        if job is self.job and self.context.library is not None:
            library = self.context.library
            done = library.catalog.embedded_count(library.model_key)
            total = library.catalog.photo_count()
            self.finished.emit(f"Stopped: {done:,} of {total:,} photos analysed. "
                               "Rescan (F5) to continue.")

    def _on_failed(self, job: JobHandle, exc: BaseException) -> None:
        if job is not self.job:
            return
        if isinstance(exc, ModelUnavailable):
            self.finished.emit("Photos listed, but not analysed: the model is unavailable.")
            self.model_unavailable.emit(exc.plain)
        else:
            self.finished.emit("Indexing stopped by an error.")
            self.context.workers.failed.emit("Indexing the library", exc)

    def _on_ended(self, job: JobHandle) -> None:
        if job is self.job:
            self.job = None
            self.context.photos_changed.emit()
            self.context.set_indexing(False)
