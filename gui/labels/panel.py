"""The labelling panel: label sets, labels on the selection, training, review, export.

A dock beside the grid. Labels are buttons (keys 1-9) that act on the context's selection
(from the grid or the map); Train runs the head's training and the library's prediction in
a worker; Review (:mod:`gui.labels.review`) shows the photos the head suggests labels for in
the grid, A accepting and R rejecting them. The logic is in :mod:`core.labels`,
:mod:`core.labels.heads` and :mod:`core.labels.review`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.index import Hit
from core.labels import Label, LabelSet, LabelStore
from core.labels.heads import HeadInfo, head_info, trained_models
from core.labels.review import ORDERS
from gui.context import AppContext, Query
from gui.labels.review import Badges, ReviewSession, label_badges
from gui.labels.train import TrainBox
from gui.labels.widgets import (
    ExportMenu,
    LabelRow,
    NewSetDialog,
    ask_text,
    compact_combo,
    confirm,
)

MIN_WIDTH = 280  # the dock widens to this
ORDER_TEXT = {"uncertain": "Least sure first", "confident": "Most confident first"}
STYLE = """
QWidget#labelPanel { font-weight: normal; }
#labelScroll, #labelBody { background: transparent; }
#sectionTitle { font-weight: 600; color: #2b303a; margin-top: 8px; }
#setInfo, #headStatus, #reviewInfo { color: #5b6270; }
#headStatus[stale="true"] { color: #b45309; }
"""


class LabelPanel(QWidget):
    """Label sets and their labels for the open library, training and review."""

    trained = Signal(object)  # HeadInfo, after training and predicting the library
    refreshed = Signal()  # the panel shows the catalog's current labels

    def __init__(self, context: AppContext, show_badges: Badges | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("labelPanel")
        self.setStyleSheet(STYLE)
        self.setMinimumWidth(MIN_WIDTH)
        self._show_badges = show_badges
        self.label_set: LabelSet | None = None
        self.labels: list[Label] = []
        self.review = ReviewSession(context, show_badges, self)
        self.suggestions_changed = self.review.suggestions_changed
        self._filter_query: Query | None = None
        self.sets: list[LabelSet] = []
        self._token = 0
        self._build()
        self._shortcuts()
        self.review.status.connect(self._note)
        self.review.active_changed.connect(self._on_review_active)
        context.library_changed.connect(self._on_library_changed)
        context.labels_changed.connect(self.refresh)
        context.selection_changed.connect(lambda _ids: self._update_enabled())
        self.refresh()

    # -- building --------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setObjectName("labelScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(scroll)
        body.setObjectName("labelBody")
        scroll.setWidget(body)
        outer.addWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        row = QHBoxLayout()
        self.set_box = compact_combo(self)
        self.set_box.setToolTip("The label set: one labelling task")
        self.set_box.currentIndexChanged.connect(self._on_set_chosen)
        row.addWidget(self.set_box, 1)
        button = QToolButton(self)
        button.setText("⋯")
        button.setToolTip("New, rename or delete label sets")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(button)
        menu.addAction("New Label Set…", self.ask_new_set)
        self.rename_action = menu.addAction("Rename Label Set…", self._ask_rename_set)
        self.delete_action = menu.addAction("Delete Label Set…", self._ask_delete_set)
        button.setMenu(menu)
        row.addWidget(button)
        layout.addLayout(row)
        self.set_info = _text(self, "setInfo")
        layout.addWidget(self.set_info)
        self.rows_box = QWidget(self)
        self.rows = QVBoxLayout(self.rows_box)
        self.rows.setContentsMargins(0, 2, 0, 2)
        self.rows.setSpacing(3)
        layout.addWidget(self.rows_box)
        self.new_label = QLineEdit(self)
        self.new_label.setPlaceholderText("New label… (Enter)")
        self.new_label.returnPressed.connect(self._on_new_label)
        layout.addWidget(self.new_label)
        row = QHBoxLayout()
        self.clear_button = QPushButton("Remove Label", self)
        self.clear_button.setToolTip("Take this set's labels off the selected photos")
        self.clear_button.clicked.connect(lambda: self.remove_from_selection())
        row.addWidget(self.clear_button)
        self.filter_box = compact_combo(self)
        self.filter_box.setToolTip("Show only the photos with this label in the grid")
        self.filter_box.activated.connect(lambda _i: self.filter_by(self.filter_box.currentData()))
        row.addWidget(self.filter_box, 1)
        layout.addLayout(row)

        layout.addWidget(_title(self, "Train"))
        self.train_box = TrainBox(self.context, self)
        self.train_box.message.connect(self._note)
        self.train_box.trained.connect(self._on_trained)
        self.train_box.running_changed.connect(lambda _running: self._update_enabled())
        layout.addWidget(self.train_box)

        layout.addWidget(_title(self, "Review suggestions"))
        row = QHBoxLayout()
        self.order_box = compact_combo(self)
        for key in ORDERS:
            self.order_box.addItem(ORDER_TEXT[key], key)
        self.order_box.activated.connect(self._on_order_chosen)
        row.addWidget(self.order_box, 1)
        self.review_button = QPushButton("Review", self)
        self.review_button.setCheckable(True)
        self.review_button.setToolTip("Show the unlabelled photos with their suggested label "
                                      "in the grid (only the label chosen in Show…, if one)")
        self.review_button.clicked.connect(
            lambda on: self.start_review() if on else self.review.stop())
        row.addWidget(self.review_button)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.accept_button = QPushButton("Accept (A)", self)
        self.accept_button.clicked.connect(self.accept)
        self.reject_button = QPushButton("Reject (R)", self)
        self.reject_button.clicked.connect(self.reject)
        row.addWidget(self.accept_button)
        row.addWidget(self.reject_button)
        layout.addLayout(row)
        self.review_info = _text(self, "reviewInfo")
        layout.addWidget(self.review_info)
        layout.addStretch(1)
        export = QToolButton(self)
        export.setText("Export / Import")
        export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export.setMenu(ExportMenu(self.context, lambda: self.label_set, self))
        layout.addWidget(export, 0, Qt.AlignmentFlag.AlignLeft)

    def _shortcuts(self) -> None:
        self.label_keys = []
        for n in range(1, 10):
            key = QShortcut(QKeySequence(str(n)), self)
            key.activated.connect(lambda n=n: self.apply(n - 1))
            self.label_keys.append(key)
        self.accept_key = QShortcut(QKeySequence("A"), self, self.accept)
        self.reject_key = QShortcut(QKeySequence("R"), self, self.reject)

    # -- state -----------------------------------------------------------------------------
    # Every read and change of the catalog runs in a worker; the catalog announces a change
    # (context.labels_changed) and refresh() reads the new state, which _on_state shows.

    @property
    def store(self) -> LabelStore | None:
        library = self.context.library
        return library.labels if library else None

    def refresh(self) -> None:
        """Read the sets, labels and head of the open library again (in a worker)."""
        library = self.context.library
        self._token += 1
        if library is None:
            self._on_state(self._token, None, PanelState())
            return
        token, wanted = self._token, self.label_set.id if self.label_set else None
        self.context.workers.run(
            read_panel_state, library.labels, wanted, library.model_key,
            on_result=lambda state: self._on_state(token, library, state),
            what="Reading the labels")

    def _on_state(self, token: int, library: object, state: PanelState) -> None:
        if token != self._token or library is not self.context.library:
            return  # a newer refresh, or another library
        self.sets = state.sets
        self.set_box.blockSignals(True)
        self.set_box.clear()
        for label_set in state.sets:
            self.set_box.addItem(label_set.name, label_set.id)
        chosen = state.label_set.id if state.label_set else None
        self.set_box.setCurrentIndex(self.set_box.findData(chosen) if chosen is not None else -1)
        self.set_box.blockSignals(False)
        self.label_set = state.label_set
        self.labels = state.labels
        self._fill_rows()
        self.train_box.show_state(state.label_set, state.head, state.other_models)
        self._update_enabled()
        if not self.review.active:
            self._load_label_badges()
        self.refreshed.emit()

    def _fill_rows(self) -> None:
        while (item := self.rows.takeAt(0)) is not None:
            widget = item.widget()
            if widget is not None:
                widget.hide()  # deleted when control returns to the event loop
                widget.deleteLater()
        for n, label in enumerate(self.labels):
            row = LabelRow(label, n + 1 if n < 9 else None, self.rows_box)
            row.applied.connect(lambda n=n: self.apply(n))
            row.removed.connect(lambda label=label: self.remove_from_selection(label))
            row.shown.connect(lambda label=label: self.filter_by(label.id))
            row.renamed.connect(lambda label=label: self._ask_rename_label(label))
            row.deleted.connect(lambda label=label: self._ask_delete_label(label))
            self.rows.addWidget(row)
        shown = self.filter_box.currentData()
        self.filter_box.clear()
        self.filter_box.addItem("Show all photos", None)
        for label in self.labels:
            self.filter_box.addItem(f"Show {label.name} ({label.count})", label.id)
        self.filter_box.setCurrentIndex(max(0, self.filter_box.findData(shown)))
        filtering = self._filter_query is not None and self.context.query is self._filter_query
        if filtering and self.filter_box.currentData() is not None:
            self.filter_by(self.filter_box.currentData())  # the labelled photos, counted again
        if self.label_set is None:
            self.set_info.setText("Create a label set (⋯) to start labelling.")
        else:
            labelled = sum(label.count for label in self.labels)
            self.set_info.setText(
                f"{'Multi-label' if self.label_set.multi else 'Single choice'} · "
                f"{labelled} labelled · keys 1–9 label the selection")

    def _update_enabled(self) -> None:
        has_set = self.label_set is not None
        selected = bool(self.context.selection)
        for n, key in enumerate(self.label_keys):
            key.setEnabled(has_set and n < len(self.labels))
        for part in (self.rename_action, self.delete_action, self.new_label, self.filter_box):
            part.setEnabled(has_set)
        self.clear_button.setEnabled(has_set and selected)
        self.review_button.setEnabled(has_set and not self.train_box.running)
        deciding = self.review.active and selected
        for button in (self.accept_button, self.reject_button):
            button.setEnabled(deciding)
        for key in (self.accept_key, self.reject_key):
            key.setEnabled(deciding)

    def _on_library_changed(self) -> None:
        self.review.stop()
        self.label_set = None
        self._note("")
        self.refresh()

    def _change(self, what: str, fn: Callable[..., object], *args: object,
                on_result: Callable[[Any], None] | None = None) -> None:
        """Change the labels in a worker; the catalog's announcement refreshes the views.
        A LabelError (a name taken) or a disk error is shown in a message box."""
        self.context.workers.run(fn, *args, on_result=on_result, what=what,
                                 on_error=lambda exc: QMessageBox.warning(self, "Labels", str(exc)))

    # -- label sets and labels -------------------------------------------------------------

    def _on_set_chosen(self) -> None:
        self.review.stop()
        chosen = self.set_box.currentData()
        self.label_set = next((s for s in self.sets if s.id == chosen), None)
        self.refresh()

    def create_set(self, name: str, multi: bool = False) -> None:
        if (store := self.store) is not None:
            def chosen(label_set: LabelSet) -> None:
                self.label_set = label_set  # shown once the announced refresh arrives

            self._change("Creating a label set", partial(store.create_set, multi=multi), name,
                         on_result=chosen)

    def add_label(self, name: str) -> None:
        if (store := self.store) is not None and self.label_set is not None and name.strip():
            self._change("Adding a label", store.ensure_label, self.label_set.id, name)

    def apply(self, index: int) -> None:
        """Give the ``index``-th label to the selected photos (key ``index + 1``)."""
        store = self.store
        if store is None or not 0 <= index < len(self.labels) or not self.context.selection:
            return
        label = self.labels[index]
        self._change("Labelling", store.assign, label.id, list(self.context.selection),
                     on_result=lambda n: self._note(
                         f"{label.name}: {n} photo{'s' if n != 1 else ''} labelled."))

    def remove_from_selection(self, label: Label | None = None) -> None:
        """Take ``label`` (or every label of the set) off the selected photos."""
        store = self.store
        if store is None or not self.context.selection:
            return
        label_ids = [each.id for each in ([label] if label else self.labels)]
        self._change("Removing labels", _unassign_all, store, label_ids,
                     list(self.context.selection))

    def filter_by(self, label_id: int | None) -> None:
        """Show only the photos with this label in the grid (None: the whole library)."""
        store, label_set = self.store, self.label_set
        label = next((each for each in self.labels if each.id == label_id), None)
        if store is None or label is None or label_set is None:
            if self.context.query is not None and self.context.query is self._filter_query:
                self.context.set_query(None)
            return

        def show(ids: list[int]) -> None:
            self._filter_query = Query((), (), tuple(Hit(i, 1.0) for i in ids),
                                       f"{label_set.name}: {label.name}",
                                       scored=False, noun="labelled")
            self.context.set_query(self._filter_query)

        self.context.workers.run(store.photos_with, label.id, on_result=show,
                                 what="Listing the labelled photos")

    def ask_new_set(self) -> None:
        dialog = NewSetDialog(self)
        if dialog.exec():
            self.create_set(dialog.name(), dialog.multi())

    def _ask_rename_set(self) -> None:
        store, label_set = self.store, self.label_set
        if store and label_set and (name := ask_text(self, "Rename Label Set", label_set.name)):
            self._change("Renaming the label set", store.rename_set, label_set.id, name)

    def _ask_delete_set(self) -> None:
        store, label_set = self.store, self.label_set
        if store and label_set and confirm(
                self, "Delete Label Set", f"Delete {label_set.name!r} with its labels and "
                "trained heads? The photos are not affected."):
            self.label_set = None
            self._change("Deleting the label set", store.delete_set, label_set.id)

    def _ask_rename_label(self, label: Label) -> None:
        store = self.store
        if store and (name := ask_text(self, "Rename Label", label.name)):
            self._change("Renaming the label", store.rename_label, label.id, name)

    def _ask_delete_label(self, label: Label) -> None:
        store = self.store
        if store and confirm(self, "Delete Label", f"Delete {label.name!r} from "
                             f"{label.count} photos? The set must then be trained again."):
            self._change("Deleting the label", store.delete_label, label.id)

    def _on_new_label(self) -> None:
        self.add_label(self.new_label.text())
        self.new_label.clear()

    # -- training --------------------------------------------------------------------------

    def train(self) -> None:
        """Train the set's head in a worker, then predict the library (``trained`` after)."""
        self.train_box.train()

    def _on_trained(self, info: HeadInfo) -> None:
        self.trained.emit(info)
        if self.review.active:
            self.start_review()

    def _note(self, text: str, error: bool = False) -> None:
        self.review_info.setText(f"<span style='color:#b91c1c'>{text}</span>" if error
                                 else text)

    # -- review ----------------------------------------------------------------------------

    def start_review(self) -> None:
        if self.label_set is not None:
            names = {label.id: label.name for label in self.labels}
            self.review.start(self.label_set, names, self.order_box.currentData(),
                              self.order_box.currentText(), self.filter_box.currentData())

    def _on_order_chosen(self) -> None:
        if self.review.active:
            self.start_review()

    def accept(self) -> None:
        """Turn the suggestions for the selected photos into labels."""
        self.review.decide(accept=True)

    def reject(self) -> None:
        """Mark the suggestions for the selected photos as wrong ("not this label")."""
        self.review.decide(accept=False)

    def _on_review_active(self, active: bool) -> None:
        self.review_button.setChecked(active)
        self.review_button.setText("Stop Review" if active else "Review")
        if not active:
            self._load_label_badges()
        self._update_enabled()

    def _load_label_badges(self) -> None:
        """Outside review: each photo's labels of the set as its badge."""
        store, label_set = self.store, self.label_set
        if self._show_badges is None:
            return
        if store is None or label_set is None:
            self._show_badges({})
            return
        names = {label.id: label.name for label in self.labels}
        self.context.workers.run(label_badges, store, label_set.id, names,
                                 what="Loading the labels", on_result=self._on_label_badges)

    def _on_label_badges(self, badges: dict[int, str]) -> None:
        if not self.review.active and self._show_badges is not None:
            self._show_badges(badges)


@dataclass(frozen=True)
class PanelState:
    """What the panel shows of the catalog, read in a worker by :func:`read_panel_state`."""

    sets: list[LabelSet] = field(default_factory=list)
    label_set: LabelSet | None = None
    labels: list[Label] = field(default_factory=list)
    head: HeadInfo | None = None  # the chosen set's head for the library's model
    other_models: list[str] = field(default_factory=list)  # models with a head for the set


def read_panel_state(store: LabelStore, wanted: int | None, model: str) -> PanelState:
    """The sets, the chosen one (``wanted`` if it still exists, else the first), its labels
    and its head (call it in a worker: it reads the catalog)."""
    sets = store.sets()
    label_set = next((s for s in sets if s.id == wanted), sets[0] if sets else None)
    if label_set is None:
        return PanelState(sets)
    others = [m for m in trained_models(store.catalog, label_set.id) if m != model]
    return PanelState(sets, label_set, store.labels(label_set.id),
                      head_info(store.catalog, label_set.id, model), others)


def _unassign_all(store: LabelStore, label_ids: list[int], photo_ids: list[int]) -> None:
    for label_id in label_ids:
        store.unassign(label_id, photo_ids)


def _title(parent: QWidget, text: str) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("sectionTitle")
    return label


def _text(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label
