"""The search box above the grid: type an everyday word ("dog") to show only the photos whose
keywords include it (any breed). It completes the words the classifier knows."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget
from superqt.utils import qdebounced

from core.keywords import vocabulary


class KeywordBox(QLineEdit):
    """A line edit that emits :attr:`keyword_changed` (stripped, lower case) once typing
    pauses, or at once on Enter; empty text means "no filter"."""

    keyword_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keywordBox")
        self.setPlaceholderText("Search: dog, flower, car…")
        self.setToolTip("Show the photos whose keywords include a word (what the network sees)")
        self.setClearButtonEnabled(True)
        self.setMinimumWidth(110)
        self.setMaximumWidth(220)
        completer = QCompleter(vocabulary().word_list(), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.setCompleter(completer)
        self._sent = ""
        self.textChanged.connect(self._typed)
        self.returnPressed.connect(self._send)

    @property
    def keyword(self) -> str:
        """The word being searched for ("" when none)."""
        return self._sent

    @qdebounced(timeout=250)
    def _typed(self, _text: str = "") -> None:
        self._send()

    def _send(self) -> None:
        word = self.text().strip().lower()
        if word != self._sent:
            self._sent = word
            self.keyword_changed.emit(word)
