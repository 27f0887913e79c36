"""The app on the big library (for ``benchmarks.scale``): the real ``python -m cli FOLDER``,
started through :mod:`benchmarks._app_probe`, which watches the window, beats a heartbeat and
scrolls the whole grid; then this probe searches ("more like this photo", as the grid's
context menu does) and opens the map tab, waits for the stored map to be drawn, and pans it
frame by frame, timing each frame's paint. The parent samples the app's memory with its
children (the map engine) all along.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._app_probe import Probe

PAN_FRAMES = 40


class ScaleProbe(Probe):
    """:class:`Probe`, then a search and the map, before it writes its findings."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._extra_done = False

    def _finish(self) -> None:
        if self._extra_done or "error" in self.result or self.window is None:
            super()._finish()
            return
        self._extra_done = True
        from PySide6.QtCore import QTimer

        self.phase = "searching"
        search = self.window.search
        model = self.window.library_view.model
        photo = model.photo_id(model.rowCount() // 2)
        started = time.perf_counter()

        def searched(busy: bool) -> None:
            if not busy:
                self.result["search_s"] = time.perf_counter() - started
                search.busy_changed.disconnect(searched)
                QTimer.singleShot(200, self._open_map)

        search.busy_changed.connect(searched)
        search.find_similar([photo])

    def _open_map(self) -> None:
        from PySide6.QtCore import QTimer

        from gui.map.view import MapView

        self.phase = "map"
        self.map_view = self.window.findChild(MapView)
        self.window.views.setCurrentWidget(self.map_view)
        self._map_started = time.perf_counter()
        self._map_poll = QTimer()
        self._map_poll.timeout.connect(self._wait_for_map)
        self._map_poll.start(50)

    def _wait_for_map(self) -> None:
        view = self.map_view
        if time.monotonic() > self.deadline:
            self._map_poll.stop()
            self.result["error"] = "timed out waiting for the map"
            super()._finish()
            return
        if len(view.ids) < self.expect:
            return
        self._map_poll.stop()
        self.result["map_shown_s"] = time.perf_counter() - self._map_started
        self.result["map_points"] = len(view.ids)
        self.phase = "panning"
        self._frames: list[float] = []
        from PySide6.QtCore import QTimer

        self._pan = QTimer()
        self._pan.timeout.connect(self._pan_frame)
        self._pan.start(20)

    def _pan_frame(self) -> None:
        view = self.map_view
        if len(self._frames) >= PAN_FRAMES:
            self._pan.stop()
            self.result["frames_ms"] = self._frames
            self.phase = "done"
            super()._finish()
            return
        box = view.view_box
        (x0, x1), _ = box.viewRange()
        step = (x1 - x0) * 0.03 * (1 if len(self._frames) < PAN_FRAMES // 2 else -1)
        start = time.perf_counter()
        box.translateBy(x=step)
        view.plot.viewport().repaint()  # paint now, synchronously: the frame's whole cost
        self._frames.append((time.perf_counter() - start) * 1e3)


def child(args: argparse.Namespace) -> int:
    """The app, as `python -m cli FOLDER --weights none` runs it, with a ScaleProbe."""
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    probe = ScaleProbe(args.expect, args.out, args.scroll_jumps, args.scroll_pages,
                       args.timeout)
    from cli import main

    status = main([str(args.child), "--weights", "none", "--model", args.model])
    del app, probe
    return status


def run_app(fixture: Any, n: int, timeout: float, jumps: int = 100, pages: int = 100
            ) -> dict[str, Any]:
    """Launch the app on the fixture (offscreen); its findings and its peak memory (MB),
    alone and with its children."""
    from benchmarks._common import PeakSampler

    out = fixture.base / "app-result.json"
    out.unlink(missing_ok=True)
    env = dict(os.environ, **fixture.env(), QT_QPA_PLATFORM="offscreen")
    command = [sys.executable, "-m", "benchmarks.scale_app", str(fixture.photos), str(out),
               str(n), str(jumps), str(pages), str(timeout)]
    launched = time.time()
    proc = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[1])
    with PeakSampler(proc.pid, interval_s=0.2) as rss:
        try:
            proc.wait(timeout + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if not out.exists():
        return {"error": f"the app exited ({proc.returncode}) without a result"}
    result = json.loads(out.read_text())
    result["launched"] = launched
    result["peak_with_children_mb"] = rss.peak_mb
    return result


if __name__ == "__main__":
    folder, out, expect, jumps, pages, timeout = sys.argv[1:7]
    sys.exit(child(argparse.Namespace(
        child=Path(folder), out=Path(out), expect=int(expect), scroll_jumps=int(jumps),
        scroll_pages=int(pages), timeout=float(timeout), model="efficientnet_lite0")))
