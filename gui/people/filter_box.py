"""The person filter above the grid: "Anyone", or a named person, whose photos alone the
grid lists and "Find similar" ranks (people + similar + the keyword box + the folder)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

from core.faces import FaceStore
from gui.context import AppContext

ANYONE = "Anyone"


def _names(store: FaceStore) -> list[str]:
    return store.names()


class PersonFilter(QComboBox):
    """Choose a named person; :attr:`person_changed` sends the name (None: anyone). The
    names follow the library (read again when people are named, merged or renamed)."""

    person_changed = Signal(object)  # str | None
    names_shown = Signal()  # the list of names was (re)loaded

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("personFilter")
        self.setToolTip("Show only the photos of this person (the grid and Find similar)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(7)  # the header is crowded: long names are elided
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.addItem(ANYONE, None)
        self._generation = 0
        self.currentIndexChanged.connect(lambda _i: self.person_changed.emit(self.person))
        context.library_changed.connect(self.reload)
        context.labels_changed.connect(self.reload)  # naming a person changes the labels
        self.reload()

    @property
    def person(self) -> str | None:
        data = self.currentData()
        return str(data) if data else None

    def set_person(self, name: str | None) -> None:
        """Choose ``name`` (None or an unknown name: anyone)."""
        self.setCurrentIndex(max(0, self.findData(name)) if name else 0)

    def reload(self) -> None:
        library = self.context.library
        self._generation += 1
        generation = self._generation
        if library is None:
            self._show(generation, [])
            return
        self.context.workers.run(_names, library.people, what="Reading the names",
                                 on_result=lambda names: self._show(generation, names))

    def _show(self, generation: int, names: list[str]) -> None:
        if generation != self._generation:
            return
        chosen = self.person
        self.blockSignals(True)
        self.clear()
        self.addItem(ANYONE, None)
        for name in names:
            self.addItem(name, name)
        self.setCurrentIndex(max(0, self.findData(chosen)) if chosen else 0)
        self.blockSignals(False)
        self.setVisible(bool(names))  # nothing to choose before a person is named
        if self.person != chosen:  # the person was renamed or merged away
            self.person_changed.emit(self.person)
        self.names_shown.emit()
