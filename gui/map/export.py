"""Export the map as a PNG: what to include, then where to save it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.map.render import render_png
from gui.dialogs import files

if TYPE_CHECKING:
    from gui.map.view import MapView


@dataclass(frozen=True)
class ExportOptions:
    """``whole``: the whole map drawn afresh at ``width`` px (else the view as shown)."""

    whole: bool = True
    legend: bool = True
    thumbnails: bool = True
    width: int = 2400


class MapExportDialog(QDialog):
    """Asks what the PNG shows; :meth:`options` reads the answer."""

    def __init__(self, parent: QWidget | None = None, *, can_render: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("mapExportDialog")
        self.setWindowTitle("Export the Map")
        self.whole = QRadioButton("The whole map, drawn afresh", self)
        self.view = QRadioButton("The view as shown on screen", self)
        self.whole.setChecked(can_render)
        self.whole.setEnabled(can_render)
        self.view.setChecked(not can_render)
        self.legend = QCheckBox("Legend", self)
        self.legend.setChecked(True)
        self.thumbnails = QCheckBox("Photos' thumbnails (else coloured dots)", self)
        self.thumbnails.setChecked(True)
        self.width = QSpinBox(self)
        self.width.setRange(800, 8000)
        self.width.setSingleStep(400)
        self.width.setValue(2400)
        self.width.setSuffix(" px wide")
        for option in (self.thumbnails, self.width):
            self.whole.toggled.connect(option.setEnabled)
            option.setEnabled(self.whole.isChecked())
        form = QFormLayout()
        form.addRow("Show:", self.whole)
        form.addRow("", self.view)
        form.addRow("Include:", self.legend)
        form.addRow("", self.thumbnails)
        form.addRow("Size:", self.width)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def options(self) -> ExportOptions:
        return ExportOptions(self.whole.isChecked(), self.legend.isChecked(),
                             self.thumbnails.isChecked(), self.width.value())


def default_name(library_root: Path | None) -> str:
    return f"{library_root.name}-map.png" if library_root is not None else "map.png"


def ask_and_export(view: MapView) -> None:
    """Ask what to include, then where to save (in the last folder used), then export."""
    dialog = MapExportDialog(view, can_render=view.result is not None)
    view.export_dialog = dialog
    if not dialog.exec():
        return
    library = view.context.library
    path = files.save_file(view, view.context, "Export the Map",
                           default_name(library.root if library else None),
                           "PNG images (*.png)")
    if path is not None:
        export_map(view, path, dialog.options())


def export_map(view: MapView, path: Path, options: ExportOptions) -> bool:
    """The whole map drawn afresh by :func:`core.map.render.render_png` (in a worker
    thread), or the view as shown, without the hover card; with or without the legend."""
    library, result = view.context.library, view.result
    if options.whole and result is not None:
        view.status.setText(f"Exporting the map to {path.name}…")
        view.context.workers.run(
            partial(render_png, catalog=library.catalog if library else None,
                    colouring=view.colouring, thumbnails=options.thumbnails,
                    size=options.width, legend=options.legend),
            result, path, what="Exporting the map",
            on_result=lambda written: view.status.setText(f"Map saved as {written}"))
        return True
    view.overlays.hover.clear()
    view.legend.entries.clearSelection()
    view.legend.entries.viewport().setAttribute(Qt.WidgetAttribute.WA_UnderMouse, False)
    area = view.plot.geometry()
    if options.legend:
        area = area.united(view.legend.geometry())
    return view.grab(area).save(str(path), "PNG")
