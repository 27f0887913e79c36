"""The People tab and the viewer's face boxes, on real faces (dlib's models)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from benchmarks import face_photos
from core.faces import FaceStore
from core.faces import job as faces_job
from core.jobs import run
from core.library import Library
from gui.context import AppContext
from gui.grid.cache import ThumbnailCache
from gui.people import PeopleView
from gui.people.view import ID_ROLE
from gui.viewer import ViewerWindow

MODEL = "mobilenet_v3_small"


@pytest.fixture
def people_context(shared_photos: Path, tmp_path: Path, qtbot: QtBot) -> Iterator[AppContext]:
    """A library of 2 photos each of 2 people and 1 of a third, scanned (no faces yet)."""
    root = tmp_path / "photos"
    face_photos.write_set(shared_photos, root, ["devil", "dudley"], count=2)
    face_photos.variants(shared_photos, "orange", 1)[0].image.save(root / "orange.jpg")
    context = AppContext()
    library = Library(root, catalog_path=tmp_path / "catalog.sqlite", model=MODEL,
                      weights="none", lock=True)
    run(library.scan())
    context.set_library(library)
    yield context
    context.workers.stop_all(5)
    context.set_library(None)


def _tiles(view: PeopleView, seen_once: bool = False) -> list[str]:
    """The tiles' texts (with the "seen once" tile's last, if asked)."""
    texts = [view.persons.item(i).text() for i in range(view.persons.count())]
    return texts if seen_once else [t for t in texts if not t.startswith("Seen once")]


def _select(qtbot: QtBot, view: PeopleView, row: int) -> None:
    """Select one person tile and wait for its faces."""
    with qtbot.waitSignal(view.faces_shown):
        view.persons.clearSelection()
        view.persons.item(row).setSelected(True)


def test_find_name_merge_move_and_show_photos(people_context: AppContext, qtbot: QtBot,
                                              shared_photos: Path) -> None:
    view = PeopleView(people_context)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    qtbot.waitUntil(lambda: "press Find faces" in view.note.text())
    view.find_faces()  # worker processes, from a worker thread
    qtbot.waitUntil(lambda: not view.running and "Looked at 5 photos" in view.note.text(),
                    timeout=120_000)
    assert view.note.text() == ("Looked at 5 photos: 5 faces, 2 new people, 1 face seen only "
                                "once (a person starts with two alike)")
    assert _tiles(view, seen_once=True) == ["Unnamed\n2 photos", "Unnamed\n2 photos",
                                            "Seen once\n1 face"]
    store = FaceStore(people_context.library.catalog)
    # name the first person; the completer offers the name afterwards
    _select(qtbot, view, 0)
    assert view.faces.count() == 2
    view.name_edit.setText("Dee")
    with qtbot.waitSignal(view.people_shown):
        view.name_button.click()
    assert _tiles(view) == ["Unnamed\n2 photos", "Dee\n2 photos"]  # unnamed first
    assert view.completer.model().stringList() == ["Dee"]
    assert view.selected_persons() == [store.find_person("Dee").id]  # still selected
    # show the photos of Dee in the grid
    dee = store.find_person("Dee")
    with qtbot.waitSignal(view.photos_shown):
        view.photos_button.click()
    query = people_context.query
    assert query is not None and query.label == "Dee"
    assert sorted(h.photo_id for h in query.hits) == store.photo_ids(dee.id)
    # move a face out of Dee: it goes to no person and never comes back
    _select(qtbot, view, 1)
    view.faces.item(0).setSelected(True)
    moved = int(view.faces.item(0).data(ID_ROLE))
    with qtbot.waitSignal(view.people_shown):
        view.move_button.click()
    assert store.face(moved).person_id is None
    assert store.person(dee.id).photos == 1
    store.group()
    assert store.face(moved).person_id != dee.id
    # merge the two people: the name is kept
    with qtbot.waitSignal(view.people_shown):
        view.refresh()
    view.persons.selectAll()
    with qtbot.waitSignal(view.people_shown):
        view.merge_button.click()
    assert [p.name for p in store.persons()] == ["Dee"]
    assert _tiles(view) == ["Dee\n3 photos"]
    # not a face
    _select(qtbot, view, 0)
    view.faces.item(0).setSelected(True)
    gone = int(view.faces.item(0).data(ID_ROLE))
    with qtbot.waitSignal(view.people_shown):
        view.not_face_button.click()
    assert gone not in {f.id for f in store.faces()}
    # after indexing, new photos are looked at and join the people already known
    library = people_context.library
    face_photos.variants(shared_photos, "devil", 1, seed=9)[0].image.save(library.root / "new.jpg")
    run(library.scan())
    view.keep_up()
    qtbot.waitUntil(lambda: not view.running and "Looked at 1 photo:" in view.note.text(),
                    timeout=120_000)
    new = library.catalog.photo_by_path(library.root / "new.jpg")
    assert new is not None and new.content_hash
    person = store.faces(content_hash=new.content_hash)[0].person_id
    assert person is not None  # grouped with the same face seen before:
    assert any(p.path.name.startswith("devil_")
               for p in library.catalog.photos(store.photo_ids(person)))
    # a failing correction says why, in words
    with qtbot.waitSignal(view.people_shown):
        view._apply(lambda: store.name(999, "Nobody"))
    assert "There is no person 999" in view.note.text()


def test_people_appear_while_the_pass_commits(people_context: AppContext, qtbot: QtBot,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiles follow the faces pass: each photo committed (and grouped) at once here,
    so the first person shows while photos are still being looked at."""
    monkeypatch.setattr(faces_job, "COMMIT_EVERY_S", 0.0)
    monkeypatch.setattr(faces_job, "GROUP_EVERY_S", 0.0)
    view = PeopleView(people_context)
    qtbot.addWidget(view)
    view.REFRESH_S = 0.0
    qtbot.waitUntil(lambda: "press Find faces" in view.note.text())
    shown: list[tuple[list[str], str]] = []
    view.people_shown.connect(lambda: shown.append((_tiles(view), view.note.text())))
    view.find_faces(workers=0)
    qtbot.waitUntil(lambda: not view.running and "Looked at 5 photos:" in view.note.text(),
                    timeout=120_000)
    during = [tiles for tiles, note in shown if note.startswith("Looked at ")
              and " of 5 photos" in note]
    assert during and during[0] == []  # read again as the first photos were committed
    assert any(tiles for tiles in during)  # a person, before the pass was over
    assert _tiles(view) == ["Unnamed\n2 photos", "Unnamed\n2 photos"]


def test_viewer_draws_face_boxes_with_names(people_context: AppContext, qtbot: QtBot,
                                            tmp_path: Path) -> None:
    library = people_context.library
    run(library.faces(workers=0))
    store = library.people
    person = store.persons()[0]
    store.name(person.id, "Ann")
    photo_id = store.photo_ids(person.id)[0]
    viewer = ViewerWindow(people_context, ThumbnailCache(people_context.workers), [photo_id], 0)
    viewer.show()  # closed (and deleted) by "Find this face" below
    qtbot.waitUntil(lambda: viewer.loaded_id == photo_id, timeout=10_000)
    texts = [i.text() for i in viewer.face_boxes.items if hasattr(i, "text")]
    assert "Ann" in texts
    boxes = [i for i in viewer.face_boxes.items if i.toolTip().startswith("Ann ·")]
    face = next(f for f in store.faces(person_id=person.id)
                if f.content_hash == library.catalog.photo(photo_id).content_hash)
    width = viewer.view.photo_item.pixmap().width()
    assert boxes[0].rect().left() == pytest.approx(face.x * width, abs=1)
    # "Find this face": double-click the box; the grid's query lists Ann's photos first
    centre = viewer.view.mapFromScene(boxes[0].sceneBoundingRect().center())
    with qtbot.waitSignals([people_context.query_changed, viewer.destroyed]):
        qtbot.mouseDClick(viewer.view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    hits = people_context.query.hits
    assert hits[0].photo_id == photo_id and hits[0].score == pytest.approx(1.0)
    anns = set(store.photo_ids(person.id))
    assert {h.photo_id for h in hits[:len(anns)]} == anns
    assert all(h.score < 1 - 0.55 for h in hits[len(anns):])  # the others: other people


def test_a_face_seen_once_is_named_from_its_tile(people_context: AppContext,
                                                 qtbot: QtBot) -> None:
    """The third person's single face waits in the "seen once" tile; selecting it there and
    giving a name makes it a person of its own."""
    view = PeopleView(people_context)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    view.find_faces(workers=0)
    qtbot.waitUntil(lambda: not view.running and "Looked at 5 photos" in view.note.text(),
                    timeout=120_000)
    _select(qtbot, view, 2)
    assert view.loose_selected and view.selected_persons() == []
    assert view.title.text() == "Seen once · 1 face: select, then name" and view.faces.count() == 1
    assert view.name_button.isEnabled() and not view.merge_button.isEnabled()
    view.name_edit.setText("Orange")
    view.name_button.click()  # no face selected yet: it says so
    assert view.note.text() == "Select the faces of that person first."
    view.faces.item(0).setSelected(True)
    face = int(view.faces.item(0).data(ID_ROLE))
    with qtbot.waitSignal(view.people_shown):
        view.name_button.click()
    store = FaceStore(people_context.library.catalog)
    orange = store.find_person("Orange")
    assert orange is not None and store.face(face).person_id == orange.id
    assert _tiles(view, seen_once=True) == ["Unnamed\n2 photos", "Unnamed\n2 photos",
                                            "Orange\n1 photo"]
    assert view.selected_persons() == [orange.id]
    view.find_faces(workers=0)  # again: nothing new to look at, and it says so
    qtbot.waitUntil(lambda: not view.running
                    and view.note.text() == "Every photo was looked at before", timeout=60_000)
