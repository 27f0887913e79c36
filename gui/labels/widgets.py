"""Parts of the labelling panel: a label's row, the new-set dialog, the export menu, and the
validation figures as a small table."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.labels import Label, LabelSet
from core.labels.export import (
    export_json,
    export_labels_csv,
    export_predictions_csv,
    import_labels_csv,
    write_sidecars,
)
from core.labels.heads import HeadInfo
from gui.context import AppContext
from gui.dialogs import files

ROW_STYLE = """
#labelKey { color: #5b6270; background: #e9edf2; border-radius: 4px; padding: 1px 6px;
            font-family: monospace; }
#labelCount { color: #5b6270; min-width: 28px; }
QPushButton#labelButton { text-align: left; padding: 4px 8px; background: #eef2f7;
                          border: 1px solid #d5dbe3; border-radius: 6px; }
QPushButton#labelButton:hover { background: #dfe8f6; border-color: #9db6e3; }
QPushButton#labelButton:pressed { background: #cddcf4; }
"""


class LabelRow(QWidget):
    """A label: its key, a button that applies it to the selection, its photo count.
    Right-click for more (remove from the selection, show its photos, rename, delete)."""

    applied = Signal()
    removed = Signal()
    shown = Signal()
    renamed = Signal()
    deleted = Signal()

    def __init__(self, label: Label, key: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(ROW_STYLE)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.key = QLabel(str(key) if key else " ", self)
        self.key.setObjectName("labelKey")
        row.addWidget(self.key)
        self.button = QPushButton(label.name, self)
        self.button.setObjectName("labelButton")
        self.button.setToolTip(f"Label the selected photos {label.name!r}"
                               + (f" (key {key})" if key else ""))
        self.button.clicked.connect(self.applied)
        row.addWidget(self.button, 1)
        self.count = QLabel(f"{label.count}", self)
        self.count.setObjectName("labelCount")
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.count.setToolTip(f"{label.count} photos labelled, {label.negatives} marked "
                              "not this label")
        row.addWidget(self.count)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.button.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.button.customContextMenuRequested.connect(self._menu)

    def _menu(self) -> None:
        menu = QMenu(self)
        menu.addAction("Label Selected Photos", self.applied.emit)
        menu.addAction("Remove from Selected Photos", self.removed.emit)
        menu.addAction("Show These Photos", self.shown.emit)
        menu.addSeparator()
        menu.addAction("Rename…", self.renamed.emit)
        menu.addAction("Delete…", self.deleted.emit)
        menu.exec(self.cursor().pos())


class NewSetDialog(QDialog):
    """Name a new label set and say whether a photo may have several of its labels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New Label Set")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Name (e.g. Scene, Content, Keepers):", self))
        self.name_edit = QLineEdit(self)
        layout.addWidget(self.name_edit)
        self.single = QRadioButton("Single choice: one label per photo (interior / exterior)",
                                   self)
        self.single.setChecked(True)
        self.several = QRadioButton("Multi-label: any number per photo (mountain, lake, …)",
                                    self)
        layout.addWidget(self.single)
        layout.addWidget(self.several)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def name(self) -> str:
        return self.name_edit.text()

    def multi(self) -> bool:
        return self.several.isChecked()


class ExportMenu(QMenu):
    """Export labels and predictions (CSV, JSON, XMP sidecars) and import labels (CSV)."""

    def __init__(self, context: AppContext, current_set: Callable[[], LabelSet | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context, self.current_set = context, current_set
        self.addAction("Export Labels as CSV…", self._labels_csv)
        self.addAction("Export Labels and Predictions as JSON…", self._json)
        self.addAction("Export Predictions of This Set as CSV…", self._predictions_csv)
        self.addAction("Write Labels to XMP Sidecars…", self._sidecars)
        self.addSeparator()
        self.addAction("Import Labels from CSV…", self._import)

    def _save_path(self, title: str, name: str, kind: str) -> Path | None:
        return files.save_file(self.parentWidget(), self.context, title, name, kind)

    def _done(self, text: str) -> Callable[[object], None]:
        def show(result: object) -> None:
            QMessageBox.information(self.parentWidget(), "Labels", text.format(result))
        return show

    def _labels_csv(self) -> None:
        library = self.context.library
        path = library and self._save_path("Export Labels", "labels.csv", "CSV (*.csv)")
        if library and path:
            self.context.workers.run(export_labels_csv, library.catalog, path,
                                     on_result=self._done("{} label decisions written."),
                                     what="Exporting the labels")

    def _json(self) -> None:
        library = self.context.library
        path = library and self._save_path("Export Labels", "labels.json", "JSON (*.json)")
        if library and path:
            self.context.workers.run(export_json, library.catalog, path, library.model_key,
                                     on_result=self._done("{} label decisions written."),
                                     what="Exporting the labels")

    def _predictions_csv(self) -> None:
        library, label_set = self.context.library, self.current_set()
        path = library and label_set and self._save_path(
            "Export Predictions", f"{label_set.name}-predictions.csv", "CSV (*.csv)")
        if library and label_set and path:
            self.context.workers.run(export_predictions_csv, library.catalog, path,
                                     label_set.id, library.model_key,
                                     on_result=self._done("{} photos written."),
                                     what="Exporting the predictions")

    def _sidecars(self) -> None:
        library = self.context.library
        if library is None:
            return
        answer = QMessageBox.question(
            self.parentWidget(), "Write XMP Sidecars",
            "Write each labelled photo's labels as keywords into an .xmp file beside it "
            "(Lightroom, darktable and digiKam read them)? Existing sidecars are merged; "
            "the photos themselves are not changed.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        job = self.context.workers.start_job(
            "Writing XMP sidecars", lambda cancel: write_sidecars(library.catalog, cancel=cancel))
        job.succeeded.connect(lambda result: QMessageBox.information(
            self.parentWidget(), "Labels", f"{result.written} XMP sidecars written"
            + (f"; {len(result.failed)} could not be written." if result.failed else ".")))
        job.failed.connect(lambda exc: QMessageBox.warning(self.parentWidget(), "Labels",
                                                           str(exc)))

    def _import(self) -> None:
        library = self.context.library
        if library is None:
            return
        path = files.open_file(self.parentWidget(), self.context, "Import Labels", "CSV (*.csv)")
        if path:
            self.context.workers.run(import_labels_csv, library.catalog, Path(path),
                                     on_result=self._imported, what="Importing labels")

    def _imported(self, result: object) -> None:
        imported, unknown = getattr(result, "imported", 0), getattr(result, "unknown", 0)
        QMessageBox.information(self.parentWidget(), "Labels",
                                f"{imported} label decisions imported"
                                + (f"; {unknown} rows name photos not in this library."
                                   if unknown else "."))


def validation_html(info: HeadInfo) -> str:
    """The head's validation figures: one line, then a table per label."""
    v = info.validation
    kind = "Linear" if info.kind == "linear" else "Two-layer"
    rows = "".join(
        f"<tr><td>{html.escape(m.label)}</td><td align=right>{m.examples}</td>"
        f"<td align=right>{m.precision:.0%}</td><td align=right>{m.recall:.0%}</td></tr>"
        for m in v.per_label)
    return (f"<b>{kind} head v{info.version}: accuracy {v.accuracy:.0%}</b><br>"
            f"<span style='color:#5b6270'>{html.escape(v.method)} on {v.validated} photos, "
            f"trained in {info.seconds:.1f} s</span>"
            "<table cellspacing=0 cellpadding=2 width='100%' style='margin-top:4px'>"
            "<tr style='color:#5b6270'><td>label</td><td align=right>photos</td>"
            "<td align=right>precision</td><td align=right>recall</td></tr>"
            f"{rows}</table>{aggregation_html(info)}")


def aggregation_html(info: HeadInfo) -> str:
    """One line: whether predictions aggregate region scores (photos with many objects)."""
    a = info.aggregation
    if a is None:
        return ""
    verdict = ("<b>used</b>: predictions take the best regions" if a.used
               else "not used: the whole photo does as well")
    return (f"<div style='color:#5b6270; margin-top:4px'>Photos with many objects: mean of "
            f"the top {a.top_k} regions {a.regions_accuracy:.0%} vs whole photo "
            f"{a.photo_accuracy:.0%} ({a.validated} photos); {verdict}.</div>")


def compact_combo(parent: QWidget) -> QComboBox:
    """A combo box that may be narrower than its longest item (a narrow dock)."""
    box = QComboBox(parent)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    return box


def ask_text(parent: QWidget, title: str, text: str) -> str | None:
    """A one-line text from the user (None if cancelled or empty)."""
    name, ok = QInputDialog.getText(parent, title, "Name:", text=text)
    return name.strip() or None if ok else None


def confirm(parent: QWidget, title: str, text: str) -> bool:
    return QMessageBox.question(parent, title, text) == QMessageBox.StandardButton.Yes
