"""The viewer's "Where is…" heat map: a trained head scores each stored region of the photo
(core.labels.localise, in a worker) and the scores are drawn over it."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QWidget
from shiboken6 import isValid

from core.catalog import Catalog
from core.labels import LabelStore
from core.labels.heads import trained_models
from core.labels.localise import Box, label_heat
from core.library import Library
from gui.context import AppContext
from gui.regions.overlay import HeatOverlay

HEAT_COLUMNS = 64


def label_choices(catalog: Catalog, model: str) -> list[tuple[str, int, int]]:
    """(text, set id, label id) for every label of a set with a head trained for ``model``."""
    store = LabelStore(catalog)
    out = []
    for label_set in store.sets():
        if model not in trained_models(catalog, label_set.id):
            continue
        for label in store.labels(label_set.id):
            out.append((f"{label.name} ({label_set.name})", label_set.id, label.id))
    return out


def _heat(library: Library, set_id: int, label_id: int, photo_id: int, aspect: float
          ) -> tuple[object, Box, float] | None:
    """In a worker thread: the label's heat grid over the photo, best box and its score."""
    with library.catalog.faults():
        return label_heat(library.catalog, set_id, library.model_key, photo_id, label_id,
                          aspect, HEAT_COLUMNS)


class HeatController(QObject):
    """Chooses the label (a combo box for the toolbar), computes the heat map of the photo
    shown and draws it on ``overlay`` while ``enabled``.

    ``described(text)``: a line for the viewer, e.g. "dog: best region 91%".
    """

    described = Signal(str)
    computed = Signal(int)  # the photo whose heat map is now drawn

    def __init__(self, context: AppContext, overlay: HeatOverlay,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.overlay = overlay
        self.enabled = False
        self.photo_id = -1
        self.aspect = 0.75
        self.best: tuple[Box, float] | None = None
        self.combo = QComboBox(parent)
        self.combo.setObjectName("heatLabel")
        self.combo.setToolTip("The label whose heat map is drawn")
        self.combo.setMinimumContentsLength(14)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.currentIndexChanged.connect(lambda _: self.refresh())
        self._token = 0
        self.fill()

    def fill(self) -> None:
        """List the labels that have a trained head (none: the toggle stays off)."""
        library = self.context.library
        chosen = self.combo.currentData()
        blocked = self.combo.blockSignals(True)
        self.combo.clear()
        if library is not None:
            for text, set_id, label_id in label_choices(library.catalog, library.model_key):
                self.combo.addItem(text, (set_id, label_id))
        if not self.combo.count():
            self.combo.addItem("No trained labels", None)
        self.combo.setCurrentIndex(max(0, self.combo.findData(chosen)))
        self.combo.blockSignals(blocked)

    @property
    def available(self) -> bool:
        return self.combo.currentData() is not None

    def choose(self, label_id: int) -> bool:
        """Select ``label_id`` in the combo box (False if it has no trained head)."""
        for row in range(self.combo.count()):
            data = self.combo.itemData(row)
            if data is not None and data[1] == label_id:
                self.combo.setCurrentIndex(row)
                return True
        return False

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self.refresh()

    def show_photo(self, photo_id: int, aspect: float) -> None:
        self.photo_id, self.aspect = photo_id, aspect
        self.refresh()

    def refresh(self) -> None:
        self._token += 1
        self.best = None
        self.overlay.show(None)
        library, choice = self.context.library, self.combo.currentData()
        if not self.enabled or library is None or self.photo_id < 0:
            self.described.emit("")
            return
        if choice is None:
            self.described.emit("Train a label first (Labels panel) to see where it is.")
            return
        token, photo_id = self._token, self.photo_id
        self.described.emit("Finding where…")
        self.context.workers.run(
            _heat, library, choice[0], choice[1], photo_id, self.aspect,
            on_result=lambda result: isValid(self) and self._on_heat(token, photo_id, result),
            what="Drawing the heat map")

    def _on_heat(self, token: int, photo_id: int, result: tuple | None) -> None:
        if token != self._token:
            return
        name = self.combo.currentText().rsplit(" (", 1)[0]
        if result is None:
            self.described.emit("This photo's regions are not analysed yet.")
            return
        heat, box, score = result
        self.best = (box, score)
        self.overlay.show(heat)
        self.described.emit(f"{name}: best region {score:.0%}")
        self.computed.emit(photo_id)
