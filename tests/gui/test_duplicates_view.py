"""The Duplicates view, driven with keys and the wheel: find, compare in sync, pick, reject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import ImageFilter
from PySide6.QtCore import QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from benchmarks import synthetic
from core.duplicates import PICK, REJECT, decisions
from core.jobs import run
from core.library import Library
from gui.context import AppContext
from gui.duplicates import DuplicatesView
from gui.duplicates.strip import THUMB

CAMERA = {"Make": "Canon", "Model": "Canon EOS 40D"}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A sharp photo, its blurred copy and a half-size copy, a two-frame burst and an
    unrelated photo."""
    tmp_path = tmp_path_factory.mktemp("dupview")
    root = tmp_path / "photos"
    sharp = synthetic.scene(88, (800, 600))
    synthetic.write_jpeg(root / "a/sharp.jpg", sharp, quality=95)
    synthetic.write_jpeg(root / "a/blurred.jpg", sharp.filter(ImageFilter.GaussianBlur(3)))
    synthetic.write_jpeg(root / "a/small.jpg", sharp.resize((400, 300)), quality=80)
    big = synthetic.scene(77, (960, 720))
    for k, sub in enumerate(["10", "60"]):
        synthetic.write_jpeg(root / "b" / f"IMG_{k}.jpg",
                             big.crop((100 + 8 * k, 80, 740 + 8 * k, 560)),
                             exif={**CAMERA, "DateTimeOriginal": "2021:05:01 10:00:00",
                                   0x9291: sub})
    synthetic.write_jpeg(root / "c/other.jpg", synthetic.scene(5))
    with Library(root, catalog_path=tmp_path / "c.sqlite", model="mobilenet_v3_small",
                 weights="none") as library:
        run(library.index())
    return root, tmp_path / "c.sqlite"


@pytest.fixture
def unsearched(qtbot: QtBot, indexed: tuple[Path, Path]) -> Iterator[DuplicatesView]:
    """The view on the indexed library, before Find duplicates."""
    library = Library(indexed[0], catalog_path=indexed[1], model="mobilenet_v3_small",
                      weights="none")
    context = AppContext()
    context.set_library(library)
    widget = DuplicatesView(context)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    yield widget
    context.workers.stop_all()
    library.close()


@pytest.fixture
def view(qtbot: QtBot, unsearched: DuplicatesView) -> DuplicatesView:
    qtbot.mouseClick(unsearched.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: unsearched.group_list.count() == 2, timeout=60_000)
    return unsearched


def _loaded(view: DuplicatesView) -> bool:
    return view._images[0] is not None and not view.pair.left.scene().sceneRect().isEmpty()


def test_groups_are_listed_with_their_kinds_and_shown_side_by_side(view: DuplicatesView,
                                                                   qtbot: QtBot) -> None:
    texts = {view.group_list.item(i).text() for i in range(view.group_list.count())}
    assert any("burst" in t for t in texts) and any("re-encode" in t for t in texts)
    qtbot.waitUntil(lambda: _loaded(view), timeout=20_000)
    left, right = (c.text() for c in view.captions)
    assert "MB" in left and "×" in left and ("PICK" in left or "PICK" in right)


def test_the_strip_shows_the_whole_group_marks_the_pick_and_compares_a_click(
        view: DuplicatesView, qtbot: QtBot) -> None:
    """(Before the keys' test: the group is still as proposed.)"""
    row, group = next((n, g) for n, g in enumerate(view.groups) if len(g.photos) == 3)
    view.group_list.setCurrentRow(row)
    strip = view.strip
    assert strip.count() == 3
    qtbot.waitUntil(lambda: len(strip.images) == 3, timeout=20_000)  # every thumbnail
    ids = [p.id for p in group.photos]
    picked = [n for n in range(3) if "PICK" in strip.item(n).text()]
    assert [ids[n] for n in picked] == [group.pick]
    assert all("reject" in strip.item(n).text() for n in range(3) if n not in picked)
    frame = strip.item(picked[0]).icon().pixmap(QSize(THUMB, THUMB)).toImage().pixelColor(
        1, THUMB // 2)
    assert frame.green() > 120 and frame.red() < 90  # the pick is framed in green
    reject = next(n for n in range(3) if ids[n] not in view.sides())  # not compared yet
    assert not strip.item(reject).isSelected()
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton,
                     pos=strip.visualItemRect(strip.item(reject)).center())
    assert set(view.sides()) == {ids[reject], group.pick}  # beside the pick
    assert [n for n in range(3) if strip.item(n).isSelected()] == sorted([reject, picked[0]])
    names = {p.id: p.path.name for p in group.photos}
    assert names[ids[reject]] in view.captions[0].text()
    assert names[group.pick] in view.captions[1].text()
    qtbot.waitUntil(lambda: _loaded(view), timeout=20_000)


def test_zoom_and_pan_follow_on_the_other_side(view: DuplicatesView, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: _loaded(view), timeout=20_000)
    left, right = view.pair.left, view.pair.right
    centre = QPointF(left.viewport().rect().center())
    for _ in range(3):
        event = QWheelEvent(centre, left.viewport().mapToGlobal(centre), QPoint(0, 0),
                            QPoint(0, 120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(left.viewport(), event)
    assert left.zoom == pytest.approx(1.25 ** 3)
    assert right.zoom == left.zoom
    left.horizontalScrollBar().setValue(left.horizontalScrollBar().maximum())
    assert right.centre()[0] == pytest.approx(left.centre()[0], abs=5)
    assert right.horizontalScrollBar().value() > 0


def test_keys_pick_reject_step_and_swap(view: DuplicatesView, qtbot: QtBot) -> None:
    catalog = view.context.library.catalog
    view.setFocus()
    first = view.group
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.group is not first and view.group_row == 1
    qtbot.keyClick(view, Qt.Key.Key_Up)
    group = view.group
    before = view.sides()
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert view.sides() == (before[1], before[0])
    qtbot.keyClick(view, Qt.Key.Key_Space)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    current = view.sides()[0]
    assert current != before[0]
    qtbot.keyClick(view, Qt.Key.Key_P)
    hashes = {p.id: p.content_hash for p in group.photos}
    qtbot.waitUntil(lambda: decisions(catalog, hashes.values()).get(hashes[current])
                    is not None and decisions(catalog, hashes.values())[hashes[current]]
                    .decision == PICK, timeout=10_000)
    assert view.group.decided and view.group.pick == current
    assert "decided" in view.group_list.item(view.group_row).text()
    qtbot.keyClick(view, Qt.Key.Key_X)
    qtbot.waitUntil(lambda: decisions(catalog, [hashes[current]])[hashes[current]].decision
                    == REJECT, timeout=10_000)


def test_the_difference_overlay_shows_what_differs(view: DuplicatesView, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: _loaded(view), timeout=20_000)
    view.diff_box.setChecked(True)
    image = view.pair.right._item.pixmap().toImage()
    assert not image.isNull()
    # mostly dark: the two photos are alike
    sample = [image.pixelColor(x, y).lightness() for x in range(0, image.width(), 37)
              for y in range(0, image.height(), 37)]
    assert sum(sample) / len(sample) < 100


def test_learning_taste_needs_decisions_and_says_so(view: DuplicatesView, qtbot: QtBot) -> None:
    qtbot.mouseClick(view.taste_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "decide at least" in view.summary.text(), timeout=20_000)
    assert view.taste is None and view.taste_button.isEnabled()



def test_an_explanation_stands_where_no_group_is_to_show(qtbot: QtBot,
                                                         unsearched: DuplicatesView) -> None:
    """Before a search, and when a search finds nothing, the view explains itself instead of
    showing an empty list and two black panes."""
    view = unsearched
    assert view.pages.currentWidget() is view.intro and "Find duplicates" in view.intro.text()
    assert not view.pair.isVisible()
    view.kind_box.setCurrentText("same scene")  # none in this library: all are closer
    qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "No duplicates among 6 photos" in view.intro.text(), timeout=60_000)
    assert view.pages.currentWidget() is view.intro and view.group_list.count() == 0
    view.kind_box.setCurrentIndex(0)  # all kinds: the groups and the pair
    qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.group_list.count() == 2, timeout=60_000)
    assert view.pages.currentIndex() == 1 and view.pair.isVisible()
    view.context.set_library(view.context.library)  # (another) library: the explanation again
    assert view.pages.currentWidget() is view.intro and "Find duplicates" in view.intro.text()
