"""When the model's weights cannot be loaded: say why, offer a file or a retry."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from gui.dialogs import files


class WeightsMissingDialog(QMessageBox):
    """Non-blocking: emits ``file_chosen(path)`` or ``retry_requested``; Cancel closes."""

    file_chosen = Signal(str)
    retry_requested = Signal()

    def __init__(self, message: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("weightsDialog")
        self.setWindowTitle("Model weights unavailable")
        self.setIcon(QMessageBox.Icon.Warning)
        self.setText("Lookalike cannot load the network it uses to compare photos.")
        self.setInformativeText(
            f"{message}\n\nChoose a weights file you downloaded, or connect to the internet "
            "and retry. The photos found so far stay listed.")
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose Weights File…")
        self.retry_button = QPushButton("Retry")
        self.addButton(self.choose_button, QMessageBox.ButtonRole.AcceptRole)
        self.addButton(self.retry_button, QMessageBox.ButtonRole.AcceptRole)
        self.addButton(QMessageBox.StandardButton.Cancel)
        self.choose_button.clicked.connect(self._choose)
        self.retry_button.clicked.connect(self.retry_requested)

    def _choose(self) -> None:
        path = files.open_file(self.parentWidget(), None, "Weights file",
                               "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.file_chosen.emit(str(path))
