"""The labelling panel: label with the keyboard, train, review suggestions, filter the grid."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.labels import SOURCE_ACCEPTED, LabelStore
from gui.grid import Roles
from gui.labels.panel import LabelPanel
from gui.main_window import MainWindow

from .conftest import OpenWindow, PhotoFolder, wait_indexed


def _open(open_window: OpenWindow, qtbot: QtBot, folder: PhotoFolder,
          catalog: Path) -> tuple[MainWindow, LabelPanel]:
    window = open_window(str(folder.root), "--catalog", str(catalog))
    wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 24)
    panel = window.findChild(LabelPanel)
    assert panel is not None
    return window, panel


def _new_set(qtbot: QtBot, panel: LabelPanel, name: str, *labels: str) -> None:
    """Create a label set with labels through the panel, and wait until it shows them."""
    panel.create_set(name)
    qtbot.waitUntil(lambda: panel.label_set is not None and panel.label_set.name == name)
    for label in labels:
        panel.add_label(label)
        qtbot.waitUntil(lambda label=label: label in [each.name for each in panel.labels])


def _ids(window: MainWindow, folder: PhotoFolder, scene: int, *variants: int) -> list[int]:
    library = window.context.library
    assert library is not None
    return [library.photo_at(folder.scenes[f"scene_{scene:03d}"][v]).id for v in variants]


def test_label_by_key_then_filter_the_grid(open_window: OpenWindow, qtbot: QtBot,
                                          photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window, panel = _open(open_window, qtbot, photo_folder, catalog_copy)
    _new_set(qtbot, panel, "Scene", "first", "second")
    rows = [panel.rows.itemAt(i).widget() for i in range(panel.rows.count())]
    assert [(row.key.text(), row.button.text()) for row in rows] == [("1", "first"),
                                                                    ("2", "second")]
    grid = window.library_view.grid
    window.activateWindow()
    grid.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow() and grid.hasFocus())
    chosen = _ids(window, photo_folder, 2, 0, 1)
    window.context.set_selection(chosen)
    with qtbot.waitSignal(window.context.labels_changed):
        qtbot.keyClick(grid, Qt.Key.Key_2)
    store = LabelStore(window.context.library.catalog)
    qtbot.waitUntil(lambda: panel.labels[1].count == 2)  # the panel read the change back
    second = panel.labels[1]
    assert store.photos_with(second.id) == sorted(chosen) and second.count == 2
    model = window.library_view.model
    qtbot.waitUntil(lambda: model.data(model.index(model.row_of(chosen[0]), 0), Roles.BADGE)
                    == "second")

    panel.filter_box.setCurrentIndex(panel.filter_box.findData(second.id))
    panel.filter_box.activated.emit(panel.filter_box.currentIndex())
    qtbot.waitUntil(lambda: window.context.query is not None)
    assert sorted(h.photo_id for h in window.context.query.hits) == sorted(chosen)
    assert sorted(model.ids()) == sorted(chosen)
    # Labels changed elsewhere (an import): the filter stays, the grid and its count follow.
    more = _ids(window, photo_folder, 3, 0)
    store.assign(second.id, more)
    window.context.labels_changed.emit()
    qtbot.waitUntil(lambda: panel.filter_box.currentText() == "Show second (3)")
    assert panel.filter_box.currentData() == second.id
    qtbot.waitUntil(lambda: sorted(model.ids()) == sorted([*chosen, *more]))
    assert window.library_view.count_label.text() == "3 labelled"
    panel.filter_by(None)
    assert window.context.query is None


def test_train_then_accept_and_reject_suggestions(open_window: OpenWindow, qtbot: QtBot,
                                                  photo_folder: PhotoFolder,
                                                  catalog_copy: Path) -> None:
    window, panel = _open(open_window, qtbot, photo_folder, catalog_copy)
    _new_set(qtbot, panel, "Scene", *(f"scene {scene}" for scene in range(3)))
    for scene in range(3):
        window.context.set_selection(_ids(window, photo_folder, scene, 0, 1))
        panel.apply(scene)
        qtbot.waitUntil(lambda scene=scene: panel.labels[scene].count == 2)
    with qtbot.waitSignal(panel.trained, timeout=120_000) as trained:
        panel.train_box.train_button.click()
    assert trained.args[0].examples == 6
    assert "accuracy" in panel.train_box.figures.text()

    qtbot.waitUntil(panel.review_button.isEnabled, timeout=30_000)  # training job ended
    with qtbot.waitSignal(panel.suggestions_changed, timeout=30_000) as shown:
        panel.review_button.click()
    badges, order = shown.args
    assert len(order) == 24 - 6 and set(badges) == set(order)
    assert window.library_view.model.ids() == order
    first = order[0]
    assert window.context.selection == [first]
    assert panel.accept_key.isEnabled() and panel.accept_key.key().toString() == "A"
    suggested = next(s for s in panel.review.queue if s.photo_id == first)
    count = window.library_view.count_label
    assert count.text() == f"{len(order)} to review"
    panel.accept_button.click()
    assert count.text() == f"{len(order) - 1} to review"  # the header counts as the panel
    store = LabelStore(window.context.library.catalog)

    def accepted() -> list[tuple[int, bool]]:
        return [(a.label_id, a.positive) for a in store.assignments(panel.label_set.id)
                if a.source == SOURCE_ACCEPTED]

    qtbot.waitUntil(lambda: accepted() == [(suggested.label_id, True)])
    assert window.context.selection == [order[1]]
    assert window.library_view.model.data(window.library_view.model.index(0, 0),
                                          Roles.BADGE).startswith("✓")
    rejected = next(s for s in panel.review.queue if s.photo_id == order[1])
    assert panel.reject_key.key().toString() == "R"
    panel.reject_button.click()
    assert count.text() == f"{len(order) - 2} to review"
    qtbot.waitUntil(lambda: store.photos_with(rejected.label_id, positive=False) == [order[1]])
    qtbot.waitUntil(lambda: "Labels changed since training" in panel.train_box.status.text())

    window.actions.back_to_library.trigger()  # leaving the review ends it
    assert not panel.review.active and window.context.query is None
