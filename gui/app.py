"""The desktop app: build the application, its context and main window, and run.

The command line (``cli/app_cmd.py``) parses ``lookalike [FOLDER] [options]`` and hands the
result over as :class:`AppOptions`; the GUI never reads ``sys.argv`` itself."""

from __future__ import annotations

import gc
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

import resources
from gui.actions import icon
from gui.context import AppContext
from gui.main_window import MainWindow
from gui.refcount_guard import guard_singletons
from gui.settings import Settings

log = logging.getLogger(__name__)

ORGANISATION = "lookalike"
APPLICATION = "Lookalike"
GIL_SWITCH_S = 0.001


@dataclass(frozen=True)
class AppOptions:
    """What the command line asked of the app. None: not given, so the Preferences decide."""

    folder: Path | None = None
    catalog: Path | None = None
    model: str | None = None
    weights: str | None = None
    device: str | None = None
    verbose: bool = False


def install_extensions(window: MainWindow, context: AppContext) -> None:
    """Add the optional views and docks (the cluster map, the labelling panel)."""
    from gui.map.view import MapView
    window.add_view("Map", MapView(context))
    from gui.duplicates import DuplicatesView
    window.add_view("Duplicates", DuplicatesView(context))
    from gui.labels.panel import LabelPanel
    window.add_dock("Labels", LabelPanel(context, window.library_view.model.set_badges))
    from gui.people import PeopleView, PersonFilter
    people = PeopleView(context)
    window.add_view("People", people)
    people.photos_shown.connect(lambda _id: window.views.setCurrentWidget(window.library_view))
    window.indexer.finished.connect(lambda _summary: people.keep_up())
    person = PersonFilter(context)
    window.library_view.add_filter(person)
    person.person_changed.connect(window.library_view.set_person)
    person.person_changed.connect(window.search.set_person)


def create_window(args: AppOptions, settings: Settings,
                  context: AppContext | None = None) -> MainWindow:
    """The main window for ``args``, opened on the folder (or the last library)."""
    context = context or AppContext()
    for key in ("model", "weights", "device"):  # remembered for next time
        if getattr(args, key, None) is not None:
            setattr(settings, key, str(getattr(args, key)))
    window = MainWindow(context, settings, settings.model_choice)
    install_extensions(window, context)
    window.restore_state()
    # A model named on the command line wins over the one the library remembers.
    window.model_chosen = args.model is not None or args.weights is not None
    folder = args.folder or settings.last_library
    if folder is not None and Path(folder).is_dir():
        window.open_library(Path(folder), catalog=args.catalog if args.folder else None)
    return window


def load_stylesheet(app: QApplication) -> None:
    try:
        app.setStyleSheet(resources.path("lookalike.qss").read_text(encoding="utf-8"))
    except OSError as exc:
        log.warning("no stylesheet: %s", exc)


def main(args: AppOptions) -> int:
    """Run the app; returns the exit status."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    # Worker threads holding the GIL give it up every GIL_SWITCH_S when the UI thread asks
    # for it (Python's default is 5 ms, and a busy UI thread asks many times per frame).
    sys.setswitchinterval(GIL_SWITCH_S)
    guard_singletons()  # PySide6 6.12 on Python 3.11 loses references to None and True
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setWindowIcon(icon("lookalike"))
    app.setDesktopFileName("lookalike")
    app.setStyle("Fusion")
    load_stylesheet(app)
    window = create_window(args, Settings(QSettings()))
    window.show()
    # Everything built so far lives as long as the app: keep it out of the garbage
    # collector's full passes, which hold the GIL (and freeze the window) while they run.
    gc.freeze()
    signal.signal(signal.SIGINT, lambda *_: window.close())  # Ctrl+C in the terminal quits
    wake = QTimer(window)  # lets Python see the signal while Qt's loop runs
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return int(app.exec())
