"""Files that could not be read, with the reason, refreshed after each scan."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QLabel,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.catalog import Problem
from core.library import Library
from core.paths import display
from gui.context import AppContext

FILE_COLUMN_MIN, FILE_COLUMN_MAX = 100, 240  # px of the file column, narrowest dock to widest
WRAP_ROWS = 2_000  # above this many problems rows keep one line (re-wrapping costs)


class WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their texts wrapped at their column's width (a tree view alone sizes
    rows for one line), so that a reason is read whole in a narrow dock."""

    def __init__(self, view: QTreeWidget) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        if self.view.topLevelItemCount() > WRAP_ROWS:
            return hint
        width = max(20, self.view.columnWidth(index.column()) - 8)
        text = str(index.data() or "")
        bounds = option.fontMetrics.boundingRect(  # type: ignore[attr-defined]
            QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap), text)
        return QSize(hint.width(), max(hint.height(), bounds.height() + 4))


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
        self.list.setHeaderLabels(["File", "Reason"])
        self.list.setRootIsDecorated(False)
        self.list.setAlternatingRowColors(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long file names
        self.list.setWordWrap(True)  # a reason wraps onto more lines in a narrow dock
        self.list.setItemDelegate(WrappingDelegate(self.list))
        relayout = QTimer(self)  # rows re-wrap when a column's width changes
        relayout.setSingleShot(True)
        relayout.setInterval(0)
        relayout.timeout.connect(self.list.doItemsLayout)
        self.list.header().sectionResized.connect(lambda *_: relayout.start())
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
        self.list.resizeColumnToContents(0)  # at most ~half the dock: the reason gets the rest
        limit = max(FILE_COLUMN_MIN, min(FILE_COLUMN_MAX, self.list.viewport().width() // 2))
        self.list.setColumnWidth(0, min(self.list.columnWidth(0), limit))
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
