"""Shared helpers of the benchmark scripts: statistics, tables, memory, the machine line.

Every script prints a Markdown table (so that its output can be pasted into
``benchmarks/README.md``) headed by :func:`machine_line`: these machines are shared and
noisy, so the load average goes with the figures.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress

import numpy as np
import psutil


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), 95))


def timed(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    """Wall seconds of ``repeat`` calls of ``fn``."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    """The CUDA device torch would use, or None (torch is imported only if already loaded)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


def machine_line() -> str:
    """Date, cores, GPU or not, load average: the context every table needs."""
    gpu = gpu_name() or "no GPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    mem = psutil.virtual_memory().total / 2**30
    return (f"{_dt.date.today().isoformat()}, {platform.machine()}, {cpu_count()} cores, "
            f"{mem:.0f} GiB, {gpu}, load average {load:.1f}, Python {platform.python_version()}")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                title: str | None = None) -> None:
    """A Markdown table; floats keep their formatting if already strings."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


# -- memory ----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started, in MB (getrusage)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3  # bytes on macOS, KiB else


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (default: this one) and its children, in MB."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with suppress(psutil.Error):
            total += child.memory_info().rss
    return total / 1e6


class PeakSampler:
    """Samples a process tree's RSS in a thread; ``peak_mb`` is the highest seen.

    getrusage's peak covers the whole life of the process; this measures one section
    (e.g. indexing after the model is loaded) or another process (the app).
    """

    def __init__(self, pid: int | None = None, interval_s: float = 0.05) -> None:
        self.pid = pid or os.getpid()
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            except psutil.Error:
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with suppress(psutil.Error):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))


@contextmanager
def environ(**values: str | None) -> Iterator[None]:
    """Temporarily set (or, with None, remove) environment variables."""
    old = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Clock:
    """Wall and process CPU seconds of a ``with`` block (CPU time shows wasted work, such
    as threads spinning, even when other processes make the wall time noisy)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
