"""The map view: points, clicks, rectangle and lasso selection, colours, highlights,
hover, 100,000 points, and the map of a real (generated, indexed) library."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from core.index import Hit
from core.library import Library
from core.map.clusters import PALETTE, in_polygon
from core.map.engine import MapEngine
from gui.context import AppContext, Query
from gui.map.export import ExportOptions
from gui.map.view import MapView

from .conftest import StallMeter

Left = Qt.MouseButton.LeftButton
NoButton = Qt.MouseButton.NoButton
NoModifier = Qt.KeyboardModifier.NoModifier


@pytest.fixture(autouse=True)
def every_mouse_move() -> Iterator[None]:
    """pyqtgraph drops mouse moves closer than 1/100 s; these tests send them at once."""
    rate = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", 0)
    yield
    pg.setConfigOption("mouseRateLimit", rate)


@pytest.fixture
def view(qtbot: QtBot) -> MapView:
    widget = MapView(AppContext(), warm_up_after_ms=None)
    qtbot.addWidget(widget)
    widget.resize(900, 640)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def grid_points(columns: int = 12, rows: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photo ids, positions on an integer grid, and 4 clusters (the grid's quadrants)."""
    gx, gy = np.meshgrid(np.arange(columns), np.arange(rows))
    xy = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
    clusters = ((xy[:, 0] >= columns / 2) * 2 + (xy[:, 1] >= rows / 2)).astype(np.int32)
    return np.arange(500, 500 + len(xy), dtype=np.int64), xy, clusters


def to_pixel(view: MapView, x: float, y: float) -> QPointF:
    scene = view.view_box.mapViewToScene(QPointF(x, y))
    return QPointF(view.plot.mapFromScene(scene))


def send(view: MapView, kind: QEvent.Type, at: QPointF, button: Qt.MouseButton,
         buttons: Qt.MouseButton, modifiers: Qt.KeyboardModifier = NoModifier) -> None:
    target = view.plot.viewport()
    event = QMouseEvent(kind, at, target.mapToGlobal(at), button, buttons, modifiers)
    QApplication.sendEvent(target, event)


def drag(view: MapView, path: Sequence[tuple[float, float]],
         modifiers: Qt.KeyboardModifier = NoModifier) -> None:
    """Press at path[0], move through every point of ``path`` (in map units), release."""
    pixels = [to_pixel(view, x, y) for x, y in path]
    send(view, QEvent.Type.MouseButtonPress, pixels[0], Left, Left, modifiers)
    for a, b in itertools.pairwise(pixels):
        for t in np.linspace(0.2, 1.0, 5):
            send(view, QEvent.Type.MouseMove, a + (b - a) * float(t), NoButton, Left, modifiers)
    send(view, QEvent.Type.MouseButtonRelease, pixels[-1], Left, NoButton, modifiers)


def click(view: MapView, x: float, y: float) -> None:
    at = to_pixel(view, x, y)
    send(view, QEvent.Type.MouseButtonPress, at, Left, Left)
    send(view, QEvent.Type.MouseButtonRelease, at, Left, NoButton)


def set_mode(view: MapView, mode: str) -> None:
    button = next(b for b in view.mode_buttons.buttons() if b.property("mode") == mode)
    button.click()
    assert view.view_box.mode == mode


def test_shows_every_point_with_a_cluster_legend(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    assert len(view.scatter.x) == len(ids) == 120
    assert view.colour_combo.currentText() == "Cluster"
    assert view.legend.texts() == [f"Cluster {k + 1}  (30)" for k in range(4)]


def test_a_click_selects_that_photo(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    click(view, 7, 3)
    photo = int(ids[(xy[:, 0] == 7) & (xy[:, 1] == 3)][0])
    assert view.context.selection == [photo] and view.context.current == photo
    click(view, 5.5, 4.5)  # between points: clears the selection
    assert view.context.selection == []


def test_rectangle_selection_selects_the_photos_inside(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    set_mode(view, "rect")
    drag(view, [(1.5, 2.5), (4.5, 6.5)])
    inside = (xy[:, 0] > 1.5) & (xy[:, 0] < 4.5) & (xy[:, 1] > 2.5) & (xy[:, 1] < 6.5)
    assert sorted(view.context.selection) == sorted(ids[inside].tolist())
    assert len(view.context.selection) == 12
    set_mode(view, "pan")  # Shift+drag draws a rectangle too
    drag(view, [(8.5, 0.5), (10.5, 1.5)], Qt.KeyboardModifier.ShiftModifier)
    assert len(view.context.selection) == 2


def test_lasso_selection_selects_the_photos_inside(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    set_mode(view, "lasso")
    triangle = [(0.5, 0.5), (9.0, 0.5), (0.5, 9.0), (0.5, 0.6)]
    drag(view, triangle)
    expected = ids[in_polygon(xy, np.array(triangle))].tolist()
    assert len(expected) == 36
    assert sorted(view.context.selection) == sorted(expected)


def _pixel_colour(view: MapView, x: float, y: float) -> QColor:
    image = view.plot.grab().toImage()
    return image.pixelColor(to_pixel(view, x, y).toPoint())


def test_colouring_by_cluster_changes_the_colours(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy)  # no clusters yet (the instant preview): all one grey
    assert set(view.scatter.colour.tolist()) == {0}
    grey = _pixel_colour(view, 1, 1)
    view.set_points(ids, xy, clusters)
    assert view.scatter.colour.tolist() == (clusters + 1).tolist()
    for x, y, cluster in ((1, 1, 0), (10, 8, 3)):
        colour = _pixel_colour(view, x, y)
        expected = PALETTE[cluster]
        assert abs(colour.red() - expected[0]) + abs(colour.green() - expected[1]) \
            + abs(colour.blue() - expected[2]) < 30, (colour.getRgb(), expected)
    assert _pixel_colour(view, 1, 1) != grey


def test_selection_and_query_follow_the_context(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    view.context.set_selection([int(i) for i in ids[:5]])
    assert len(view.selected_item.x) == 5
    query = Query(positives=(int(ids[0]),), hits=tuple(Hit(int(i), 0.9) for i in ids[1:4]))
    view.context.set_query(query)
    assert len(view.query_item.x) == 4
    view.context.set_query(None)
    view.context.set_selection([])
    assert len(view.query_item.x) == len(view.selected_item.x) == 0


def test_legend_entry_selects_its_cluster(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    view.legend.entries.itemClicked.emit(view.legend.entries.item(2))
    assert sorted(view.context.selection) == sorted(ids[clusters == 2].tolist())


def test_hover_shows_a_card_for_the_point(view: MapView, qtbot: QtBot) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    send(view, QEvent.Type.MouseMove, to_pixel(view, 3, 4), NoButton, NoButton)
    photo = int(ids[(xy[:, 0] == 3) & (xy[:, 1] == 4)][0])
    hover = view.overlays.hover
    qtbot.waitUntil(lambda: hover.isVisible() and hover.photo_id == photo)


def test_hover_card_stays_inside_the_view_at_its_edges(view: MapView, qtbot: QtBot) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    hover, plot = view.overlays.hover, view.plot
    bounds = plot.mapFromScene(view.view_box.sceneBoundingRect()).boundingRect()
    for x, y in ((11, 0), (0, 9), (11, 9), (0, 0)):  # right, top, a corner, bottom left
        send(view, QEvent.Type.MouseMove, to_pixel(view, x, y), NoButton, NoButton)
        photo = int(ids[(xy[:, 0] == x) & (xy[:, 1] == y)][0])
        qtbot.waitUntil(lambda photo=photo: hover.photo_id == photo and hover.isVisible())
        card = hover.deviceTransform(plot.viewportTransform()).mapRect(hover.rect())
        assert bounds.contains(card.toRect()), (x, y, card, bounds)


def test_fit_all_selected_count_and_no_bare_auto_button(view: MapView) -> None:
    ids, xy, clusters = grid_points()
    view.set_points(ids, xy, clusters)
    assert not view.plot.getPlotItem().autoBtn.isVisible()  # pyqtgraph's "A"
    view.view_box.scaleBy((0.1, 0.1))
    (x0, x1), _ = view.view_box.viewRange()
    assert x1 - x0 < 3
    view.fit_button.click()
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert x0 <= 0 and x1 >= 11 and y0 <= 0 and y1 >= 9
    view.context.set_selection([int(i) for i in ids[:7]])
    assert view.selected_label.text() == "7 selected"


def thumbnail_rects(view: MapView) -> list:
    """Each shown thumbnail's rectangle on screen (the frames ignore the view's zoom, so
    their scene rectangles say nothing of what covers what)."""
    to_view = view.plot.viewportTransform()
    return [frame.deviceTransform(to_view).mapRect(frame.boundingRect())
            for frame in view.overlays.thumbnails.shown.values()]


def overlapping(rects: list) -> int:
    return sum(1 for a, b in itertools.combinations(rects, 2) if a.intersects(b))


def test_stays_responsive_with_100000_points(view: MapView) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (40, 2))
    clusters = rng.integers(0, 40, 100_000).astype(np.int32)
    xy = (centres[clusters] + rng.normal(0, 1, (100_000, 2))).astype(np.float32)
    ids = np.arange(1, 100_001, dtype=np.int64)
    start = time.perf_counter()
    view.set_points(ids, xy, clusters)
    view.plot.grab()  # one full paint
    assert time.perf_counter() - start < 3.0  # ~0.15 s here; generous for loaded machines
    start = time.perf_counter()
    view.context.set_selection([int(i) for i in ids[::7]])
    click(view, float(xy[5, 0]), float(xy[5, 1]))
    view.plot.grab()
    assert time.perf_counter() - start < 3.0
    assert len(view.context.selection) == 1


def test_many_points_are_thinned_once_a_zoom_and_panning_reuses_it(view: MapView) -> None:
    """Above DEDUPE_ABOVE points a frame draws one dot a cell of a grid fixed to the map (the
    topmost): worked out at a zoom, kept while panning, made anew when zooming."""
    rng = np.random.default_rng(1)
    xy = rng.normal(0, 1, (120_000, 2)).astype(np.float32)
    view.set_points(np.arange(1, 120_001, dtype=np.int64), xy,
                    rng.integers(0, 4, 120_000).astype(np.int32))
    cloud = view.scatter
    (x0, x1), _ = view.view_box.viewRange()
    view.view_box.translateBy(x=(x1 - x0) * 0.1)  # the first pan ends the fit to the points
    view.plot.grab()
    thinned = cloud._thinned
    assert thinned is not None and 0 < len(thinned[1]) < len(xy) // 2
    assert 0 < cloud.drawn <= len(thinned[1])
    kept = set(zip(thinned[1].tolist(), thinned[2].tolist(), strict=True))  # real points
    assert kept <= set(zip(xy[:, 0].tolist(), xy[:, 1].tolist(), strict=True))
    (x0, x1), _ = view.view_box.viewRange()
    view.view_box.translateBy(x=(x1 - x0) * 0.1)
    view.plot.grab()
    assert cloud._thinned is thinned  # panning: the same thinned points
    view.view_box.scaleBy((0.5, 0.5))
    view.plot.grab()
    assert cloud._thinned is not thinned and len(cloud._thinned[1]) > len(thinned[1])


def test_map_of_an_indexed_library(qtbot: QtBot, catalog_copy: Path, photo_folder,
                                   tmp_path: Path, stall_meter: StallMeter,
                                   map_engine: MapEngine) -> None:
    context = AppContext(map_engine=map_engine)
    view = MapView(context, warm_up_after_ms=None)
    qtbot.addWidget(view)
    view.resize(900, 640)
    view.show()
    library = Library(photo_folder.root, catalog_path=catalog_copy, model="resnet50",
                      weights="none")
    stall_meter.start()
    with qtbot.waitSignal(view.map_shown, timeout=300_000,
                          check_params_cb=lambda result: result.how == "fitted"):
        context.set_library(library)
    stall_meter.stop()
    # PCA, numba's compile and UMAP run in the engine's child process: the GUI never waits.
    assert stall_meter.worst < 0.3
    n = sum(len(p) for p in photo_folder.scenes.values())
    assert len(view.scatter.x) == n
    qtbot.waitUntil(lambda: view.job is None and view.progress.isHidden(), timeout=30_000)
    assert "photos" in view.status.text()
    # A small library is all "in view" at once: its thumbnails replace the dots.
    qtbot.waitUntil(lambda: len(view.overlays.thumbnails.shown) == n, timeout=30_000)
    assert overlapping(thumbnail_rects(view)) == 0  # spread on a grid: none hides another
    view.fit_button.click()  # the legend may have filled in after the first range
    view.overlays.update_thumbnails()
    full = view.overlays.layout_side
    view.view_box.scaleBy((5, 5))  # zoomed well out: smaller thumbnails, still apart
    view.overlays.update_thumbnails()
    assert view.overlays.layout_side < full
    assert overlapping(thumbnail_rects(view)) == 0
    view.fit_button.click()
    view.overlays.update_thumbnails()
    assert view.overlays.layout_side == full
    assert view.export_png(tmp_path / "map.png") and (tmp_path / "map.png").stat().st_size
    whole = tmp_path / "whole.png"
    assert view.export_png(whole, ExportOptions(whole=True, legend=False, width=1200))
    qtbot.waitUntil(lambda: view.status.text().startswith("Map saved as"), timeout=30_000)
    with Image.open(whole) as image:
        assert image.size == (1200, 840)
    context.set_library(None)


def test_a_clip_is_a_point_per_kept_frame_linked_to_its_moment(view: MapView,
                                                               qtbot: QtBot) -> None:
    """A map with a clip (id 900) as three kept frames: each is a point; hovering one names
    its time, clicking one makes the clip current at that moment (the viewer opens there),
    and clicking a photo forgets the moment."""
    from core.map import MapParams, MapResult

    ids = np.array([500, 501, 900, 900, 900], dtype=np.int64)
    xy = np.array([[0, 0], [4, 0], [0, 4], [4, 4], [2, 2]], dtype=np.float32)
    times = np.array([np.nan, np.nan, 0.0, 3.0, 6.0])
    keys = np.array([500, 501, -1, -2, -3], dtype=np.int64)
    view.show_result(MapResult("m", ids, xy, np.full(5, -1, np.int32), (), MapParams(), 1,
                               "pca", "preview", times=times, keys=keys))
    assert len(view.scatter.x) == 5
    send(view, QEvent.Type.MouseMove, to_pixel(view, 4, 4), NoButton, NoButton)
    hover = view.overlays.hover
    qtbot.waitUntil(lambda: hover.isVisible() and hover.photo_id == 900)
    assert hover._text.text().endswith(" · 00:03")
    click(view, 4, 4)
    assert view.context.current == 900 and view.context.moment == (900, 3.0)
    assert view.context.selection == [900]
    click(view, 2, 2)
    assert view.context.moment == (900, 6.0)
    click(view, 4, 0)
    assert view.context.current == 501 and view.context.moment is None
