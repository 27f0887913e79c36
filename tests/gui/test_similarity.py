"""'My similarity' in the search bar: judge results with buttons and keys, learn, rank by it,
switch back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QToolButton
from pytestqt.qtbot import QtBot

from core.similarity import JudgementStore
from gui.grid import Roles
from gui.grid.delegate import NOT_SIMILAR, SIMILAR, ThumbnailDelegate
from gui.main_window import MainWindow

from .conftest import OpenWindow, PhotoFolder, open_indexed, wait_indexed

# The user's notion of alike pairs the scenes: 0 with 1, 2 with 3, 4 with 5.
PARTNER = {0: 1, 1: 0, 2: 3, 3: 2, 4: 5, 5: 4}


def _ids(window: MainWindow, paths: list[Path]) -> list[int]:
    library = window.context.library
    assert library is not None
    return [library.photo_at(p).id for p in paths]


def _shown_ids(window: MainWindow) -> list[int]:
    model = window.library_view.model
    return [model.index(r, 0).data(Roles.ID) for r in range(model.rowCount())]


def _partner_rank(window: MainWindow, partner_ids: set[int]) -> float:
    """Mean position of the partner scene's photos among the results."""
    shown = _shown_ids(window)[1:]
    return float(np.mean([shown.index(i) for i in partner_ids]))


def test_judgements_learn_and_my_similarity_changes_the_ranking(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    bar = window.similarity
    scenes = {int(name[-1]): _ids(window, paths)
              for name, paths in sorted(photo_folder.scenes.items())}
    query = scenes[2][0]
    window.context.set_selection([query])
    window.actions.find_similar.trigger()
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)
    base_order = _shown_ids(window)
    base_rank = _partner_rank(window, set(scenes[3]))

    # Results judged with the tile buttons and keys: scene 3 is like the query, 0 is not.
    similar_button = next(b for b in bar.findChildren(QToolButton)
                          if b.defaultAction() is bar.mark_similar)
    assert not similar_button.isEnabled()  # nothing selected but the query
    window.context.set_selection(scenes[3][:2])
    assert similar_button.isEnabled()
    qtbot.mouseClick(similar_button, Qt.MouseButton.LeftButton)
    store = JudgementStore(window.context.library.catalog)
    qtbot.waitUntil(lambda: store.counts().similar == 2, timeout=10_000)
    window.context.set_selection(scenes[0][:2])
    menu = [a.text() for a in window.library_view.context_menu().actions()]
    assert menu[2:4] == ["✓ Similar", "✗ Not Similar"]  # right-click a tile: the same
    window.library_view.grid.setFocus()
    qtbot.keyClick(window.library_view.grid, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: store.counts().not_similar == 2, timeout=10_000)
    assert store.of_photo(query) == {**dict.fromkeys(scenes[3][:2], True),
                                     **dict.fromkeys(scenes[0][:2], False)}
    # "Not like this" is a judgement too.
    window.context.set_selection(scenes[5][:1])
    window.actions.not_like.trigger()
    qtbot.waitUntil(lambda: store.counts().not_similar == 3, timeout=10_000)
    qtbot.waitUntil(lambda: window.context.query.negatives != (), timeout=10_000)
    window.actions.back.trigger()  # the plain query again
    assert _shown_ids(window) == base_order
    # More judgements, as a user would go on giving them, for every scene.
    for scene, ids in scenes.items():
        others = [i for s, v in scenes.items() if s not in (scene, PARTNER[scene]) for i in v]
        for q in ids[:2]:
            store.judge(q, scenes[PARTNER[scene]], others[::3])

    box = bar.findChild(QComboBox, "similarityBox")
    assert box.currentData() is None and box.count() == 1
    with qtbot.waitSignal(bar.learnt, timeout=60_000):
        bar.learn.trigger()
    qtbot.waitUntil(lambda: box.currentData() == "mine", timeout=10_000)
    qtbot.waitUntil(lambda: window.library_view.title.text().endswith(" · mine"),
                    timeout=20_000)
    assert "held-out triplets ordered correctly" in bar.summary.toolTip()
    assert "% → " in bar.summary.text()
    learnt_order = _shown_ids(window)
    assert learnt_order != base_order and learnt_order[0] == query
    assert _partner_rank(window, set(scenes[3])) < base_rank - 2

    # A new judgement retrains the similarity in use (after a pause, here a short one).
    bar._retrain.setInterval(50)
    window.context.set_selection(scenes[3][2:3])
    with qtbot.waitSignal(bar.learnt, timeout=60_000) as retrained:
        bar.mark_similar.trigger()
    assert retrained.args[0].version == 2

    # Switching back to the embedding's own similarity gives the base ranking again.
    box.setCurrentIndex(box.findData(None))
    qtbot.waitUntil(lambda: "mine" not in window.library_view.title.text(), timeout=10_000)
    assert _shown_ids(window) == base_order


def _button(window: MainWindow, photo_id: int, similar: bool) -> QPoint:
    """The centre of a tile's judgement button (the tile scrolled into view)."""
    grid = window.library_view.grid
    index = grid.photo_model().index(grid.photo_model().row_of(photo_id), 0)
    grid.scrollTo(index)
    delegate = grid.itemDelegate()
    assert isinstance(delegate, ThumbnailDelegate)
    return delegate.judge_buttons(delegate.image_rect(grid.visualRect(index), photo_id))[
        similar].center()


def _frame_colour(window: MainWindow, photo_id: int) -> QColor:
    """The colour on screen at the left edge of a tile's photo (its judgement frame)."""
    grid = window.library_view.grid
    index = grid.photo_model().index(grid.photo_model().row_of(photo_id), 0)
    delegate = grid.itemDelegate()
    assert isinstance(delegate, ThumbnailDelegate)
    rect = delegate.image_rect(grid.visualRect(index), photo_id)
    return grid.viewport().grab().toImage().pixelColor(rect.left() + 1, rect.center().y())


def test_judgement_buttons_on_the_tiles(open_window: OpenWindow, qtbot: QtBot,
                                        photo_folder: PhotoFolder, catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    grid = window.library_view.grid
    scenes = {int(name[-1]): _ids(window, paths)
              for name, paths in sorted(photo_folder.scenes.items())}
    liked, unliked = scenes[3][1], scenes[0][2]
    assert grid.judge_button_at(QPoint(20, 20)) is None  # no query: no buttons
    query = scenes[2][0]
    window.context.set_selection([query])
    window.actions.find_similar.trigger()
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)
    qtbot.waitUntil(lambda: grid.itemDelegate().judging, timeout=10_000)
    store = JudgementStore(window.context.library.catalog)
    model = grid.photo_model()
    normal = _frame_colour(window, liked)

    # "More like this" clicked on one tile, "not like this" on another.
    pos = _button(window, liked, True)
    assert grid.judge_button_at(pos) == (liked, True)
    qtbot.mouseMove(grid.viewport(), pos)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: store.of_photo(query) == {liked: True}, timeout=10_000)
    qtbot.waitUntil(lambda: model.judgement(liked) is True, timeout=10_000)
    assert window.context.selection == [query]  # a button selects nothing
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=_button(window, unliked, False))
    qtbot.waitUntil(lambda: store.of_photo(query) == {liked: True, unliked: False},
                    timeout=10_000)
    qtbot.waitUntil(lambda: model.judgement(unliked) is False, timeout=10_000)
    # Judged tiles show it, hovered or not: a green or red frame.
    qtbot.mouseMove(grid.viewport(), QPoint(1, 1))
    assert _frame_colour(window, liked) == SIMILAR != normal
    assert _frame_colour(window, unliked) == NOT_SIMILAR
    # The same button again takes the mark back; the query's own tile has no buttons.
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=_button(window, liked, True))
    qtbot.waitUntil(lambda: store.of_photo(query) == {unliked: False}, timeout=10_000)
    qtbot.waitUntil(lambda: model.judgement(liked) is None, timeout=10_000)
    query_tile = grid.visualRect(model.index(model.row_of(query), 0))
    assert grid.judge_button_at(query_tile.bottomLeft() + QPoint(15, -15)) is None
    # Another query shows its own marks; the plain listing has no buttons.
    window.context.set_selection([liked])
    window.actions.find_similar.trigger()
    qtbot.waitUntil(lambda: window.context.query.positives == (liked,), timeout=10_000)
    qtbot.waitUntil(lambda: model.judgement(unliked) is None, timeout=10_000)
    window.actions.back_to_library.trigger()
    qtbot.waitUntil(lambda: not grid.itemDelegate().judging, timeout=10_000)


def test_finetuning_runs_in_the_background_then_searches_with_it(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"
    window = open_window(str(photo_folder.root), "--catalog", str(catalog),
                         "--model", "mobilenet_v3_small", "--weights", "none")
    wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 24)
    old_key = window.context.library.model_key
    scenes = [_ids(window, paths) for _name, paths in sorted(photo_folder.scenes.items())]
    store = JudgementStore(window.context.library.catalog)
    for k, ids in enumerate(scenes):
        store.judge(ids[0], ids[1:], [other[0] for other in scenes if other is not ids][k % 2::2])
    window.similarity.finetune.trigger()  # Search > Fine-Tune the Network…
    dialog = window.similarity.finetune_dialog
    assert dialog is not None and dialog.isVisible()

    # A long run shows its progress and time left; Cancel stops it, a checkpoint kept.
    dialog.steps.setValue(500)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: " left" in dialog.status.text(), timeout=60_000)
    assert dialog.bar.maximum() == 500 and dialog.bar.value() >= 1
    assert "step " in dialog.status.text()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=30_000)
    assert dialog.status.text().startswith("Cancelled")
    assert not dialog.use_button.isEnabled()
    assert len(list((tmp_path / "models").glob("finetune-*.ckpt"))) == 1

    # A short run gives its figures, then "Search With It" embeds the library and uses it.
    dialog.steps.setValue(3)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.use_button.isEnabled, timeout=60_000)
    assert dialog.status.text().startswith("Fine-tuned for 3 steps on cpu")
    assert "frozen" in dialog.status.text()
    weights = dialog.weights
    assert weights is not None and weights.exists()
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.context.library is not None
                    and window.context.library.model_key != old_key, timeout=60_000)
    wait_indexed(qtbot, window)
    library = window.context.library
    assert Path(library.weights) == weights
    assert library.catalog.embedded_count(library.model_key) == 24
    assert library.catalog.embedded_count(old_key) == 24  # the old vectors are still there
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 24)
    window.context.set_selection([scenes[0][0]])
    window.actions.find_similar.trigger()
    qtbot.waitUntil(lambda: window.context.query is not None
                    and window.library_view.model.rowCount() == 24, timeout=10_000)
