"""The grid: selection in step with the context, folder filter, sort, badges, big models."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from core import browse
from gui.grid import Roles, ThumbnailCache

from .conftest import OpenWindow, PhotoFolder, open_indexed


def test_selection_goes_both_ways(open_window: OpenWindow, qtbot: QtBot,
                                  photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    grid, model = window.library_view.grid, window.library_view.model
    ids = model.ids()
    with qtbot.assertNotEmitted(window.context.selection_changed):
        window.context.set_selection([])  # unchanged: no signal
    window.context.set_selection([ids[17], ids[5]])  # e.g. from the map
    assert grid.selected_ids() == [ids[5], ids[17]]
    assert grid.current_id() == ids[17]

    viewport = grid.viewport()
    rect = grid.visualRect(model.index(2, 0))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.context.selection == [ids[2]]
    rect = grid.visualRect(model.index(3, 0))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     rect.center())
    assert window.context.selection == [ids[2], ids[3]]
    assert window.actions.find_similar.isEnabled()

    menu = window.library_view.context_menu()
    assert [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()] == [
        "More Like These", "Not Like This", "View Photo", "Open with Default Application",
        "Show in File Manager", "Copy Path(s)"]
    window.actions.copy_paths.trigger()
    library = window.context.library
    assert library is not None
    expected = [str(p.path) for p in library.catalog.photos([ids[2], ids[3]])]
    assert QApplication.clipboard().text().splitlines() == expected


def test_click_mode_finds_similar_on_click(open_window: OpenWindow, qtbot: QtBot,
                                           photo_folder: PhotoFolder,
                                           catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    grid, model = window.library_view.grid, window.library_view.model
    window.actions.click_mode.setChecked(True)
    target = model.ids()[9]
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=grid.visualRect(model.index(9, 0)).center())
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)
    assert window.context.query.positives == (target,)
    assert model.index(0, 0).data(Roles.ID) == target


def test_folder_filter_sort_and_size(open_window: OpenWindow, qtbot: QtBot,
                                     photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    view, library = window.library_view, window.context.library
    assert library is not None
    qtbot.waitUntil(lambda: window.folders.model.item(0) is not None
                    and window.folders.model.item(0).rowCount() == 6)
    scene = window.folders.model.item(0).child(1)
    assert scene.text() == "scene_001 (4)"
    window.folders.tree.clicked.emit(scene.index())
    qtbot.waitUntil(lambda: view.model.rowCount() == 4)
    assert {p.path.parent.name for p in library.catalog.photos(view.model.ids())} == {
        "scene_001"}
    assert view.count_label.text() == "4 photos in scene_001"

    window.folders.tree.clicked.emit(window.folders.model.item(0).index())
    qtbot.waitUntil(lambda: view.model.rowCount() == 24)
    view.sort_box.setCurrentIndex(view.sort_box.findData("name"))
    expected = browse.list_photos(library.catalog, "name").tolist()
    qtbot.waitUntil(lambda: view.model.ids() == expected)
    assert view.model.ids() != browse.list_photos(library.catalog, "folder").tolist()

    window.actions.zoom_in.trigger()
    assert view.size_slider.value() == window.settings.thumbnail_size
    assert view.grid.gridSize() == view.delegate.cell
    assert view.delegate.cell.width() >= view.size_slider.value()


def test_badges_are_painted_per_row(open_window: OpenWindow, qtbot: QtBot,
                                    photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    model = window.library_view.model
    ids = model.ids()
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.set_badges({ids[1]: "beach 92%"})
    assert changed.args[0].row() == 1 and Roles.BADGE in changed.args[2]
    assert model.index(1, 0).data(Roles.BADGE) == "beach 92%"
    assert model.index(0, 0).data(Roles.BADGE) is None
    window.library_view.grid.grab()  # paints the badge without error
    model.set_badges({})
    assert model.index(1, 0).data(Roles.BADGE) is None


def test_thumbnail_cache_is_bounded(qtbot: QtBot, photo_folder: PhotoFolder,
                                    catalog_copy: Path) -> None:
    from core.library import Library
    from gui.context import AppContext

    context = AppContext()
    with Library(photo_folder.root, catalog_path=catalog_copy, model="resnet50",
                 weights="none") as library:
        ids = library.catalog.photo_ids().tolist()
        one = browse.tiles(library.catalog, ids[:1])[ids[0]]
        assert one.thumbnail is not None
        cache = ThumbnailCache(context.workers, max_bytes=5 * 256 * 192 * 4)
        cache.set_catalog(library.catalog)
        assert cache.image(ids[0]) is None  # not in memory yet: requested, never read here
        for photo_id in ids:
            cache.image(photo_id)
        qtbot.waitUntil(lambda: all(cache.name(i) is not None for i in ids), timeout=10_000)
        assert 0 < len(cache) <= 5
        kept = [i for i in ids if cache.image(i) is not None]
        assert len(kept) == len(cache)
        assert cache.pixmap(kept[0], 128).width() == 128
        context.workers.stop_all(2)


def test_a_hundred_thousand_rows_stay_fast(open_window: OpenWindow, qtbot: QtBot,
                                          photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    view = window.library_view
    started = time.perf_counter()
    view.model.set_photos(range(1, 100_001))
    view.grid.scrollToBottom()
    view.grid.grab()
    view.grid.scrollTo(view.model.index(50_000, 0))
    view.grid.grab()
    view.model.append(list(range(100_001, 100_501)))
    elapsed = time.perf_counter() - started
    print(f"\n100,000 tiles: reset, scroll and paint twice, append 500: {elapsed * 1000:.0f} ms")
    assert view.model.rowCount() == 100_500
    assert elapsed < 2.0
    assert len(view.cache) <= 24  # only real photos were loaded; memory stays bounded


def test_new_photos_go_to_their_sorted_places_in_one_pass(qtbot: QtBot) -> None:
    """A scan's new photos are placed by bisecting the rows with their keys: rows already
    shown keep their order, each new one lands after equal keys, and every row is known
    (row_of) afterwards; one rowsInserted a photo, no reset."""
    from gui.context import AppContext
    from gui.grid.model import ThumbnailModel

    context = AppContext()
    model = ThumbnailModel(ThumbnailCache(context.workers))
    key = {i: (i // 10,) for i in range(1, 200_001)}.__getitem__  # ties within tens
    model.set_photos(range(10, 200_001, 10))  # one photo a key, in key order
    inserted: list[int] = []
    model.rowsInserted.connect(lambda _parent, first, _last: inserted.append(first))
    model.modelReset.connect(lambda: inserted.append(-1))
    model.insert_sorted([15, 11, 20, 199_999, 10], key)  # 20 and 10 are shown already
    ids = model.ids()
    assert ids[:5] == [10, 11, 15, 20, 30]
    assert ids[-3:] == [199_990, 199_999, 200_000] and model.rowCount() == 20_003
    assert sorted(inserted) == inserted and len(inserted) == 3 and -1 not in inserted
    assert [model.row_of(i) for i in (11, 15, 199_999, 5)] == [1, 2, 20_001, -1]
