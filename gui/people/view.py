"""The People tab: one tile per person, naming, merging and correcting, and the faces pass.

Persons are tiles (their cover face, name, photo count), unnamed first, largest first.
Selecting one shows its faces on the right, where a face can be moved out or marked "not a
face"; double-clicking it (or "Show photos") lists its photos in the library grid. The logic
is :class:`core.faces.FaceStore`; the faces pass runs as a job in worker processes.
"""

from __future__ import annotations

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
from core.faces import FacesResult, FaceStore
from core.faces.worker import default_workers
from core.index import Hit
from gui.context import AppContext, Query
from gui.workers import JobHandle

TILE = 112
FACE = 80
ID_ROLE = Qt.ItemDataRole.UserRole
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


class PeopleView(QWidget):
    """People of the open library (see the module docstring)."""

    photos_shown = Signal(int)  # the grid lists the photos of this person

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("peopleView")
        self.setStyleSheet(STYLE)
        self.job: JobHandle | None = None
        self._summary = ""
        self._build()
        context.library_changed.connect(self.refresh)
        self.refresh()

    # -- building ----------------------------------------------------------------------

    def _build(self) -> None:
        self.find_button = QPushButton("Find faces", self)
        self.find_button.setToolTip("Look for faces in the photos not looked at yet, "
                                    "and group them into people")
        self.find_button.clicked.connect(self.find_faces)
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

    # -- state -------------------------------------------------------------------------

    @property
    def store(self) -> FaceStore | None:
        library = self.context.library
        return library.people if library is not None else None

    def selected_persons(self) -> list[int]:
        return [int(item.data(ID_ROLE)) for item in self.persons.selectedItems()]

    def refresh(self) -> None:
        """Reload the persons (keeping the selection) and the names for completion."""
        keep = set(self.selected_persons())
        self.persons.clear()
        store = self.store
        if store is None:
            self.note.setText("Open a folder to see its people.")
            self._on_person_selected()
            return
        people = store.persons()
        for person in people:
            item = QListWidgetItem(face_icon(
                store.thumbnail(person.cover_face) if person.cover_face else None, TILE),
                f"{person.name or 'Unnamed'}\n{person.photos} photo"
                f"{'s' if person.photos != 1 else ''}")
            item.setData(ID_ROLE, person.id)
            item.setToolTip(f"{person.title}: {person.faces} faces in {person.photos} photos")
            self.persons.addItem(item)
            item.setSelected(person.id in keep)
        self.completer.model().setStringList(store.names())  # type: ignore[attr-defined]
        loose = store.loose_faces()
        if not self.running:
            self.note.setText(f"{len(people)} people"
                              + (f", {loose} faces seen once" if loose else "")
                              if people or loose else
                              "No people yet: press Find faces.")
        self._on_person_selected()

    def _on_person_selected(self) -> None:
        self.faces.clear()
        ids = self.selected_persons()
        store = self.store
        if store is None or len(ids) != 1:
            self.title.setText(f"{len(ids)} people selected" if ids else "Choose a person")
            self._update_buttons()
            return
        person = store.person(ids[0])
        self.title.setText(f"{person.title} · {person.photos} photos")
        for face in store.faces(person_id=person.id):
            item = QListWidgetItem(face_icon(store.thumbnail(face.id), FACE), "")
            item.setData(ID_ROLE, face.id)
            self.faces.addItem(item)
        self._update_buttons()

    def _update_buttons(self) -> None:
        n = len(self.persons.selectedItems())
        has_library = self.context.library is not None
        self.find_button.setEnabled(has_library and not self.running)
        self.name_button.setEnabled(n == 1)
        self.name_edit.setEnabled(n == 1)
        self.merge_button.setEnabled(n >= 2)
        self.photos_button.setEnabled(n == 1)
        self.move_button.setEnabled(n == 1)
        self.not_face_button.setEnabled(n == 1)

    @property
    def running(self) -> bool:
        return self.job is not None

    # -- actions -----------------------------------------------------------------------

    def _apply(self, change: object) -> None:
        """Run a correction (a callable), show a failure in words, then refresh."""
        try:
            change()  # type: ignore[operator]
        except LookalikeError as exc:
            self.note.setText(str(exc))
            return
        self.refresh()

    def name_selected(self) -> None:
        ids, store, name = self.selected_persons(), self.store, self.name_edit.text().strip()
        if len(ids) != 1 or store is None or not name:
            return

        def rename() -> None:
            person = store.name(ids[0], name)
            self._select(person)
        self._apply(rename)
        self.name_edit.clear()

    def merge_selected(self) -> None:
        ids, store = self.selected_persons(), self.store
        if len(ids) < 2 or store is None:
            return
        people = [store.person(i) for i in ids]
        target = next((p for p in people if p.name), max(people, key=lambda p: p.faces))

        def merge() -> None:
            for person in people:
                store.merge(person.id, target.id)
            self._select(target.id)
        self._apply(merge)

    def move_selected_faces(self) -> None:
        store, faces = self.store, [int(i.data(ID_ROLE)) for i in self.faces.selectedItems()]
        if store is None or not faces:
            return
        name = self.name_edit.text().strip()

        def move() -> None:
            target = store.find_person(name) if name else None
            target_id = target.id if target else (store.create_person(name) if name else None)
            for face in faces:
                store.move_face(face, target_id)
        self._apply(move)
        self.name_edit.clear()

    def not_a_face(self) -> None:
        store, faces = self.store, [int(i.data(ID_ROLE)) for i in self.faces.selectedItems()]
        if store is None:
            return
        self._apply(lambda: [store.not_a_face(face) for face in faces])

    def show_photos(self) -> None:
        """List the selected person's photos in the library grid."""
        ids, store = self.selected_persons(), self.store
        if len(ids) != 1 or store is None:
            return
        person = store.person(ids[0])
        hits = tuple(Hit(i, 1.0) for i in store.photo_ids(person.id))
        self.context.set_query(Query((), (), hits, person.title, scored=False, noun="photos"))
        self.photos_shown.emit(person.id)

    def _select(self, person_id: int) -> None:
        self.refresh()
        for row in range(self.persons.count()):
            item = self.persons.item(row)
            item.setSelected(int(item.data(ID_ROLE)) == person_id)

    # -- the faces pass ----------------------------------------------------------------

    def find_faces(self) -> None:
        library = self.context.library
        if library is None or self.running:
            return
        workers = default_workers()
        self.job = self.context.workers.start_job(
            "Finding faces", lambda cancel: library.faces(cancel, workers=workers))
        self.job.progressed.connect(lambda p: self.note.setText(
            p.text + (f" · {p.rate:.1f}/s" if p.rate else "")))
        self.job.succeeded.connect(self._on_found)
        self.job.ended.connect(self._on_ended)
        self._update_buttons()

    def _on_found(self, result: FacesResult) -> None:
        self._summary = (f"Looked at {result.photos} photos: {result.faces} faces, "
                         f"{result.grouping.new_persons} new people")

    def _on_ended(self) -> None:
        self.job = None
        self.refresh()
        if self._summary:
            self.note.setText(self._summary)
            self._summary = ""
        self._update_buttons()

