"""What a new user trips over first (issue 21): the window stays on a laptop screen, the
viewer's keys and zoom, and the photo's shooting details, on real camera photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QRect, QSettings, Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QTableWidget
from pytestqt.qtbot import QtBot

from core.embed.offline import offline_models
from core.labels.store import LabelStore
from gui.context import Query
from gui.dialogs.info import ShortcutsDialog
from gui.grid.delegate import badge_colour
from gui.map.view import MapView
from gui.settings import Settings
from gui.similarity import SimilarityBar
from gui.viewer import ViewerWindow

from .conftest import OpenWindow, PhotoFolder, open_indexed, wait_indexed

LAPTOP_WIDTH = 1366
REAL = ("gps/DSCN0010.jpg", "Canon_40D.jpg", "xmp/BlueSquare.jpg", "corrupted.jpg")


@pytest.fixture
def real_folder(shared_photos: Path, tmp_path: Path) -> Path:
    """Real camera files: GPS and exposure tags, a Canon body, XMP keywords, a broken one."""
    folder = tmp_path / "trip"
    folder.mkdir()
    for name in REAL:
        shutil.copy(shared_photos / "exif-samples" / "jpg" / name, folder / Path(name).name)
    return folder


def details_of(viewer: ViewerWindow) -> dict[str, str]:
    form = viewer.details
    return {form.itemAt(r, form.ItemRole.LabelRole).widget().text().rstrip(":"):
            form.itemAt(r, form.ItemRole.FieldRole).widget().text()
            for r in range(form.rowCount())}


def test_long_texts_never_widen_the_window(open_window: OpenWindow, qtbot: QtBot,
                                           photo_folder: PhotoFolder,
                                           catalog_copy: Path) -> None:
    """A long query label, a long training summary and a long map message are elided (whole
    in the tooltip); the window keeps its width and its minimum fits a 1366 px laptop screen
    with every dock."""
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    window.resize(1024, 700)
    start = window.width()
    label = "Like these 2 photos, not like 1: " + "IMG_0042.jpg, " * 20
    window.context.set_query(Query((1, 2), (3,), (), label=label))
    title = window.library_view.title
    qtbot.waitUntil(lambda: title.text() == label)
    assert title.elided and title.toolTip() == label
    bar = window.findChild(SimilarityBar)  # a search shows it, with the last training's figures
    bar.summary.setText("held-out triplets ordered 74% → 81% " * 5)
    QApplication.processEvents()
    assert bar.isVisible() and bar.summary.elided
    map_view = window.findChild(MapView)
    window.views.setCurrentWidget(map_view)
    map_view.status.setText("Map failed: the map engine stopped unexpectedly; " * 5)
    QApplication.processEvents()
    assert window.width() == start
    assert window.minimumSizeHint().width() <= LAPTOP_WIDTH
    assert window.minimumSizeHint().height() <= 768 - 60
    docks = window.findChildren(QDockWidget)
    assert {d.windowTitle() for d in docks} >= {"Folders", "Problems", "Labels"}
    shown = [d for d in docks if not d.visibleRegion().isEmpty()]  # tabified: one shows
    assert {d.windowTitle() for d in shown} == {"Folders", "Labels"}
    for dock in shown:
        assert window.rect().contains(dock.geometry())
    problems = next(d for d in docks if d.windowTitle() == "Problems")
    problems.raise_()  # dragging its edge is resizeDocks; long reasons need the room
    window.resize(LAPTOP_WIDTH, 740)
    QApplication.processEvents()
    narrow = problems.width()
    window.resizeDocks([problems], [narrow + 200], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    assert problems.width() >= max(narrow + 100, 380)

    # Reopened with other options (as after a weights change): the Sort box works again.
    sort_box = window.library_view.sort_box
    assert not sort_box.isEnabled()  # a query is shown: sorted by similarity
    window.open_library(photo_folder.root, catalog_copy)
    qtbot.waitUntil(lambda: window.context.library is not None and sort_box.isEnabled())
    assert sort_box.currentData() == window.library_view.sort


def test_a_saved_geometry_larger_than_the_screen_is_clamped(
        open_window: OpenWindow, qtbot: QtBot, settings: Settings) -> None:
    screen = QApplication.primaryScreen().availableGeometry()
    window = open_window()
    window.setGeometry(QRect(screen.x() + 50, screen.y() + 40,
                             screen.width() + 600, screen.height() + 400))
    settings.geometry = QByteArray(window.saveGeometry())
    window.close()
    again = open_window(settings_=settings)
    area = again.screen().availableGeometry()  # offscreen: 800 × 600, below the minimum
    smallest = again.minimumSizeHint()
    assert again.width() <= max(area.width(), smallest.width()) < screen.width() + 600
    assert again.height() <= max(area.height(), smallest.height()) < screen.height() + 400
    assert area.contains(again.geometry().topLeft())


def test_viewer_keys_zoom_and_shooting_details(open_window: OpenWindow, qtbot: QtBot,
                                               real_folder: Path, tmp_path: Path) -> None:
    window = open_window(str(real_folder), "--catalog", str(tmp_path / "c.sqlite"))
    wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 3)
    problems = window.problems.list
    qtbot.waitUntil(lambda: problems.topLevelItemCount() == 1)
    item = problems.topLevelItem(0)
    reason = item.text(1)
    assert len(reason) > 20 and item.toolTip(1) == reason  # never cut
    dock = next(d for d in window.findChildren(QDockWidget) if d.windowTitle() == "Problems")
    dock.raise_()  # at the dock's narrowest the reason wraps onto more lines, whole
    qtbot.waitUntil(lambda: window.problems.isVisible())
    window.problems.refresh()
    qtbot.wait(200)
    item = problems.topLevelItem(0)
    assert problems.columnWidth(1) < problems.fontMetrics().horizontalAdvance(reason)
    assert problems.visualItemRect(item).height() >= 2 * problems.fontMetrics().height()
    library = window.context.library
    ids = window.library_view.model.ids()
    by_name = {library.catalog.photo(i).path.name: i for i in ids}
    store = LabelStore(library.catalog)
    keeper = store.add_label(store.create_set("Rating").id, "Keeper")
    store.assign(keeper.id, [by_name["DSCN0010.jpg"]])

    viewer = window.open_viewer(by_name["DSCN0010.jpg"])
    assert viewer is not None
    start = viewer.position
    qtbot.waitUntil(lambda: "GPS" in details_of(viewer), timeout=10_000)
    details = details_of(viewer)
    assert details["Exposure"] == "1/75 s" and details["Aperture"] == "f/5.9"
    assert details["ISO"] == "ISO 64" and details["Focal length"].startswith("24 mm")
    assert details["GPS"] == "43.46745° N, 11.88513° E"
    assert details["Labels (Rating)"] == "Keeper"

    # The image view has the focus: the arrows and PageDown still step through the photos.
    viewer.view.setFocus()
    qtbot.keyClick(viewer.view, Qt.Key.Key_Right)
    assert viewer.position == (start + 1) % 3
    qtbot.keyClick(viewer.view, Qt.Key.Key_PageDown)
    assert viewer.position == (start + 2) % 3
    qtbot.keyClick(viewer.view, Qt.Key.Key_Left)
    assert viewer.position == (start + 1) % 3

    # The zoom is fitted again for the next photo, unless locked.
    qtbot.waitUntil(lambda: viewer.loaded_id == viewer.photo_id, timeout=10_000)
    viewer.view.zoom(1.25)
    assert not viewer.view.fitting
    qtbot.keyClick(viewer.view, Qt.Key.Key_Right)
    assert viewer.view.fitting
    qtbot.waitUntil(lambda: viewer.loaded_id == viewer.photo_id, timeout=10_000)
    viewer.view.zoom(1.25)
    zoomed = viewer.view.zoom_level()
    qtbot.keyClick(viewer.view, Qt.Key.Key_L)
    assert viewer.lock_zoom.isChecked()
    qtbot.keyClick(viewer.view, Qt.Key.Key_Right)
    assert not viewer.view.fitting
    qtbot.waitUntil(lambda: viewer.loaded_id == viewer.photo_id, timeout=10_000)
    assert viewer.view.zoom_level() == pytest.approx(zoomed)
    viewer.show_photo(ids.index(by_name["BlueSquare.jpg"]))
    qtbot.waitUntil(lambda: "Keywords (file)" in details_of(viewer), timeout=10_000)
    assert "Blue Square" in details_of(viewer)["Keywords (file)"]
    viewer.close()


def test_missing_weights_offer_a_model_that_needs_no_download(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights already on this computer (here: torch's download cache) are a way forward."""
    import torch
    import torchvision


    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = torchvision.models.get_model_weights("mobilenet_v3_small")["IMAGENET1K_V1"].url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    net = torchvision.models.get_model("mobilenet_v3_small", weights=None)
    torch.save(net.state_dict(), cached)
    bad = tmp_path / "downloaded.pth"
    bad.write_bytes(b"<html>rate limited</html>")
    window = open_window(str(photo_folder.root), "--catalog", str(tmp_path / "c.sqlite"),
                         "--model", "resnet50", "--weights", str(bad))
    qtbot.waitUntil(lambda: getattr(window, "weights_dialog", None) is not None
                    and bool(window.weights_dialog.model_buttons), timeout=30_000)
    dialog = window.weights_dialog
    at_hand = offline_models("resnet50")  # packaged models, then cached downloads
    assert "mobilenet_v3_small" in at_hand
    offered = [b.text().removeprefix("Use ") for b in dialog.model_buttons]
    assert offered == at_hand[:2]
    assert "--" not in dialog.informativeText()  # no command-line flags in a window
    assert "works offline" in dialog.informativeText()
    dialog.model_buttons[0].click()
    qtbot.waitUntil(lambda: window.context.library is not None
                    and window.context.library.model_key.startswith(f"{offered[0]}@"),
                    timeout=30_000)
    wait_indexed(qtbot, window)
    library = window.context.library
    assert library.catalog.embedded_count(library.model_key) == 24
    assert window.settings.model == offered[0]


def test_small_things_in_the_grid(open_window: OpenWindow, qtbot: QtBot,
                                  photo_folder: PhotoFolder, catalog_copy: Path,
                                  shared_photos: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    view, library = window.library_view, window.context.library
    ids = view.model.ids()

    # The selection is counted, with what the grid's folder filter hides.
    window.context.set_selection(ids[:3])
    assert view.count_label.text() == "24 photos · 3 selected"
    scene = photo_folder.scenes["scene_000"]
    inside = [library.photo_at(p).id for p in scene]
    outside = [i for i in ids if i not in inside][:2]
    view.set_folder(scene[0].parent.relative_to(photo_folder.root))
    qtbot.waitUntil(lambda: sorted(view.model.ids()) == sorted(inside))
    window.context.set_selection([inside[0], *outside])  # as a lasso on the map does
    assert view.count_label.text().endswith("· 3 selected, 2 outside this folder")

    # Names and dates on the tiles, on demand.
    tile = view.grid.visualRect(view.model.index(0, 0))
    qtbot.waitUntil(lambda: view.cache.name(view.model.photo_id(0)) is not None)
    plain = view.grid.viewport().grab(tile).toImage()
    window.actions.show_captions.setChecked(True)
    assert view.delegate.captions
    assert view.grid.viewport().grab(tile).toImage() != plain
    window.settings.store.sync()  # remembered for the next launch
    store = window.settings.store.fileName()
    assert Settings(QSettings(store, QSettings.Format.IniFormat)).captions

    # Badges: one colour per label, whatever the confidence or review mark.
    assert badge_colour("cat 92%") == badge_colour("cat") == badge_colour("✓ cat")
    assert len({badge_colour(n).name() for n in ("cat", "dog", "bird", "tree", "car")}) >= 4

    # Help lists the label keys and the review keys.
    keys = ShortcutsDialog(window.actions.all(), window)
    table = keys.findChild(QTableWidget)
    rows = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "1 … 9" in rows and "A / R" in rows
    keys.close()

    # Searching by an outside image shows that image in the header.
    outside_image = shared_photos / "exif-samples" / "jpg" / "Canon_40D.jpg"
    window.search.search_file(outside_image)
    qtbot.waitUntil(lambda: view.query_thumb.isVisible(), timeout=30_000)
    assert view.query_thumb.pixmap().height() == view.query_thumb.height()
