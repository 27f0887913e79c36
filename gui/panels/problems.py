"""Files that could not be read, with the reason, refreshed after each scan."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from core.catalog import Problem
from core.library import Library
from core.paths import display
from gui.context import AppContext


class ProblemsPanel(QWidget):
    """A list of (file, reason); double-click opens the file's folder."""

    count_changed = Signal(int)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.summary = QLabel("No problems.", self)
        self.summary.setObjectName("problemsSummary")
        self.summary.setWordWrap(True)
        self.list = QTreeWidget(self)
        self.list.setObjectName("problemsList")
        self.list.setHeaderLabels(["File", "Why it could not be read"])
        self.list.setRootIsDecorated(False)
        self.list.setAlternatingRowColors(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.header().setStretchLastSection(True)
        self.list.setMinimumWidth(0)
        self.list.itemDoubleClicked.connect(self._open_folder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        self._token = 0
        context.library_changed.connect(self.refresh)
        context.indexing_changed.connect(lambda running: running or self.refresh())

    def refresh(self) -> None:
        library = self.context.library
        self._token += 1
        token = self._token
        if library is None:
            self._show(token, None, [])
            return
        self.context.workers.run(library.catalog.problems, what="Reading the problems list",
                                 on_result=lambda rows: self._show(token, library, rows))

    def _show(self, token: int, library: Library | None, problems: list[Problem]) -> None:
        if token != self._token or library is not self.context.library:
            return
        self.list.clear()
        root = library.root if library else None
        for problem in problems:
            shown = problem.path.relative_to(root) if root else problem.path
            item = QTreeWidgetItem([display(shown), problem.reason])
            item.setToolTip(0, display(problem.path))
            item.setToolTip(1, problem.reason)  # the whole reason, however narrow the dock
            item.setData(0, 256, str(problem.path))
            self.list.addTopLevelItem(item)
        self.list.resizeColumnToContents(0)
        self.list.setColumnWidth(0, min(self.list.columnWidth(0), 240))
        n = len(problems)
        self.summary.setText(
            "Every file could be read." if n == 0 else
            f"{n:,} file{'s' if n != 1 else ''} could not be read and {'were' if n != 1 else 'was'}"
            " skipped. Fix or remove them, then rescan."
        )
        self.count_changed.emit(n)

    def _open_folder(self, item: QTreeWidgetItem) -> None:
        path = Path(item.data(0, 256))
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
