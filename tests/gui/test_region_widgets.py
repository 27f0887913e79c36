"""The viewer's region pieces on their own: the rubber band, the matched box, the heat map."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from pytestqt.qtbot import QtBot

from core.labels.localise import heat_grid, top_k_mean
from gui.regions import HeatOverlay, RegionOverlay, RegionSelector
from gui.viewer import ImageView

GREY = 128


def _view(qtbot: QtBot) -> ImageView:
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    image = QImage(400, 300, QImage.Format.Format_RGB888)
    image.fill(QColor(GREY, GREY, GREY))
    view.set_image(QPixmap.fromImage(image), 400)
    view.show()
    qtbot.waitExposed(view)
    view.fit()
    return view


def _on_screen(view: ImageView, x: float, y: float) -> QPoint:
    """The viewport point showing relative (x, y) of the photo."""
    pixmap = view.photo_item.pixmap()
    scene = view.photo_item.mapToScene(QPointF(x * pixmap.width(), y * pixmap.height()))
    return view.mapFromScene(scene)


def _pixel(view: ImageView, x: float, y: float) -> QColor:
    return view.viewport().grab().toImage().pixelColor(_on_screen(view, x, y))


def _drag(qtbot: QtBot, view: ImageView, a: tuple[float, float], b: tuple[float, float],
          modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    port = view.viewport()
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, modifier, _on_screen(view, *a))
    qtbot.mouseMove(port, _on_screen(view, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
    qtbot.mouseMove(port, _on_screen(view, *b))
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, modifier, _on_screen(view, *b))


def test_shift_drag_draws_a_region_and_a_plain_drag_pans(qtbot: QtBot) -> None:
    view = _view(qtbot)
    overlay = RegionOverlay(view.photo_item)
    selector = RegionSelector(view, overlay)
    _drag(qtbot, view, (0.2, 0.3), (0.6, 0.8))  # no Shift, tool off: the photo pans
    assert selector.box is None
    with qtbot.waitSignal(selector.selected) as drawn:
        _drag(qtbot, view, (0.6, 0.8), (0.2, 0.3), Qt.KeyboardModifier.ShiftModifier)
    box = drawn.args[0]
    assert np.allclose(box, (0.2, 0.3, 0.4, 0.5), atol=0.01)  # dragged up-left: normalised
    inside, outside = _pixel(view, 0.4, 0.55), _pixel(view, 0.05, 0.05)
    assert abs(inside.red() - GREY) <= 2  # the region stays clear...
    assert outside.red() < GREY - 30  # ...the rest of the photo is dimmed
    edge = _pixel(view, 0.2, 0.55)  # the band: white dashes over a dark edge
    assert abs(edge.red() - GREY) > 40

    selector.set_active(True)  # the tool: a plain drag selects too
    with qtbot.waitSignal(selector.selected) as drawn:
        _drag(qtbot, view, (0.5, 0.1), (0.9, 0.4))
    assert np.allclose(drawn.args[0], (0.5, 0.1, 0.4, 0.3), atol=0.01)
    with qtbot.waitSignal(selector.cleared):  # a click removes it
        _drag(qtbot, view, (0.5, 0.5), (0.5, 0.5))
    assert selector.box is None and abs(_pixel(view, 0.05, 0.05).red() - GREY) <= 2


def test_the_match_box_follows_the_pixmap(qtbot: QtBot) -> None:
    """A match box stays on the same part of the photo when the thumbnail is replaced by
    the full image (another pixel size)."""
    view = _view(qtbot)
    overlay = RegionOverlay(view.photo_item)
    view.image_changed.connect(overlay.relayout)
    overlay.set_match((0.5, 0.5, 0.25, 0.25))
    assert _pixel(view, 0.5, 0.6).red() > 200  # amber on the box's left edge
    big = QImage(1600, 1200, QImage.Format.Format_RGB888)
    big.fill(QColor(GREY, GREY, GREY))
    view.set_image(QPixmap.fromImage(big), 400)
    colour = _pixel(view, 0.5, 0.6)
    assert colour.red() > 200 and colour.blue() < 100
    assert abs(_pixel(view, 0.3, 0.6).red() - GREY) <= 2


def test_heat_map_is_hot_over_the_best_regions(qtbot: QtBot) -> None:
    boxes = np.array([[0, 0, 1, 1], [0, 0, 0.5, 0.5], [0.5, 0, 0.5, 0.5], [0, 0.5, 0.5, 0.5],
                      [0.5, 0.5, 0.5, 0.5], [0.6, 0.6, 0.3, 0.3]], np.float32)
    scores = np.array([0.3, 0.05, 0.05, 0.05, 0.8, 0.95], np.float32)
    heat = heat_grid(boxes, scores, 32, 0.75)
    assert heat.shape == (24, 32)
    assert heat[18, 24] > 0.75 > 0.2 > heat[3, 3]  # the object's corner vs the far one
    assert float(top_k_mean(scores, 2)) == np.float32((0.95 + 0.8) / 2)
    view = _view(qtbot)
    overlay = HeatOverlay(view.photo_item)
    overlay.show(heat)
    hot, cold = _pixel(view, 0.75, 0.75), _pixel(view, 0.1, 0.1)
    assert hot.red() > hot.blue() + 60 and hot.red() > GREY + 40  # red over the object
    assert abs(cold.red() - GREY) < 25  # nearly clear where the label is not
    overlay.show(None)
    assert abs(_pixel(view, 0.75, 0.75).red() - GREY) <= 2
