"""Inside the app process of ``benchmarks.app``: the real app with probes.

``python -m benchmarks.app --child FOLDER ...`` runs ``cli.main([FOLDER, "--weights",
"none", ...])`` exactly as ``python -m cli`` does, after creating the QApplication that the
app then uses, so that a :class:`Probe` can watch the main window, beat a heartbeat on the
UI thread and scroll the grid. It writes its findings as JSON and quits the app.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HEARTBEAT_MS = 10


class Probe:
    """Inside the app process: watches the main window, beats a heartbeat, scrolls."""

    def __init__(self, expect: int, out: Path, scroll_jumps: int, scroll_pages: int,
                 timeout_s: float) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.expect, self.out = expect, out
        self.scroll_jumps, self.scroll_pages = scroll_jumps, scroll_pages
        self.deadline = time.monotonic() + timeout_s
        self.result: dict[str, Any] = {"gaps": {}, "worst": []}
        self.window: Any = None
        self.phase = "starting"
        self.indexing = False
        self.steps: list[int] = []
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        path = os.environ.get("LOOKALIKE_BENCH_STACKS")
        self.stacks = open(path, "w") if path else None  # noqa: SIM115 - open till the end
        self.heartbeat = QTimer()
        self.heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self.heartbeat.timeout.connect(self._beat)
        self.heartbeat.start(HEARTBEAT_MS)
        self.poll = QTimer()
        self.poll.timeout.connect(self._watch)
        self.poll.start(5)

    def _beat(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap_ms, cpu_ms = (now - self._last) * 1e3, (cpu - self._last_cpu) * 1e3
        self._last, self._last_cpu = now, cpu
        if self.phase == "starting":
            return  # the first beats wait for the event loop: start-up, measured apart
        if self.stacks is not None:  # C watchdog: dumps every thread's stack if we stall
            after = float(os.environ.get("LOOKALIKE_BENCH_STALL_S", "0.12"))  # seconds
            faulthandler.dump_traceback_later(after, file=self.stacks)
        gaps = self.result["gaps"].setdefault(self.phase, [0.0, 0])
        gaps[0], gaps[1] = max(gaps[0], gap_ms), gaps[1] + 1
        if gap_ms > 50:  # with the UI thread's own CPU time: work, or waiting for a core/GIL
            self.result["worst"].append((round(gap_ms, 1), self.phase, round(cpu_ms, 1)))

    def _main_window(self) -> Any:
        from PySide6.QtWidgets import QApplication

        for widget in QApplication.topLevelWidgets():
            if widget.objectName() == "mainWindow" and widget.isVisible():
                return widget
        return None

    def _watch(self) -> None:
        if time.monotonic() > self.deadline:
            self.result["error"] = f"timed out in phase {self.phase}"
            self._finish()
            return
        if self.window is None:
            self.window = self._main_window()
            if self.window is None:
                return
            self.result["shown_at"] = time.time()
            self._last = time.perf_counter()  # the heartbeat counts from the event loop on
            self._last_cpu = time.thread_time()
            if os.environ.get("LOOKALIKE_BENCH_PROFILE"):  # where the UI thread's time goes
                import cProfile

                self.profiler = cProfile.Profile()
                self.profiler.enable()
            self.window.indexer.progressed.connect(self._on_progress)
            self.phase = "listing"
        if "usable_at" not in self.result:
            if self.window.library_view.model.rowCount() >= self.expect:
                self.result["usable_at"] = time.time()
                self.phase = "indexing"
                self.indexing = True
            return
        if self.indexing:
            if not self.window.indexer.running:
                self.indexing = False
                self.result["rows"] = self.window.library_view.model.rowCount()
                self.phase = "settling"
                self._settle_until = time.monotonic() + 1.0
            return
        if self.phase == "settling" and time.monotonic() > self._settle_until:
            self._start_scrolling()

    def _on_progress(self, progress: Any) -> None:
        if self.indexing:
            self.phase = progress.phase  # "scanning", "embedding", …

    def _start_scrolling(self) -> None:
        from PySide6.QtCore import QTimer

        self.poll.stop()
        bar = self.window.library_view.grid.verticalScrollBar()
        top = bar.maximum()
        self.result["scroll_max"] = top
        jumps = [round(top * i / self.scroll_jumps) for i in range(1, self.scroll_jumps + 1)]
        middle = top // 2
        pages = [min(top, middle + bar.pageStep() * i) for i in range(1, self.scroll_pages + 1)]
        self.steps = [*jumps, 0, middle, *pages]
        self.phase = "scrolling"
        self.stepper = QTimer()
        self.stepper.timeout.connect(lambda: self._step(bar))
        self.stepper.start(30)

    def _step(self, bar: Any) -> None:
        if not self.steps:
            self.stepper.stop()
            self.phase = "done"
            from PySide6.QtCore import QTimer

            QTimer.singleShot(300, self._finish)
            return
        bar.setValue(self.steps.pop(0))

    def _finish(self) -> None:
        import resource

        self.heartbeat.stop()
        self.poll.stop()
        if self.stacks is not None:
            faulthandler.cancel_dump_traceback_later()
            self.stacks.close()
        if getattr(self, "profiler", None) is not None:
            self.profiler.disable()
            self.profiler.dump_stats(os.environ["LOOKALIKE_BENCH_PROFILE"])
        self.result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        self.result["worst"] = sorted(self.result["worst"], reverse=True)[:10]
        self.out.write_text(json.dumps(self.result))
        if self.window is not None:
            self.window.close()
        from PySide6.QtWidgets import QApplication

        QApplication.quit()


def child(args: argparse.Namespace) -> int:
    """The app, as `python -m cli FOLDER --weights none` runs it, with a Probe."""
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])  # gui.app.main uses this instance
    probe = Probe(args.expect, args.out, args.scroll_jumps, args.scroll_pages, args.timeout)
    from cli import main

    cli_args = [str(args.child), "--weights", "none", "--model", args.model]
    status = main(cli_args)
    del app, probe
    return status
