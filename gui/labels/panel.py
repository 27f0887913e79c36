"""The labelling panel: label sets, labels on the selection, training, review, export.

A dock beside the grid. Labels are buttons (keys 1-9) that act on the context's selection
(from the grid or the map); Train runs the head's training and the library's prediction in
a worker; Review (:mod:`gui.labels.review`) shows the photos the head suggests labels for in
the grid, A accepting and R rejecting them. The logic is in :mod:`core.labels`,
:mod:`core.labels.heads` and :mod:`core.labels.review`.
"""

from __future__ import annotations

from collections.abc import Callable

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
from core.labels.heads import HeadInfo
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

    @property
    def store(self) -> LabelStore | None:
        library = self.context.library
        return LabelStore(library.catalog) if library else None

    def refresh(self) -> None:
        """Read the sets, labels and head of the open library again."""
        store = self.store
        sets = store.sets() if store else []
        wanted = self.label_set.id if self.label_set else None
        self.set_box.blockSignals(True)
        self.set_box.clear()
        for label_set in sets:
            self.set_box.addItem(label_set.name, label_set.id)
        index = self.set_box.findData(wanted)
        self.set_box.setCurrentIndex(index if index >= 0 else (0 if sets else -1))
        self.set_box.blockSignals(False)
        chosen = self.set_box.currentData()
        self.label_set = next((s for s in sets if s.id == chosen), None)
        self.labels = store.labels(self.label_set.id) if store and self.label_set else []
        self._fill_rows()
        self.train_box.show_set(self.label_set)
        self._update_enabled()
        if not self.review.active:
            self._load_label_badges()

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

    # -- label sets and labels -------------------------------------------------------------

    def _on_set_chosen(self) -> None:
        self.review.stop()
        store, chosen = self.store, self.set_box.currentData()
        self.label_set = store.get_set(int(chosen)) if store and chosen is not None else None
        self.refresh()

    def create_set(self, name: str, multi: bool = False) -> None:
        if (store := self.store) is not None:
            self.label_set = store.create_set(name, multi=multi)
            self.context.labels_changed.emit()

    def add_label(self, name: str) -> None:
        if (store := self.store) is not None and self.label_set is not None and name.strip():
            store.ensure_label(self.label_set.id, name)
            self.context.labels_changed.emit()

    def apply(self, index: int) -> None:
        """Give the ``index``-th label to the selected photos (key ``index + 1``)."""
        store = self.store
        if store is None or not 0 <= index < len(self.labels) or not self.context.selection:
            return
        n = store.assign(self.labels[index].id, self.context.selection)
        self._note(f"{self.labels[index].name}: {n} photo{'s' if n != 1 else ''} labelled.")
        self.context.labels_changed.emit()

    def remove_from_selection(self, label: Label | None = None) -> None:
        """Take ``label`` (or every label of the set) off the selected photos."""
        store = self.store
        if store is None or not self.context.selection:
            return
        for each in [label] if label else self.labels:
            store.unassign(each.id, self.context.selection)
        self.context.labels_changed.emit()

    def filter_by(self, label_id: int | None) -> None:
        """Show only the photos with this label in the grid (None: the whole library)."""
        store = self.store
        if store is None or label_id is None or self.label_set is None:
            if self.context.query is not None and self.context.query is self._filter_query:
                self.context.set_query(None)
            return
        label = store.get_label(self.label_set.id, label_id)
        ids = store.photos_with(label.id)
        self._filter_query = Query((), (), tuple(Hit(i, 1.0) for i in ids),
                                   f"{self.label_set.name}: {label.name}",
                                   scored=False, noun="labelled")
        self.context.set_query(self._filter_query)

    def ask_new_set(self) -> None:
        dialog = NewSetDialog(self)
        if dialog.exec():
            self._guard(lambda: self.create_set(dialog.name(), dialog.multi()))

    def _ask_rename_set(self) -> None:
        store, label_set = self.store, self.label_set
        if store and label_set and (name := ask_text(self, "Rename Label Set", label_set.name)):
            self._guard(lambda: store.rename_set(label_set.id, name))
            self.context.labels_changed.emit()

    def _ask_delete_set(self) -> None:
        store, label_set = self.store, self.label_set
        if store and label_set and confirm(
                self, "Delete Label Set", f"Delete {label_set.name!r} with its labels and "
                "trained heads? The photos are not affected."):
            store.delete_set(label_set.id)
            self.label_set = None
            self.context.labels_changed.emit()

    def _ask_rename_label(self, label: Label) -> None:
        store = self.store
        if store and (name := ask_text(self, "Rename Label", label.name)):
            self._guard(lambda: store.rename_label(label.id, name))
            self.context.labels_changed.emit()

    def _ask_delete_label(self, label: Label) -> None:
        store = self.store
        if store and confirm(self, "Delete Label", f"Delete {label.name!r} from "
                             f"{label.count} photos? The set must then be trained again."):
            store.delete_label(label.id)
            self.context.labels_changed.emit()

    def _on_new_label(self) -> None:
        self._guard(lambda: self.add_label(self.new_label.text()))
        self.new_label.clear()

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a LabelError (name taken) or a disk error
            QMessageBox.warning(self, "Labels", str(exc))

    # -- training --------------------------------------------------------------------------

    def train(self) -> None:
        """Train the set's head in a worker, then predict the library (``trained`` after)."""
        self.train_box.train()

    def _on_trained(self, info: HeadInfo) -> None:
        self.context.labels_changed.emit()
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


def _title(parent: QWidget, text: str) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("sectionTitle")
    return label


def _text(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label
