"""The long-job protocol shared by the CLI and the GUI.

A job is a generator that yields :class:`Progress` often (at least every batch), checks a
``threading.Event`` to stop early, commits its work as it goes, and ``return``s its
result. The CLI drives it with tqdm (:func:`run`), the GUI from a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from core.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job: ``done`` of ``total`` units in ``phase`` (e.g. "embedding")."""

    phase: str
    done: int
    total: int
    text: str = ""
    rate: float | None = None  # units per second, recent average
    eta: float | None = None  # seconds left

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


Job = Generator[Progress, None, T]


class RateMeter:
    """Units per second and time left, smoothed over the whole run so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()

    def progress(self, phase: str, done: int, text: str = "") -> Progress:
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 and done else None
        eta = (self.total - done) / rate if rate else None
        return Progress(phase, done, self.total, text, rate, eta)


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled.")


def run(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive ``job`` to completion, passing each Progress to ``on_progress``; return its result."""
    while True:
        try:
            progress = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(progress)
