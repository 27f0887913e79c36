"""When the model's weights cannot be loaded: say why in plain words, and offer a way
forward: a model that needs no download, a weights file, or a retry."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from core.embed.models import MODELS
from gui.dialogs import files


class WeightsMissingDialog(QMessageBox):
    """Non-blocking: emits ``model_chosen(name)``, ``file_chosen(path)`` or
    ``retry_requested``; Cancel closes. :meth:`offer_models` adds a button per model whose
    weights are at hand (found in a worker thread by ``core.embed.offline``)."""

    file_chosen = Signal(str)
    model_chosen = Signal(str)
    retry_requested = Signal()

    def __init__(self, message: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("weightsDialog")
        self.setWindowTitle("Model weights unavailable")
        self.setIcon(QMessageBox.Icon.Warning)
        self.setText("Lookalike cannot load the network it uses to compare photos.")
        self._message = message
        self._show_text([])
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_buttons: list[QPushButton] = []
        self.choose_button = QPushButton("Choose Weights File…")
        self.retry_button = QPushButton("Retry")
        self.addButton(self.choose_button, QMessageBox.ButtonRole.AcceptRole)
        self.addButton(self.retry_button, QMessageBox.ButtonRole.AcceptRole)
        self.addButton(QMessageBox.StandardButton.Cancel)
        self.choose_button.clicked.connect(self._choose)
        self.retry_button.clicked.connect(self.retry_requested)

    def offer_models(self, names: list[str]) -> None:
        """Offer these models (their weights need no download) as the first buttons."""
        for name in names[:2]:
            button = QPushButton(f"Use {name}")
            button.setToolTip(MODELS[name].description if name in MODELS else name)
            button.clicked.connect(lambda _checked=False, n=name: self.model_chosen.emit(n))
            self.addButton(button, QMessageBox.ButtonRole.AcceptRole)
            self.model_buttons.append(button)
        self._show_text(names[:2])

    def _show_text(self, offline: list[str]) -> None:
        way = (f"Use {' or '.join(offline)} instead: its weights are on this computer "
               "already, so it works offline (photos are analysed again with it). Or "
               if offline else "")
        self.setInformativeText(
            f"{self._message}\n\n{way}{'c' if offline else 'C'}hoose a weights file you "
            "downloaded, or connect to the internet and retry. The photos found so far "
            "stay listed.")

    def _choose(self) -> None:
        path = files.open_file(self.parentWidget(), None, "Weights file",
                               "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.file_chosen.emit(str(path))
