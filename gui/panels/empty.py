"""What the window shows before a library is open: an Open button and recent folders."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from core.paths import display
from gui.actions import icon


class EmptyState(QWidget):
    """A friendly start page."""

    open_requested = Signal()
    recent_chosen = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.setSpacing(14)
        logo = QLabel(self)
        logo.setPixmap(icon("lookalike").pixmap(QSize(96, 96)))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("Find the photos that look alike", self)
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Open a folder of photos: Lookalike reads it in the background (your "
                      "files are never changed).\nThen pick a photo and press F to see its "
                      "lookalikes, or drop any image on this window.", self)
        hint.setObjectName("emptyHint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton(icon("folder-open"), "  Open Folder…", self)
        self.open_button.setObjectName("primaryButton")
        self.open_button.setIconSize(QSize(20, 20))
        self.open_button.clicked.connect(self.open_requested)
        self.recent_title = QLabel("Recent folders", self)
        self.recent_title.setObjectName("emptySection")
        self.recent_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(2)
        for widget in (logo, title, hint):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addSpacing(12)
        layout.addWidget(self.recent_title)
        layout.addLayout(self.recent_box)

    def set_recent(self, folders: list[Path]) -> None:
        while self.recent_box.count():
            widget = self.recent_box.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.recent_title.setVisible(bool(folders))
        for folder in folders:
            button = QPushButton(display(folder), self)
            button.setObjectName("recentButton")
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, f=folder: self.recent_chosen.emit(f))
            self.recent_box.addWidget(button, 0, Qt.AlignmentFlag.AlignCenter)
