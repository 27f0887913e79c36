"""Help ▸ Keyboard Shortcuts and Help ▸ About."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import LookalikeError
from gui.actions import icon

VERSION = "0.1.0"
EXTRA_KEYS = [
    ("Click / Shift+Click / Ctrl+Click", "Select one / a range / several photos"),
    ("Arrow keys, Page Up/Down, Home/End", "Move through the grid"),
    ("Enter or double-click", "View the photo"),
    ("In the viewer: ← → / + − / 0 / 1", "Previous, next / zoom / fit / actual size"),
    ("In the viewer: PageUp PageDown / L", "Previous, next / keep the zoom for the next photos"),
    ("1 … 9", "Give the selected photos the label of that row (Labels panel)"),
    ("A / R", "Accept / reject the suggestion for the selected photos (review)"),
    ("In the map: Home, Shift+drag", "Fit all / select with a rectangle"),
    ("Drop an image on the window", "Find photos like it"),
]


class ShortcutsDialog(QDialog):
    """A table of every action with a shortcut, plus mouse and viewer keys."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 560)
        rows = [
            (" / ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                        for k in action.shortcuts()), action.text().replace("&", ""))
            for action in actions if action.shortcuts()
        ] + EXTRA_KEYS
        table = QTableWidget(len(rows), 2, self)
        table.setObjectName("shortcutsTable")
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().hide()
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        for row, (keys, text) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(text.rstrip("…")))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)


def show_about(parent: QWidget) -> QMessageBox:
    """The About box (non-blocking); returns it."""
    box = QMessageBox(parent)
    box.setWindowTitle("About Lookalike")
    box.setIconPixmap(icon("lookalike").pixmap(72, 72))
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(f"<h3>Lookalike {VERSION}</h3>"
                "<p>A photo browser that finds photos that look alike.</p>")
    box.setInformativeText(
        "Each photo is summarised by a convolutional network (torchvision); similar photos "
        "have similar summaries. Your photos are only read, never changed.<br><br>"
        "Built with PySide6, PyTorch, SQLite, annoy and UMAP. MIT licence.")
    box.open()
    return box


def show_error(parent: QWidget, what: str, exc: BaseException) -> QMessageBox:
    """One non-blocking dialog for a failure: our errors' own message (it says what to do),
    a short note for anything else (the traceback is in the log)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Lookalike", f"{what} failed.", parent=parent)
    if isinstance(exc, LookalikeError):
        box.setInformativeText(str(exc))
    else:
        box.setInformativeText(f"Something unexpected went wrong ({type(exc).__name__}: "
                               f"{exc}). The details are in the log.")
    box.open()
    return box


def offer_rebuild(parent: QWidget, exc: BaseException, rebuild: Callable[[], None]) -> QMessageBox:
    """Explain that the catalog is damaged (or too new) and offer to rebuild it (non-blocking).

    ``rebuild`` runs if the user accepts; the photos themselves are never touched.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, "Lookalike",
                      "This library's catalog cannot be used.", parent=parent)
    box.setInformativeText(
        f"{exc}\n\nRebuild sets the old catalog aside, starts a new one and recovers what "
        "can still be read (labels, trained heads, embeddings). Your photos are not affected.")
    rebuild_button = box.addButton("Rebuild Catalog", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.buttonClicked.connect(lambda button: rebuild() if button is rebuild_button else None)
    box.open()
    return box
