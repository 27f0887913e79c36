"""The People tab: one tile per person, naming, merging and correcting, and the faces pass.

Persons are tiles (their cover face, name, photo count), unnamed first, largest first.
Selecting one shows its faces on the right, where a face can be moved out or marked "not a
face"; double-clicking it (or "Show photos") lists its photos in the library grid. The logic
is :class:`core.faces.FaceStore`; the faces pass runs as a job in worker processes, and the
tiles follow it as it commits (new faces, new people, bigger counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.errors import LookalikeError
from core.faces import FacesResult, FaceStore, Person
from core.faces.job import photos_to_scan
from core.faces.worker import default_workers
from core.index import Hit
from core.jobs import Progress
from gui.context import AppContext, Query
from gui.workers import JobHandle

TILE = 112
FACE = 80
ID_ROLE = Qt.ItemDataRole.UserRole
LOOSE = -1  # the tile of the faces in no person ("seen once")
STYLE = """
#peopleTitle { font-size: 15px; font-weight: 600; color: #2b303a; }
#peopleNote { color: #5b6270; }
"""


def face_icon(data: bytes | None, side: int) -> QIcon:
    pixmap = QPixmap()
    if data:
        pixmap.loadFromData(data, "JPEG")
    if pixmap.isNull():
        pixmap = QPixmap(side, side)
        pixmap.fill(Qt.GlobalColor.lightGray)
    return QIcon(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation))


def _icon_list(name: str, side: int, parent: QWidget) -> QListWidget:
    view = QListWidget(parent)
    view.setObjectName(name)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setIconSize(QSize(side, side))
    view.setGridSize(QSize(side + 28, side + (44 if side == TILE else 12)))
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setWordWrap(True)
    view.setUniformItemSizes(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    return view


@dataclass(frozen=True)
class _Snapshot:
    """What the person tiles show, read in a worker."""

    people: list[Person]
    covers: dict[int, bytes | None]  # person id (LOOSE: the faces seen once) -> cover face
    names: list[str]
    loose: int


def _read_people(store: FaceStore) -> _Snapshot:
    people = store.persons()
    covers = {p.id: store.thumbnail(p.cover_face) if p.cover_face else None for p in people}
    loose = store.loose()
    if loose:
        covers[LOOSE] = store.thumbnail(loose[0].id)
    return _Snapshot(people, covers, store.names(), len(loose))


def _read_faces(store: FaceStore, person_id: int
                ) -> tuple[Person, list[tuple[int, bytes | None]]]:
    """A person (LOOSE: the faces in no person, as a pseudo-person) and its faces."""
    if person_id == LOOSE:
        faces = store.loose()
        photos = len({f.content_hash for f in faces})
        return Person(LOOSE, None, len(faces), photos, None), [
            (f.id, store.thumbnail(f.id)) for f in faces]
    return store.person(person_id), [(f.id, store.thumbnail(f.id))
                                     for f in store.faces(person_id=person_id)]


def _move_faces(store: FaceStore, faces: list[int], name: str) -> int | None:
    """Move ``faces`` to the person called ``name`` (made if there is none; "": to no
    person). Returns that person (None: none). Runs in a worker."""
    target = store.find_person(name) if name else None
    person = target.id if target else (store.create_person(name) if name else None)
    for face in faces:
        store.move_face(face, person)
    return person


def _pending_photos(store: FaceStore) -> int:
    """Photos to look at, if the faces pass ran before in this library (else 0)."""
    conn = store.catalog.conn
    if conn.execute("SELECT 1 FROM face_scans LIMIT 1").fetchone() is None:
        return 0
    return len(photos_to_scan(store.catalog))


def _person_query(store: FaceStore, person_id: int) -> tuple[int, Query]:
    person = store.person(person_id)
    hits = tuple(Hit(i, 1.0) for i in store.photo_ids(person_id))
    return person_id, Query((), (), hits, person.title, scored=False, noun="photos")


class PeopleView(QWidget):
    """People of the open library (see the module docstring)."""

    REFRESH_S = 1.0  # during the faces pass, the tiles are read again at most this often

    photos_shown = Signal(int)  # the grid lists the photos of this person
    people_shown = Signal()  # the person tiles were (re)loaded
    faces_shown = Signal()  # the faces of the selected person were loaded

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("peopleView")
        self.setStyleSheet(STYLE)
        self.job: JobHandle | None = None
        self._refreshed = (0, 0.0)  # (photos done, monotonic time) at the last refresh
        self._generation = self._face_generation = 0
        self._summary = ""
        self._build()
        context.library_changed.connect(self.refresh)
        self.refresh()

    # -- building ----------------------------------------------------------------------

    def _build(self) -> None:
        self.find_button = QPushButton("Find faces", self)
        self.find_button.setToolTip("Look for faces in the photos not looked at yet, "
                                    "and group them into people")
        self.find_button.clicked.connect(lambda: self.find_faces())
        self.note = QLabel(self)
        self.note.setObjectName("peopleNote")
        top = QHBoxLayout()
        top.addWidget(self.find_button)
        top.addWidget(self.note, 1)
        self.persons = _icon_list("personTiles", TILE, self)
        self.persons.itemSelectionChanged.connect(self._on_person_selected)
        self.persons.itemDoubleClicked.connect(lambda _item: self.show_photos())
        self.title = QLabel("Choose a person", self)
        self.title.setObjectName("peopleTitle")
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("Name…")
        self.completer = QCompleter(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setModel(QStringListModel(self))
        self.name_edit.setCompleter(self.completer)
        self.name_edit.returnPressed.connect(self.name_selected)
        self.name_button = QPushButton("Name", self)
        self.name_button.clicked.connect(self.name_selected)
        self.merge_button = QPushButton("Merge selected", self)
        self.merge_button.setToolTip("The selected people are one person")
        self.merge_button.clicked.connect(self.merge_selected)
        self.photos_button = QPushButton("Show photos", self)
        self.photos_button.clicked.connect(self.show_photos)
        self.faces = _icon_list("faceTiles", FACE, self)
        self.move_button = QPushButton("Move out", self)
        self.move_button.setToolTip("Not this person: take the selected faces out (to the "
                                    "person named above, if any); they will not come back")
        self.move_button.clicked.connect(self.move_selected_faces)
        self.not_face_button = QPushButton("Not a face", self)
        self.not_face_button.clicked.connect(self.not_a_face)
        naming = QHBoxLayout()
        naming.addWidget(self.name_edit, 1)
        naming.addWidget(self.name_button)
        buttons = QHBoxLayout()
        for button in (self.merge_button, self.photos_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        face_buttons = QHBoxLayout()
        face_buttons.addWidget(self.move_button)
        face_buttons.addWidget(self.not_face_button)
        face_buttons.addStretch(1)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.title)
        side_layout.addLayout(naming)
        side_layout.addLayout(buttons)
        side_layout.addWidget(QLabel("Faces of this person:", self))
        side_layout.addWidget(self.faces, 1)
        side_layout.addLayout(face_buttons)
        split = QSplitter(self)
        split.addWidget(self.persons)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._update_buttons()

    # -- state (read in a worker: no SQL on the UI thread) -----------------------------

    @property
    def store(self) -> FaceStore | None:
        library = self.context.library
        return library.people if library is not None else None

    def selected_persons(self) -> list[int]:
        """The selected people's ids (not the "seen once" tile)."""
        return [i for i in self._selected_tiles() if i != LOOSE]

    def _selected_tiles(self) -> list[int]:
        return [int(item.data(ID_ROLE)) for item in self.persons.selectedItems()]

    @property
    def loose_selected(self) -> bool:
        """Whether the "seen once" tile alone is selected (its faces are on the right)."""
        return self._selected_tiles() == [LOOSE]

    def refresh(self, select: int | None = None) -> None:
        """Reload the persons (keeping the selection, or selecting ``select``) and the
        names for completion; :attr:`people_shown` when they are on screen."""
        self._generation += 1
        generation, store = self._generation, self.store
        if store is None:
            self.persons.clear()
            self.note.setText("Open a folder to see its people.")
            self._on_person_selected()
            return
        keep = {select} if select is not None else set(self._selected_tiles())
        self.context.workers.run(
            _read_people, store, what="Reading the people",
            on_result=lambda snap: self._show_people(generation, snap, keep))

    def _show_people(self, generation: int, snap: _Snapshot, keep: set[int]) -> None:
        if generation != self._generation:
            return  # a newer read is on its way
        self.persons.blockSignals(True)
        self.persons.clear()
        for person in snap.people:
            item = QListWidgetItem(face_icon(snap.covers.get(person.id), TILE),
                                   f"{person.name or 'Unnamed'}\n{person.photos} photo"
                                   f"{'s' if person.photos != 1 else ''}")
            item.setData(ID_ROLE, person.id)
            item.setToolTip(f"{person.title}: {person.faces} faces in {person.photos} photos")
            self.persons.addItem(item)
            item.setSelected(person.id in keep)
        if snap.loose:  # last: faces in no person, to be named one by one
            item = QListWidgetItem(face_icon(snap.covers.get(LOOSE), TILE),
                                   f"Seen once\n{snap.loose} face{'s' if snap.loose != 1 else ''}")
            item.setData(ID_ROLE, LOOSE)
            item.setToolTip("Faces in no person yet: each becomes a person when a second "
                            "alike face is found, or when you select it and give a name")
            self.persons.addItem(item)
            item.setSelected(LOOSE in keep)
        self.persons.blockSignals(False)
        self.completer.model().setStringList(snap.names)  # type: ignore[attr-defined]
        if self._summary:  # what the faces pass did, or why a correction failed
            self.note.setText(self._summary)
            self._summary = ""
        elif not self.running:
            self.note.setText(f"{len(snap.people)} people"
                              + (f", {snap.loose} faces seen once" if snap.loose else "")
                              if snap.people or snap.loose else
                              "No people yet: press Find faces.")
        self._on_person_selected()
        self.people_shown.emit()

    def _on_person_selected(self) -> None:
        self.faces.clear()
        ids, store = self._selected_tiles(), self.store
        self._update_buttons()
        if store is None or len(ids) != 1:
            self.title.setText(f"{len(ids)} people selected" if ids else "Choose a person")
            return
        self._face_generation += 1
        generation = self._face_generation
        self.context.workers.run(
            _read_faces, store, ids[0], what="Reading the faces",
            on_result=lambda found: self._show_faces(generation, *found))

    def _show_faces(self, generation: int, person: Person,
                    faces: list[tuple[int, bytes | None]]) -> None:
        if generation != self._face_generation:
            return
        self.title.setText(f"Seen once · {_count(person.faces, 'face')}: select, then name"
                           if person.id == LOOSE else f"{person.title} · {person.photos} photos")
        self.faces.clear()
        for face_id, thumbnail in faces:
            item = QListWidgetItem(face_icon(thumbnail, FACE), "")
            item.setData(ID_ROLE, face_id)
            self.faces.addItem(item)
        self.faces_shown.emit()

    def _update_buttons(self) -> None:
        n, loose = len(self.selected_persons()), self.loose_selected
        has_library = self.context.library is not None
        self.find_button.setEnabled(has_library and not self.running)
        self.name_button.setEnabled(n == 1 or loose)
        self.name_edit.setEnabled(n == 1 or loose)
        self.merge_button.setEnabled(n >= 2)
        self.photos_button.setEnabled(n == 1)
        self.move_button.setEnabled(n == 1)
        self.not_face_button.setEnabled(n == 1 or loose)

    @property
    def running(self) -> bool:
        return self.job is not None

    # -- actions (corrections run in a worker, then the view reloads) ------------------

    def _apply(self, change: Callable[[], int | None]) -> None:
        """Run a correction in a worker (it returns the person to select, or None), show a
        failure in words, then reload."""
        self.context.workers.run(change, what="Changing people",
                                 on_result=lambda person: self.refresh(select=person),
                                 on_error=self._on_error)

    def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, LookalikeError):
            self._summary = str(exc)  # shown once the view has reloaded
        else:
            self.context.workers.failed.emit("Changing people", exc)
        self.refresh()

    def name_selected(self) -> None:
        """Name the selected person; with the "seen once" tile, the selected faces become
        that person (a new one, or the one of that name)."""
        if self.loose_selected:
            self._name_loose_faces()
            return
        ids, store, name = self.selected_persons(), self.store, self.name_edit.text().strip()
        if len(ids) != 1 or store is None or not name:
            return
        self._apply(lambda: store.name(ids[0], name))
        self.name_edit.clear()

    def _name_loose_faces(self) -> None:
        store, name = self.store, self.name_edit.text().strip()
        faces = [int(i.data(ID_ROLE)) for i in self.faces.selectedItems()]
        if store is None or not name:
            return
        if not faces:
            self.note.setText("Select the faces of that person first.")
            return

        self._apply(lambda: _move_faces(store, faces, name))
        self.name_edit.clear()

    def merge_selected(self) -> None:
        ids, store = self.selected_persons(), self.store
        if len(ids) < 2 or store is None:
            return

        def merge() -> int:
            people = [store.person(i) for i in ids]
            target = next((p for p in people if p.name), max(people, key=lambda p: p.faces))
            for person in people:
                store.merge(person.id, target.id)
            return target.id
        self._apply(merge)

    def move_selected_faces(self) -> None:
        store, faces = self.store, [int(i.data(ID_ROLE)) for i in self.faces.selectedItems()]
        if store is None or not faces:
            return
        name = self.name_edit.text().strip()
        self._apply(lambda: _move_faces(store, faces, name))
        self.name_edit.clear()

    def not_a_face(self) -> None:
        store, faces = self.store, [int(i.data(ID_ROLE)) for i in self.faces.selectedItems()]
        if store is None or not faces:
            return

        def not_faces() -> None:
            for face in faces:
                store.not_a_face(face)
        self._apply(not_faces)

    def show_photos(self) -> None:
        """List the selected person's photos in the library grid."""
        ids, store = self.selected_persons(), self.store
        if len(ids) != 1 or store is None:
            return
        self.context.workers.run(_person_query, store, ids[0], what="Listing the photos",
                                 on_result=self._on_query)

    def _on_query(self, found: tuple[int, Query]) -> None:
        self.context.set_query(found[1])
        self.photos_shown.emit(found[0])

    # -- the faces pass ----------------------------------------------------------------

    def find_faces(self, workers: int | None = None) -> None:
        """Run the faces pass (``workers`` processes, default one per core; 0: in the
        worker thread itself)."""
        library = self.context.library
        if library is None or self.running:
            return
        workers = default_workers() if workers is None else workers
        self.job = self.context.workers.start_job(
            "Finding faces", lambda cancel: library.faces(cancel, workers=workers))
        self._refreshed = (0, time.monotonic())
        self.job.progressed.connect(self._on_progress)
        self.job.succeeded.connect(self._on_found)
        self.job.ended.connect(self._on_ended)
        self._update_buttons()

    def _on_progress(self, progress: Progress) -> None:
        """Show the pass's progress; as photos are committed, their faces and the people
        they join or make appear (the tiles are read again, at most every REFRESH_S)."""
        self.note.setText(progress.text + (f" · {progress.rate:.1f}/s" if progress.rate else ""))
        done, when = self._refreshed
        if progress.phase == "faces" and done < progress.done < progress.total and (
                time.monotonic() - when >= self.REFRESH_S):
            self._refreshed = (progress.done, time.monotonic())
            self.refresh()

    def keep_up(self) -> None:
        """After indexing: if this library's faces were looked for before, look in the new
        photos too (they join the people already known)."""
        store = self.store
        if store is not None and not self.running:
            self.context.workers.run(_pending_photos, store, what="Checking for new faces",
                                     on_result=lambda n: self.find_faces() if n else None)

    def _on_found(self, result: FacesResult) -> None:
        grouping = result.grouping
        found = ("Every photo was looked at before" if result.photos == 0 else
                 f"Looked at {_count(result.photos, 'photo')}: {_count(result.faces, 'face')}, "
                 f"{grouping.new_persons} new "
                 f"{'person' if grouping.new_persons == 1 else 'people'}")
        self._summary = found + (f", {_count(grouping.alone, 'face')} seen only once (a person "
                                 "starts with two alike)" if grouping.alone else "")

    def _on_ended(self) -> None:
        self.job = None
        self.refresh()
        self._update_buttons()


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless 1 ("1 photo", "3 faces")."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
