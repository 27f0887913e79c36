"""Fixtures for the GUI tests: offscreen Qt, private user folders, generated libraries."""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from pytestqt.qtbot import QtBot

from benchmarks import synthetic
from cli.app_cmd import parse_app_args
from core.map.engine import MapEngine
from gui.app import create_window
from gui.context import AppContext
from gui.main_window import MainWindow
from gui.settings import Settings

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before pytest-qt creates the QApplication

INDEX_TIMEOUT_MS = 90_000  # resnet50 on two shared cores; normally a few seconds


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thumbnails are shared by the tests of a session (like a user's cache)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, session_cache: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Catalogs and settings in this test's tmp dir; Qt offscreen; never the user's home."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "config"))


@dataclass
class PhotoFolder:
    """A generated library: scene name -> [original, crop, exposure, rotated]."""

    root: Path
    scenes: dict[str, list[Path]]


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> PhotoFolder:
    root = tmp_path_factory.mktemp("library") / "photos"
    scenes = synthetic.write_library(root, 6, n_variants=3, seed=4)
    return PhotoFolder(root, scenes)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def wait_indexed(qtbot: QtBot, window: MainWindow, timeout: int = INDEX_TIMEOUT_MS) -> None:
    """Wait until the window's scan and analysis have finished."""
    qtbot.waitUntil(lambda: window.context.library is not None
                    and not window.context.indexing, timeout=timeout)


OpenWindow = Callable[..., MainWindow]


def open_indexed(open_window: OpenWindow, qtbot: QtBot, folder: PhotoFolder, catalog: Path
                 ) -> MainWindow:
    """Open *folder* with *catalog* and wait until its 24 photos are indexed and listed."""
    window = open_window(str(folder.root), "--catalog", str(catalog))
    wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 24)
    return window


class StallMeter:
    """A QTimer ticking every 10 ms on the GUI thread; ``gaps`` are the seconds between ticks,
    so a long one is a stall of the UI thread."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.restart_clock()
        self.timer.start(10)

    def stop(self) -> None:
        self.timer.stop()

    def restart_clock(self) -> None:
        """Measure the next gap from now (leave out synchronous set-up before it)."""
        self.last = time.perf_counter()

    @property
    def worst(self) -> float:
        """The longest gap, the first (started before the event loop ran) left out."""
        return max(self.gaps[1:])

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now


@pytest.fixture
def stall_meter() -> Iterator[StallMeter]:
    """A :class:`StallMeter`, not yet started; stopped after the test."""
    meter = StallMeter()
    yield meter
    meter.stop()


@pytest.fixture
def open_window(qtbot: QtBot, settings: Settings, map_engine: MapEngine
                ) -> Iterator[OpenWindow]:
    """Build the app's main window as `lookalike ARGS...` would (weights "none")."""
    windows: list[MainWindow] = []

    def make(*args: str, settings_: Settings | None = None) -> MainWindow:
        argv = [*args]
        if "--weights" not in argv:
            argv += ["--weights", "none"]
        if "--model" not in argv:  # the tests' backbone (random init ranks near-duplicates)
            argv += ["--model", "resnet50"]
        window = create_window(parse_app_args(argv), settings_ or settings,
                               AppContext(map_engine=map_engine))
        qtbot.addWidget(window)
        window.show()
        gc.freeze()  # as gui.app.main does once the window is up
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    gc.unfreeze()  # what this test left behind can be collected again


@pytest.fixture(scope="session")
def indexed_catalog(qapp: object, request: pytest.FixtureRequest, photo_folder: PhotoFolder,
                    map_engine: MapEngine,
                    tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Path:
    """A catalog of photo_folder already indexed with resnet50 (random weights), made by the
    app itself; tests get a copy so that each starts from the same state."""
    base = tmp_path_factory.mktemp("indexed")
    catalog = base / "catalog.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(session_cache))
        settings = Settings(QSettings(str(base / "settings.ini"), QSettings.Format.IniFormat))
        window = create_window(parse_app_args(
            [str(photo_folder.root), "--model", "resnet50", "--weights", "none",
             "--catalog", str(catalog)]),
            settings, AppContext(map_engine=map_engine))
        wait_indexed(QtBot(request), window)
        window.close()
        window.deleteLater()
    return catalog


@pytest.fixture
def catalog_copy(indexed_catalog: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "catalog.sqlite"
    shutil.copy(indexed_catalog, copy)
    for extra in indexed_catalog.parent.glob("catalog.sqlite-*"):
        shutil.copy(extra, tmp_path / extra.name)
    return copy
