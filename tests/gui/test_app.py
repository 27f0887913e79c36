"""The main window over real background work: opening, scanning, staying responsive."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from core import browse
from core.catalog.schema import latest_version
from core.embed.models import build_model
from gui.grid import Roles
from gui.panels.empty import EmptyState
from gui.settings import ModelChoice, Settings
from gui.viewer import ViewerWindow

from .conftest import OpenWindow, PhotoFolder, StallMeter, open_indexed, wait_indexed

STALL_LIMIT_S = 0.3


def test_opening_a_folder_indexes_it_in_the_background(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder, tmp_path: Path,
        stall_meter: StallMeter) -> None:
    """The grid fills by appends while the real worker scans and embeds; the UI thread never
    stalls for long (a timer measures the longest gap between its ticks)."""
    stall_meter.start()
    window = open_window(str(photo_folder.root), "--catalog", str(tmp_path / "c.sqlite"),
                         "--model", "resnet50")
    model = window.library_view.model
    resets_while_indexing = []
    model.modelReset.connect(lambda: resets_while_indexing.append(window.context.indexing))
    resets_with_rows: list[int] = []  # a reset once photos show: the grid reshuffled
    model.modelAboutToBeReset.connect(lambda: resets_with_rows.append(model.rowCount()))
    assert window.context.indexing  # started at once, in the background
    progress: list[str] = []
    window.indexer.progressed.connect(lambda _p: progress.append(window.status.label.text()))
    stall_meter.restart_clock()
    wait_indexed(qtbot, window)
    stall_meter.stop()

    worst = stall_meter.worst
    print(f"\nlongest UI-thread stall while indexing: {worst * 1000:.0f} ms "
          f"over {len(stall_meter.gaps)} ticks")
    assert worst < STALL_LIMIT_S
    assert model.rowCount() == 24
    assert not any(resets_while_indexing)  # appends (beginInsertRows), never a reset
    # Each new photo went straight to its sorted place: nothing moves when the scan ends.
    qtbot.waitUntil(lambda: window.library_view.listed.is_set())
    catalog = window.context.library.catalog
    qtbot.waitUntil(lambda: model.ids() == browse.list_photos(catalog, "date").tolist())
    assert not any(resets_with_rows)
    assert any(text.startswith("Analysing photos:") and "photos/s" in text for text in progress)
    assert window.status.label.text().startswith("24 photos · 24 analysed at ")
    assert not window.status.cancel_button.isVisible()
    # Thumbnails arrive from the loader thread and folders/problems are listed.
    qtbot.waitUntil(lambda: model.index(0, 0).data(Roles.IMAGE) is not None)
    qtbot.waitUntil(lambda: window.folders.model.rowCount() == 1
                    and window.folders.model.item(0).text() == "All photos (24)")
    assert window.folders.model.item(0).rowCount() == 6
    assert window.problems.summary.text() == "Every file could be read."


def test_cancel_keeps_what_was_done_and_rescan_resumes(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder, tmp_path: Path) -> None:
    window = open_window(str(photo_folder.root), "--catalog", str(tmp_path / "c.sqlite"))
    qtbot.waitUntil(lambda: window.status.cancel_button.isVisible())
    qtbot.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)
    wait_indexed(qtbot, window)
    library = window.context.library
    assert library is not None
    done = library.catalog.embedded_count(library.model_key)
    assert done < 24
    assert window.status.label.text() == (
        f"Stopped: {done} of 24 photos analysed. Rescan (F5) to continue.")
    assert window.library_view.model.rowCount() == 24  # what the scan found stays listed
    window.actions.rescan.trigger()
    assert window.context.indexing
    wait_indexed(qtbot, window)
    assert library.catalog.embedded_count(library.model_key) == 24


def test_unusable_weights_offer_a_file_then_index(open_window: OpenWindow, qtbot: QtBot,
                                                  photo_folder: PhotoFolder,
                                                  tmp_path: Path) -> None:
    bad = tmp_path / "downloaded.pth"
    bad.write_bytes(b"<html>rate limited</html>")
    window = open_window(str(photo_folder.root), "--catalog", str(tmp_path / "c.sqlite"),
                         "--model", "mobilenet_v3_small", "--weights", str(bad))
    qtbot.waitUntil(lambda: getattr(window, "weights_dialog", None) is not None
                    and window.weights_dialog.isVisible(), timeout=30_000)
    dialog = window.weights_dialog
    assert "not a PyTorch state_dict" in dialog.informativeText()
    assert window.library_view.model.rowCount() == 24  # the scan ran: photos are listed
    assert [b.text() for b in dialog.buttons() if isinstance(b, QPushButton)][:2] == [
        "Choose Weights File…", "Retry"]
    assert window.status.label.text().startswith("Photos listed, but not analysed")

    good = tmp_path / "mobilenet.pth"
    torch.save(build_model("mobilenet_v3_small", "none").state_dict(), good)
    dialog.file_chosen.emit(str(good))  # what picking that file in the file dialog does
    wait_indexed(qtbot, window)
    library = window.context.library
    assert library is not None and library.weights == str(good)
    assert library.catalog.embedded_count(library.model_key) == 24
    assert window.settings.weights == str(good)


def test_a_missing_weights_file_is_offered_before_opening(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.pth"
    window = open_window(str(photo_folder.root), "--catalog", str(tmp_path / "c.sqlite"),
                         "--weights", str(missing))
    assert window.context.library is None and window.weights_dialog.isVisible()
    assert str(missing) in window.weights_dialog.informativeText()
    window.weights_dialog.close()
    window.settings.weights = "none"
    window.options = type(window.options)("resnet50", "none", "auto")
    window.weights_dialog.retry_requested.emit()
    assert window.context.library is not None
    wait_indexed(qtbot, window)


def test_viewer_opens_and_steps_through_the_grid(open_window: OpenWindow, qtbot: QtBot,
                                                photo_folder: PhotoFolder,
                                                catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    ids = window.library_view.model.ids()
    window.context.set_selection([ids[3]])
    grid = window.library_view.grid
    window.activateWindow()
    grid.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow() and grid.hasFocus())
    qtbot.keyClick(grid, Qt.Key.Key_Space)  # the View Photo shortcut
    viewer = window.findChild(ViewerWindow)
    assert viewer is not None and viewer.isVisible()
    qtbot.waitUntil(lambda: viewer.loaded_id == ids[3], timeout=10_000)
    details = {viewer.details.itemAt(r, viewer.details.ItemRole.LabelRole).widget().text():
               viewer.details.itemAt(r, viewer.details.ItemRole.FieldRole).widget().text()
               for r in range(viewer.details.rowCount())}
    assert details["Dimensions:"].startswith("640 × 480")
    assert details["Camera:"] == "Lookalike Synthetic Camera"
    assert viewer.windowTitle().endswith("— 4 of 24")
    viewer.next()
    assert window.context.selection == [ids[4]]  # the grid follows the viewer
    qtbot.waitUntil(lambda: viewer.loaded_id == ids[4], timeout=10_000)
    rect = viewer.view.image_rect()
    assert (rect.width(), rect.height()) == (640, 480)  # actual-size coordinates
    viewer.view.actual_size()
    assert viewer.view.zoom_level() == 1.0
    viewer.close()


def test_settings_round_trip(open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
                             catalog_copy: Path, tmp_path: Path) -> None:
    store = tmp_path / "roundtrip.ini"
    first = Settings(QSettings(str(store), QSettings.Format.IniFormat))
    window = open_window(str(photo_folder.root), "--catalog", str(catalog_copy),
                         "--model", "resnet50", settings_=first)
    wait_indexed(qtbot, window)
    window.resize(760, 560)  # the offscreen screen is 800x600; the window's minimum applies
    size = window.size()
    assert size.height() == 560
    window.library_view.size_slider.setValue(224)
    window.library_view.sort_box.setCurrentIndex(window.library_view.sort_box.findData("name"))
    window.close()

    again = Settings(QSettings(str(store), QSettings.Format.IniFormat))
    assert again.thumbnail_size == 224 and again.sort == "name"
    assert again.last_library == photo_folder.root
    assert again.recent_libraries == [photo_folder.root]
    assert (again.model, again.weights, again.device) == ("resnet50", "none", "auto")
    second = open_window(settings_=again)  # no folder: the last library opens
    wait_indexed(qtbot, second)
    assert second.size() == size
    assert second.library_view.size_slider.value() == 224
    assert second.library_view.grid.gridSize().width() >= 224
    assert second.context.library is not None
    assert second.context.library.root == photo_folder.root


def test_empty_state_offers_recent_folders(open_window: OpenWindow, qtbot: QtBot,
                                           settings: Settings, photo_folder: PhotoFolder,
                                           tmp_path: Path) -> None:
    settings.add_recent(photo_folder.root)
    settings.last_library = None
    window = open_window(settings_=settings)
    assert window.stack.currentWidget() is window.empty
    assert isinstance(window.empty, EmptyState)
    buttons = [b for b in window.empty.findChildren(QPushButton) if b.objectName() ==
               "recentButton"]
    assert [b.text() for b in buttons] == [str(photo_folder.root)]
    assert window.recent_menu.actions()[0].text() == str(photo_folder.root)
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert window.context.library is not None
    assert window.stack.currentWidget() is window.views
    window.indexer.stop()


def test_extension_hooks_add_views_and_docks(open_window: OpenWindow, qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QLabel

    window = open_window()  # create_window has called install_extensions already
    assert window.views.tabText(0) == "Library"
    tabs = window.views.count()
    window.add_view("Extra view", QLabel("view"))
    dock = window.add_dock("Extra panel", QLabel("panel"))
    assert window.views.count() == tabs + 1
    assert window.views.tabText(tabs) == "Extra view"
    assert dock.objectName() == "dock_Extra panel"
    qtbot.waitUntil(dock.isVisible)
    assert dock.toggleViewAction() in window.view_menu.actions()


def test_help_dialogs_and_preferences(open_window: OpenWindow, qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QMessageBox, QTableWidget

    from gui.dialogs.info import ShortcutsDialog
    from gui.dialogs.preferences import PreferencesDialog
    from gui.settings import ModelChoice

    window = open_window()
    window.actions.shortcuts.trigger()
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    table = dialog.findChild(QTableWidget, "shortcutsTable")
    rows = {table.item(r, 1).text(): table.item(r, 0).text() for r in range(table.rowCount())}
    assert rows["Find Similar"] == "F / Ctrl+F"
    assert rows["View Photo"] == "Space"
    window.actions.about.trigger()
    about = next(b for b in window.findChildren(QMessageBox) if b.windowTitle().startswith(
        "About"))
    assert "Lookalike" in about.text() and about.isVisible()

    prefs = PreferencesDialog(ModelChoice("mobilenet_v3_small", "/w/x.pth", "cpu"), window)
    assert prefs.choice() == ModelChoice("mobilenet_v3_small", "/w/x.pth", "cpu")
    prefs.model_box.setCurrentIndex(prefs.model_box.findData("convnext_base"))
    prefs.weights_box.setCurrentIndex(prefs.weights_box.findData("default"))
    assert prefs.choice() == ModelChoice("convnext_base", "default", "cpu")


def test_command_line_options_override_the_preferences(open_window: OpenWindow,
                                                       settings: Settings) -> None:
    from cli.app_cmd import parse_app_args

    args = parse_app_args([])
    assert args.folder is None and args.model is None and args.weights is None
    settings.model_choice = ModelChoice("convnext_base", "/models/convnext.pth", "cuda")
    window = open_window("--model", "mobilenet_v3_small", "--device", "cpu")
    assert window.options == ModelChoice("mobilenet_v3_small", "none", "cpu")
    assert settings.model_choice == window.options  # remembered for next time
    assert window.context.library is None  # no folder and no last library: the start page


def test_a_file_that_is_not_a_catalog_is_refused_never_rebuilt(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        tmp_path: Path) -> None:
    stranger = tmp_path / "notes.sqlite"
    stranger.write_bytes(b"this is not an SQLite database" * 100)
    window = open_window(str(photo_folder.root), "--catalog", str(stranger),
                         "--model", "mobilenet_v3_small")
    qtbot.waitUntil(lambda: getattr(window, "error_box", None) is not None
                    and window.error_box.isVisible(), timeout=10_000)
    assert "is not a Lookalike catalog" in window.error_box.text() + (
        window.error_box.informativeText())
    assert getattr(window, "_rebuild_box", None) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # not even a .lock


def test_a_damaged_catalog_is_offered_a_rebuild(open_window: OpenWindow, qtbot: QtBot,
                                                photo_folder: PhotoFolder,
                                                tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"  # a catalog from a newer Lookalike
    conn = sqlite3.connect(catalog)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for table in ("photos", "embeddings"):
        conn.execute(f"CREATE TABLE {table} (id INTEGER)")
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()
    window = open_window(str(photo_folder.root), "--catalog", str(catalog),
                         "--model", "mobilenet_v3_small")
    qtbot.waitUntil(lambda: getattr(window, "_rebuild_box", None) is not None
                    and window._rebuild_box.isVisible(), timeout=10_000)
    box = window._rebuild_box
    assert "catalog" in box.text().lower() and str(catalog) in box.informativeText()
    rebuild_button = next(b for b in box.buttons() if b.text() == "Rebuild Catalog")
    rebuild_button.click()
    wait_indexed(qtbot, window)
    assert window.context.library is not None
    assert window.context.library.catalog.photo_count() == sum(
        len(p) for p in photo_folder.scenes.values())
    assert list(tmp_path.glob("catalog.sqlite.damaged-*"))  # set aside, not deleted
