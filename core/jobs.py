"""The long-job protocol shared by the CLI and the GUI.

A job is a generator that yields :class:`Progress` often (at least every batch), checks a
``threading.Event`` to stop early, commits its work as it goes, and ``return``s its
result. The CLI drives it with tqdm (:func:`run`), the GUI from a worker thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from core.errors import Cancelled

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10  # CPU priority of background work: the UI thread comes first

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


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Give the calling thread (and the threads it starts) a lower CPU priority.

    On Linux the nice value is per thread: a worker at nice 10 leaves a core to the UI
    thread as soon as the UI thread wakes up, which keeps the window responsive on a
    2-core machine while decoding and the CNN keep every core busy. Elsewhere a no-op
    (a process-wide nice would slow the UI too). Never raises.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:
        log.debug("could not lower the thread's priority: %s", exc)
