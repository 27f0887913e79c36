"""Find this region, end to end: drag over the object in the viewer, find it, see the matched
boxes on the grid's tiles and in the viewer (an EXIF-rotated photo included), and the heat map
of a trained label over the photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from core.regions import iou
from gui.grid.delegate import ACCENT, MATCH_BOX
from gui.grid.model import Roles
from gui.main_window import MainWindow
from gui.viewer import ImageView, ViewerWindow
from tests.gui.conftest import OpenWindow, wait_indexed
from tests.pasted import MODEL, PastedCatalog

Box = tuple[float, float, float, float]
YELLOW = QColor(250, 210, 0)  # the middle of the pasted object


def _on_screen(view: ImageView, x: float, y: float) -> QPoint:
    pixmap = view.photo_item.pixmap()
    scene = view.photo_item.mapToScene(QPointF(x * pixmap.width(), y * pixmap.height()))
    return view.mapFromScene(scene)


def _near(image: QImage, point: QPoint, colour: QColor, reach: int = 2) -> bool:
    """Whether a pixel within ``reach`` of ``point`` has about ``colour``."""
    for dx in range(-reach, reach + 1):
        for dy in range(-reach, reach + 1):
            c = image.pixelColor(point.x() + dx, point.y() + dy)
            if max(abs(c.red() - colour.red()), abs(c.green() - colour.green()),
                   abs(c.blue() - colour.blue())) < 20:
                return True
    return False


def _open_viewer(qtbot: QtBot, window: MainWindow, photo_id: int) -> ViewerWindow:
    viewer = window.open_viewer(photo_id)  # deleted on close, with the window at the latest
    assert viewer is not None
    qtbot.waitExposed(viewer)
    qtbot.waitUntil(lambda: viewer.loaded_id == photo_id, timeout=20_000)
    return viewer


def _tile_point(window: MainWindow, photo_id: int, x: float, y: float) -> QPoint:
    """Where relative (x, y) of the photo is painted on its tile."""
    view = window.library_view
    cell = view.grid.visualRect(view.model.index(view.model.row_of(photo_id), 0))
    rect = view.delegate.image_rect(cell, photo_id)
    return QPoint(round(rect.left() + x * rect.width()), round(rect.top() + y * rect.height()))


def test_find_this_region_boxes_the_matches(open_window: OpenWindow, qtbot: QtBot,
                                            pasted_catalog: PastedCatalog,
                                            tmp_path: Path) -> None:
    photos = pasted_catalog.photos
    window = open_window(str(photos.root), "--catalog", str(pasted_catalog.copy(tmp_path)),
                         "--model", MODEL, "--weights", "default")  # as indexed
    wait_indexed(qtbot, window)
    n = len(photos.objects) + len(photos.plain)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == n)
    library = window.context.library
    assert library is not None
    rotated = photos.rotated  # stored turned, tagged EXIF Orientation 6
    query_id = library.photo_at(rotated).id
    viewer = _open_viewer(qtbot, window, query_id)
    x, y, w, h = photos.objects[rotated]  # where the object is on the upright photo
    centre = (x + w / 2, y + h / 2)
    shot = viewer.view.viewport().grab().toImage()
    assert _near(shot, _on_screen(viewer.view, *centre), YELLOW)  # shown upright

    port = viewer.view.viewport()  # Shift+drag around the object
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, shift, _on_screen(viewer.view, x, y))
    qtbot.mouseMove(port, _on_screen(viewer.view, *centre))
    qtbot.mouseMove(port, _on_screen(viewer.view, x + w, y + h))
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, shift,
                       _on_screen(viewer.view, x + w, y + h))
    assert np.allclose(viewer.regions.box, (x, y, w, h), atol=0.01)
    assert viewer.regions.find_action.isEnabled()
    viewer.regions.find_action.trigger()
    qtbot.waitUntil(lambda: window.context.query is not None
                    and window.context.query.region is not None, timeout=120_000)

    query = window.context.query
    top = [library.catalog.photo(hit.photo_id).path for hit in query.hits[:3]]
    assert set(top) <= set(photos.objects) - {rotated}  # photos with the object come first
    best = query.hits[0]
    assert best.box is not None and iou(best.box, photos.objects[top[0]]) > 0.1
    ox, oy, ow, oh = photos.objects[top[0]]  # the matched box holds the object's middle
    assert best.box[0] < ox + ow / 2 < best.box[0] + best.box[2]
    assert best.box[1] < oy + oh / 2 < best.box[1] + best.box[3]
    model = window.library_view.model
    assert model.ids()[0] == query_id  # the query, pinned, with its own region
    assert model.data(model.index(0, 0), Roles.BOX) == viewer.regions.box
    for hit in query.hits:
        assert model.data(model.index(model.row_of(hit.photo_id), 0), Roles.BOX) == hit.box

    # the tiles: the query's region on the rotated photo's upright thumbnail, the match box
    # on the best hit's
    cache = window.library_view.cache
    qtbot.waitUntil(lambda: cache.image(query_id) is not None
                    and cache.image(best.photo_id) is not None, timeout=20_000)
    grid = window.library_view.grid
    qtbot.waitUntil(lambda: _near(grid.viewport().grab().toImage(),
                                  _tile_point(window, query_id, x, y + h / 2), ACCENT))
    shot = grid.viewport().grab().toImage()
    assert _near(shot, _tile_point(window, query_id, *centre), YELLOW)
    bx, by, bw, bh = best.box
    assert _near(shot, _tile_point(window, best.photo_id, bx, by + bh / 2), MATCH_BOX)
    assert not _near(shot, _tile_point(window, best.photo_id, bx + bw / 2, by + bh / 2),
                     MATCH_BOX)

    # opening the best hit: the viewer boxes the match; the heat map of "object" lands on it
    result = _open_viewer(qtbot, window, best.photo_id)
    assert result.regions.overlay.match == best.box
    shot = result.view.viewport().grab().toImage()
    assert _near(shot, _on_screen(result.view, bx, by + bh / 2), MATCH_BOX)

    result.regions.heat_action.setChecked(True)
    assert result.regions.heat.choose(_label_id(library, "object"))
    qtbot.waitUntil(lambda: result.regions.heat.best is not None, timeout=20_000)
    hot = result.regions.heat_overlay.colour_at(ox + ow / 2, oy + oh / 2)
    far = (0.25 if ox > 0.4 else 0.75, 0.8 if oy < 0.4 else 0.15)
    cold = result.regions.heat_overlay.colour_at(*far)
    assert hot.red() > hot.blue() and hot.alpha() > cold.alpha() + 40, (hot, cold)
    assert result.regions.heat_overlay.item.isVisible()
    assert "best region" in result.regions.note.text()


def _label_id(library, name: str) -> int:
    from core.labels import LabelStore

    store = LabelStore(library.catalog)
    return store.get_label(store.get_set("thing").id, name).id


def test_after_indexing_the_app_prepares_a_large_librarys_region_index(
        open_window: OpenWindow, qtbot: QtBot, pasted_catalog: PastedCatalog, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the exact-search size the region index is built in a worker once indexing
    ends, as `lookalike index` does, so the first "Find this region" does not build it."""
    import core.regions.search as region_search

    monkeypatch.setattr(region_search, "choose_index", lambda _n: "faiss")  # as if large
    photos = pasted_catalog.photos
    window = open_window(str(photos.root), "--catalog", str(pasted_catalog.copy(tmp_path)),
                         "--model", MODEL, "--weights", "default")
    wait_indexed(qtbot, window)
    library = window.context.library
    assert library is not None
    saved = library.regions.index_path
    qtbot.waitUntil(saved.exists, timeout=60_000)
    qtbot.waitUntil(lambda: window.context._region_build is None, timeout=60_000)
    assert saved.stat().st_size > 0 and saved.with_suffix(".json").exists()
