"""Drive a core job with progress on stderr: tqdm bars on a terminal, and a few plain lines
when stderr is a file or a pipe (a log must not fill with redrawn bars and spinners)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO, TypeVar

from tqdm import tqdm

from core.jobs import Job, Progress, run

T = TypeVar("T")

PLAIN_EVERY_S = 30.0  # a plain line at most this often within a phase (and every quarter)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class PlainLines:
    """Progress as plain lines: one when a phase starts, at each quarter of it and at most
    every :data:`PLAIN_EVERY_S` seconds; the caller prints the summary at the end."""

    def __init__(self, stream: TextIO, every_s: float = PLAIN_EVERY_S) -> None:
        self.stream, self.every_s = stream, every_s
        self.phase: str | None = None
        self.last_time = 0.0
        self.last_quarter = -1

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        quarter = 4 * progress.done // progress.total if progress.total else -1
        if progress.phase != self.phase:
            self.phase, self.last_quarter = progress.phase, -1
        elif quarter <= self.last_quarter and now - self.last_time < self.every_s:
            return
        self.last_time, self.last_quarter = now, quarter
        text = progress.text or progress.phase.capitalize()
        if progress.total and progress.total > 1 and f"{progress.total:,}" not in text:
            text = f"{text} ({progress.done:,}/{progress.total:,})"
        self.stream.write(text + "\n")
        self.stream.flush()


def plain_or(show: Callable[[Progress], None], stream: TextIO = sys.stderr
             ) -> Callable[[Progress], None]:
    """``show`` on a terminal, else :class:`PlainLines` on ``stream``."""
    return show if is_terminal(stream) else PlainLines(stream)


def run_with_bars(job: Job[T], *, quiet: bool = False) -> T:
    """Run ``job`` to the end, one bar per phase ("scanning", "embedding", ...); plain lines
    instead of bars when stderr is not a terminal."""
    if not quiet and not is_terminal(sys.stderr):
        return run(job, PlainLines(sys.stderr))
    bars: dict[str, tqdm] = {}

    def show(progress: Progress) -> None:
        if quiet:
            return
        bar = bars.get(progress.phase)
        if bar is None:
            for other in bars.values():
                other.close()
            unit = "photo"
            bar = tqdm(total=progress.total or None, desc=progress.phase.capitalize(),
                       unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)
            bars[progress.phase] = bar
        if progress.total and bar.total != progress.total:
            bar.total = progress.total
        bar.update(progress.done - bar.n)

    try:
        return run(job, show)
    finally:
        for bar in bars.values():
            bar.close()
