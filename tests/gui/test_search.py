"""Find similar, "not like this", history, and search by a dropped image, on real widgets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QToolBar
from pytestqt.qtbot import QtBot

from gui.grid import Roles
from gui.main_window import MainWindow

from .conftest import OpenWindow, PhotoFolder, open_indexed


def _photo_id(window: MainWindow, path: Path) -> int:
    library = window.context.library
    assert library is not None
    photo = library.photo_at(path)
    assert photo is not None
    return photo.id


def _scene_of(window: MainWindow, photo_id: int) -> str:
    library = window.context.library
    assert library is not None
    (photo,) = library.catalog.photos([photo_id])
    return photo.path.parent.name


def _shown(window: MainWindow) -> list[tuple[int, float | None, bool]]:
    model = window.library_view.model
    return [(model.index(r, 0).data(Roles.ID), model.index(r, 0).data(Roles.SCORE),
             model.index(r, 0).data(Roles.PINNED)) for r in range(model.rowCount())]


def test_find_similar_pins_the_query_and_ranks_its_scene_first(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    back_button = window.library_view.back_button
    assert not back_button.isVisible()  # in the library its room goes to the title
    query = _photo_id(window, photo_folder.scenes["scene_002"][0])
    window.context.set_selection([query])
    assert window.library_view.grid.selected_ids() == [query]  # the grid follows the context
    toolbar = window.findChild(QToolBar, "mainToolbar")
    button = toolbar.widgetForAction(window.actions.find_similar)
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)

    shown = _shown(window)
    print("\nfind similar:", [(_scene_of(window, i), s) for i, s, _ in shown[:6]])
    assert shown[0] == (query, None, True)  # the query, pinned first, without a score
    assert len(shown) == 24
    assert {_scene_of(window, i) for i, _, _ in shown[1:4]} == {"scene_002"}
    scores = [s for _, s, _ in shown[1:]]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert window.library_view.title.text() == "Like orig.jpg"
    assert window.library_view.count_label.text() == "23 similar"
    assert window.library_view.sort_box.currentData() == "similarity"
    assert back_button.isVisible()

    # Back to the library, then back and forward through the history.
    qtbot.mouseClick(back_button, Qt.MouseButton.LeftButton)
    assert window.context.query is None and not back_button.isVisible()
    qtbot.waitUntil(lambda: all(s is None for _, s, _ in _shown(window)))
    assert len(_shown(window)) == 24 and window.actions.back.isEnabled()
    window.actions.back.trigger()
    assert window.context.query is not None and _shown(window)[0][0] == query
    window.actions.forward.trigger()
    assert window.context.query is None


def test_find_similar_from_the_keyboard_and_more_like_these(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    grid = window.library_view.grid
    window.activateWindow()
    grid.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow() and grid.hasFocus())
    qtbot.keyClick(grid, Qt.Key.Key_End)  # keyboard navigation selects the last photo
    first = grid.current_id()
    assert first == window.library_view.model.ids()[-1]
    assert window.context.selection == [first]
    qtbot.keyClick(grid, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)
    assert window.context.query.positives == (first,)

    two = [_photo_id(window, photo_folder.scenes["scene_004"][i]) for i in (0, 1)]
    window.context.set_selection(two)
    window.actions.find_similar.trigger()
    qtbot.waitUntil(lambda: window.context.query.positives == tuple(two), timeout=10_000)
    shown = _shown(window)
    assert [i for i, _, pinned in shown[:2] if pinned] == two
    assert {_scene_of(window, i) for i, _, _ in shown[2:4]} == {"scene_004"}
    assert window.library_view.title.text() == "Like these 2 photos"


def test_not_like_this_reranks_at_once(open_window: OpenWindow, qtbot: QtBot,
                                       photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    query = _photo_id(window, photo_folder.scenes["scene_001"][0])
    window.search.find_similar([query])
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)
    before = _shown(window)
    unwanted = before[1][0]
    window.context.set_selection([unwanted])
    assert window.actions.not_like.isEnabled()
    window.actions.not_like.trigger()
    qtbot.waitUntil(lambda: window.context.query.negatives == (unwanted,), timeout=10_000)

    library = window.context.library
    assert library is not None
    expected = library.similar([query], [unwanted], k=100)
    after = _shown(window)
    assert after[0] == (query, None, True)
    assert unwanted not in [i for i, _, _ in after]
    assert [(i, s) for i, s, _ in after[1:]] == [(h.photo_id, h.score) for h in expected]
    assert [(i, s) for i, s, _ in after[1:]] != [(i, s) for i, s, _ in before[1:23]]
    assert window.library_view.title.text() == "Like orig.jpg, not like 1"
    window.actions.back.trigger()  # the query without the negative example
    assert window.context.query.negatives == ()


def _drop(window: MainWindow, path: Path) -> tuple[bool, bool]:
    """Drag ``path`` from outside onto the window; (enter accepted, drop accepted)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    actions = Qt.DropAction.CopyAction
    pos = window.rect().center()
    enter = QDragEnterEvent(pos, actions, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(QPointF(pos), actions, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_dropping_an_image_file_finds_its_lookalikes(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder, catalog_copy: Path,
        tmp_path: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    outside = tmp_path / "from the web.jpg"
    shutil.copy(photo_folder.scenes["scene_003"][0], outside)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    assert _drop(window, notes) == (False, False)

    assert _drop(window, outside) == (True, True)
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=30_000)
    query = window.context.query
    assert query.file == str(outside) and query.positives == ()
    shown = _shown(window)
    assert not any(pinned for _, _, pinned in shown)
    assert _scene_of(window, shown[0][0]) == "scene_003"
    assert shown[0][0] == _photo_id(window, photo_folder.scenes["scene_003"][0])
    assert shown[0][1] > 0.999  # the same pixels
    assert {_scene_of(window, i) for i, _, _ in shown[:4]} == {"scene_003"}
    assert window.library_view.title.text() == "Like from the web.jpg"
