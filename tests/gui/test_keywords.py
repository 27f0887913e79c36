"""Keywords in the app: the search box above the grid filters it to the photos whose keywords
include a word, the viewer shows a photo's keywords, and the app opens a library with the
model it was indexed with. Real photos (../shared/photos), the packaged Lite0 weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from cli.app_cmd import parse_app_args
from core.jobs import run
from core.library import Library
from core.map.engine import MapEngine
from gui.app import create_window
from gui.context import AppContext
from gui.settings import Settings

from .conftest import OpenWindow, wait_indexed

PHOTOS = ["exif-org/fujifilm-finepix40i.jpg", "exif-org/kodak-dc240.jpg", "Kodak_CX7530.jpg",
          "gps/DSCN0027.jpg", "gps/DSCN0040.jpg"]
DOGS = {"fujifilm-finepix40i.jpg", "kodak-dc240.jpg"}


@pytest.fixture(scope="module")
def keyword_library(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[Path, Path]:
    """Five real photos, two of them dogs, indexed with the default model."""
    base = tmp_path_factory.mktemp("keywords")
    root = base / "photos"
    root.mkdir()
    for name in PHOTOS:
        shutil.copy2(shared_photos / "exif-samples" / "jpg" / name, root / Path(name).name)
    catalog = base / "catalog.sqlite"
    with Library(root, catalog_path=catalog) as library:
        assert run(library.index()).embed.embedded == len(PHOTOS)
    return root, catalog


def test_the_search_box_filters_the_grid_by_keyword(open_window: OpenWindow, qtbot: QtBot,
                                                    keyword_library: tuple[Path, Path]) -> None:
    root, catalog = keyword_library
    window = open_window(str(root), "--catalog", str(catalog), "--model", "efficientnet_lite0",
                         "--weights", "default")
    wait_indexed(qtbot, window)
    view = window.library_view
    qtbot.waitUntil(lambda: view.model.rowCount() == len(PHOTOS))
    library = window.context.library
    assert library is not None and library.model_key == "efficientnet_lite0@imagenet"

    def names() -> set[str]:
        return {p.path.name for p in library.catalog.photos(view.model.ids())}

    qtbot.keyClicks(view.keyword_box, "dog")
    qtbot.waitUntil(lambda: names() == DOGS)
    assert view.count_label.text() == "2 photos with “dog”"
    dog = view.model.ids()[0]
    viewer = window.open_viewer(dog)  # the viewer shows what the network saw
    assert viewer is not None
    qtbot.waitUntil(lambda: viewer.loaded_id == dog, timeout=10_000)
    details = viewer.details
    rows = {details.itemAt(i, details.ItemRole.LabelRole).widget().text():
            details.itemAt(i, details.ItemRole.FieldRole).widget()
            for i in range(details.rowCount())}
    words = rows["Keywords:"]
    assert isinstance(words, QLabel) and "dog" in words.text().split(", ")
    viewer.close()
    view.keyword_box.clear()
    qtbot.waitUntil(lambda: view.model.rowCount() == len(PHOTOS))
    view.keyword_box.setText("lizard")
    view.keyword_box.returnPressed.emit()
    qtbot.waitUntil(lambda: names() == {"Kodak_CX7530.jpg"})



def test_the_app_opens_a_library_with_the_model_it_was_indexed_with(
        qtbot: QtBot, keyword_library: tuple[Path, Path], tmp_path: Path,
        map_engine: MapEngine) -> None:
    root, catalog = keyword_library
    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    settings.model, settings.weights = "resnet50", "none"  # the preferences for new libraries
    window = create_window(parse_app_args([str(root), "--catalog", str(catalog)]),
                           settings, AppContext(map_engine=map_engine))
    qtbot.addWidget(window)
    wait_indexed(qtbot, window)
    library = window.context.library
    assert library is not None and library.model_key == "efficientnet_lite0@imagenet"
    assert library.catalog.embedded_count("resnet50@random0") == 0  # nothing re-embedded
    window.close()
