"""Drive a core job with tqdm progress bars on stderr."""

from __future__ import annotations

import sys
from typing import TypeVar

from tqdm import tqdm

from core.jobs import Job, Progress, run

T = TypeVar("T")


def run_with_bars(job: Job[T], *, quiet: bool = False) -> T:
    """Run ``job`` to the end, one bar per phase ("scanning", "embedding", ...)."""
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
