"""The person filter above the grid: the library and "Find similar" among a person's photos."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from benchmarks import face_photos
from core.jobs import run
from core.library import Library
from gui.people import PersonFilter

from .conftest import OpenWindow, wait_indexed

MODEL = "mobilenet_v3_small"


def test_the_grid_and_similar_keep_to_the_chosen_person(
        open_window: OpenWindow, qtbot: QtBot, shared_photos: Path, tmp_path: Path) -> None:
    root, catalog = tmp_path / "photos", tmp_path / "catalog.sqlite"
    face_photos.write_set(shared_photos, root, ["devil", "dudley"], count=2)
    face_photos.variants(shared_photos, "orange", 1)[0].image.save(root / "orange.jpg")
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        run(library.index())
        run(library.faces(workers=0))
        people = library.people
        devil = library.catalog.photo_by_path(root / "devil_0.jpg")
        people.name(people.faces(content_hash=devil.content_hash)[0].person_id, "Dee")
        dee = set(people.photo_ids(people.find_person("Dee").id))
    assert len(dee) == 2

    window = open_window(str(root), "--catalog", str(catalog), "--model", MODEL)
    wait_indexed(qtbot, window)
    view, search = window.library_view, window.search
    qtbot.waitUntil(lambda: view.model.rowCount() == 5)
    chooser = view.header.findChild(PersonFilter)
    qtbot.waitUntil(lambda: chooser.count() == 2 and chooser.isVisible())
    assert [chooser.itemText(i) for i in range(chooser.count())] == ["Anyone", "Dee"]

    chooser.set_person("Dee")
    qtbot.waitUntil(lambda: set(view.model.ids()) == dee)
    assert view.count_label.text().startswith("2 photos")

    # "Find similar" from a photo of someone else ranks Dee's photos only
    library = window.context.library
    query = library.catalog.photo_by_path(root / "dudley_0.jpg").id
    with qtbot.waitSignal(window.context.query_changed):
        search.find_similar([query])
    shown = window.context.query
    assert {h.photo_id for h in shown.hits} == dee and "with Dee" in shown.label
    # back to anyone: the same query is asked again, among all the photos
    with qtbot.waitSignal(window.context.query_changed):
        chooser.set_person(None)
    assert len(window.context.query.hits) == 4 and "Dee" not in window.context.query.label
    with qtbot.waitSignal(window.context.query_changed):
        search.back_to_library()
    qtbot.waitUntil(lambda: view.model.rowCount() == 5)
