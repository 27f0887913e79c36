"""Running similarity queries off the GUI thread, with back/forward history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.library import Library
from core.paths import display
from gui.context import AppContext, Query

SIMILAR_LIMIT = 1000  # results shown for a query (the grid's worth of lookalikes)


def _run_query(library: Library, positives: tuple[int, ...], negatives: tuple[int, ...],
               file: str | None) -> Query:
    """In a worker thread: the query's hits and its caption."""
    k = max(1, min(SIMILAR_LIMIT, library.catalog.embedded_count(library.model_key)))
    if file is not None:
        own, hits = library.similar_to_file(Path(file), negatives, k)
        positives = (own,) if own is not None else ()
        label = f"Like {display(Path(file).name)}"
    else:
        hits = library.similar(list(positives), list(negatives), k)
        if len(positives) == 1:
            photo = library.catalog.photo(positives[0])
            label = f"Like {display(photo.path.name) if photo else 'this photo'}"
        else:
            label = f"Like these {len(positives)} photos"
    if negatives:
        label += f", not like {len(negatives)}"
    return Query(positives, negatives, tuple(hits), label, file)


class SearchController(QObject):
    """Find similar, more like these, not like this, search by image; history of queries."""

    history_changed = Signal()
    busy_changed = Signal(bool)
    message = Signal(str)  # a short note for the status bar

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._history: list[Query | None] = [None]
        self._pos = 0
        self._token = 0
        self.busy = False
        context.library_changed.connect(self._on_library_changed)

    # -- queries ---------------------------------------------------------------------------

    def find_similar(self, ids: Sequence[int]) -> None:
        """Rank the library by similarity to ``ids`` (one photo, or "more like these")."""
        if ids:
            self._start(tuple(dict.fromkeys(int(i) for i in ids)), (), None)

    def not_like(self, ids: Sequence[int]) -> None:
        """Refine the current query: ``ids`` are examples of what is not wanted."""
        query = self.context.query
        if query is None or not ids:
            return
        negatives = tuple(dict.fromkeys([*query.negatives, *(int(i) for i in ids)]))
        positives = tuple(i for i in query.positives if i not in negatives)
        if query.file is None and not positives:
            self.message.emit("A query needs at least one photo it is like.")
            return
        self._start(positives if query.file is None else (), negatives, query.file)

    def search_file(self, path: Path) -> None:
        """Find the library's photos that look like the image file at ``path``."""
        self._start((), (), str(path))

    def back_to_library(self) -> None:
        if self.context.query is not None:
            self._push(None)

    # -- history ---------------------------------------------------------------------------

    @property
    def can_back(self) -> bool:
        return self._pos > 0

    @property
    def can_forward(self) -> bool:
        return self._pos < len(self._history) - 1

    def back(self) -> None:
        if self.can_back:
            self._pos -= 1
            self._show()

    def forward(self) -> None:
        if self.can_forward:
            self._pos += 1
            self._show()

    def _push(self, query: Query | None) -> None:
        del self._history[self._pos + 1:]
        self._history.append(query)
        self._pos = len(self._history) - 1
        self._show()

    def _show(self) -> None:
        self.context.set_query(self._history[self._pos])
        self.history_changed.emit()

    # -- running ---------------------------------------------------------------------------

    def _start(self, positives: tuple[int, ...], negatives: tuple[int, ...],
               file: str | None) -> None:
        library = self.context.library
        if library is None:
            return
        self._token += 1
        token = self._token
        self._set_busy(True)
        self.context.workers.run(
            _run_query, library, positives, negatives, file,
            on_result=lambda query: self._on_result(token, library, query),
            on_error=lambda exc: self._on_error(token, exc),
        )

    def _on_result(self, token: int, library: Library, query: Query) -> None:
        if token != self._token or library is not self.context.library:
            return  # a newer query, or another library, superseded this one
        self._set_busy(False)
        self._push(query)
        self.context.prepare_search()  # exact search stood in: build the real index now

    def _on_error(self, token: int, exc: BaseException) -> None:
        if token != self._token:
            return
        self._set_busy(False)
        if isinstance(exc, KeyError):  # a photo without an embedding yet
            self.message.emit("That photo has not been analysed yet; try again in a moment.")
        else:  # LookalikeError (unreadable file, model missing) or a bug: one dialog
            self.context.workers.failed.emit("Search", exc)

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    def _on_library_changed(self) -> None:
        self._token += 1
        self._history, self._pos = [None], 0
        self._set_busy(False)
        self.history_changed.emit()
