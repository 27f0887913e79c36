"""Running similarity queries off the GUI thread, with back/forward history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.faces.filter import photos_of_people, similar_among
from core.library import Library
from core.paths import display
from core.similarity import SOURCE_FEEDBACK, JudgementStore
from core.similarity.search import SimilaritySearches
from core.video import clock
from gui.context import AppContext, Query

SIMILAR_LIMIT = 1000  # results shown for a query (the grid's worth of lookalikes)


def _run_query(library: Library, positives: tuple[int, ...], negatives: tuple[int, ...],
               file: str | None, similarity: str | None = None,
               searches: SimilaritySearches | None = None, moment: float | None = None,
               person: str | None = None,
               region: tuple[float, float, float, float] | None = None) -> Query:
    """In a worker thread: the query's hits and its caption (``similarity``: rank by that
    learnt similarity, through ``searches``, instead of the embedding's own; ``moment``: by
    a video clip at that time, its kept frame there; ``person``: among the photos showing
    that named person only; ``region``: by that part of the photo ``positives[0]``, the
    photos ranked by their best-matching region)."""
    k = max(1, min(SIMILAR_LIMIT, library.catalog.embedded_count(library.model_key)))
    if region is not None:
        return _region_query(library, positives[0], region, k)
    within = photos_of_people(library.catalog, [person]) if person else None
    if within is not None and moment is None and similarity is None:
        own, hits = similar_among(library, within, positives, negatives,
                                  Path(file) if file else None, k)
        positives = (own,) if file is not None and own is not None else positives
    elif moment is not None:
        hits = library.similar_to_moment(positives[0], moment, k)
    elif similarity is not None and searches is not None:
        with library.catalog.faults():
            if file is not None:
                own = library.photo_at(Path(file))
                hits = searches.similar(similarity, (), negatives, k,
                                        vector=library.embed_file(Path(file)),
                                        exclude={own.id} if own else ())
                positives = (own.id,) if own is not None else ()
            else:
                hits = searches.similar(similarity, positives, negatives, k)
    elif file is not None:
        own, hits = library.similar_to_file(Path(file), negatives, k)
        positives = (own,) if own is not None else ()
    else:
        hits = library.similar(list(positives), list(negatives), k)
    if file is not None:
        label = f"Like {display(Path(file).name)}"
    elif len(positives) == 1:
        photo = library.catalog.photo(positives[0])
        label = f"Like {display(photo.path.name) if photo else 'this photo'}"
    else:
        label = f"Like these {len(positives)} photos"
    if moment is not None:
        label += f" at {clock(moment)}"
    if negatives:
        label += f", not like {len(negatives)}"
    if similarity is not None:
        label += f" · {similarity}"
    if within is not None:  # a learnt similarity or a moment: its best 1,000, filtered
        hits = [h for h in hits if h.photo_id in within]
        label += f" · with {person}"
    return Query(positives, negatives, tuple(hits), label, file)


def _region_query(library: Library, photo_id: int, region: tuple[float, float, float, float],
                  k: int) -> Query:
    """In a worker thread: the photos with a region like ``region`` of the photo."""
    photo = library.catalog.photo(photo_id)
    if photo is None:
        raise KeyError(photo_id)
    _, hits = library.similar_to_region(photo.path, region, k)
    hits = [h for h in hits if h.photo_id != photo_id]
    name = display(photo.path.name)
    return Query((photo_id,), (), tuple(hits), f"Region of {name}", noun="matches",
                 region=region)


def _record_feedback(library: Library, positives: tuple[int, ...],
                     negatives: tuple[int, ...]) -> int:
    """In a worker thread: "more like these" and "not like this" as judgements."""
    store = JudgementStore(library.catalog)
    with library.catalog.faults():
        n = store.alike(positives) if len(positives) > 1 else 0
        for query in positives:
            n += store.judge(query, (), negatives, source=SOURCE_FEEDBACK)
    return n


class SearchController(QObject):
    """Find similar, more like these, not like this, search by image; history of queries."""

    history_changed = Signal()
    busy_changed = Signal(bool)
    message = Signal(str)  # a short note for the status bar
    judged = Signal()  # search feedback was recorded as judgements

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._history: list[Query | None] = [None]
        self._pos = 0
        self._token = 0
        self.busy = False
        self.similarity: str | None = None  # a learnt similarity to rank by, None: the base
        self.person: str | None = None  # only photos showing this person (the grid's filter)
        self._searches: SimilaritySearches | None = None
        context.library_changed.connect(self._on_library_changed)

    # -- queries ---------------------------------------------------------------------------

    def find_similar(self, ids: Sequence[int]) -> None:
        """Rank the library by similarity to ``ids`` (one photo, or "more like these")."""
        if ids:
            positives = tuple(dict.fromkeys(int(i) for i in ids))
            if len(positives) > 1:
                self._feedback(positives, ())
            self._start(positives, (), None)

    def find_similar_moment(self, clip_id: int, at: float) -> None:
        """Rank the library by similarity to a clip at ``at`` seconds (its kept frame)."""
        self._start((int(clip_id),), (), None, at)

    def find_region(self, photo_id: int, box: tuple[float, float, float, float]) -> None:
        """Rank the library by its photos' best region like ``box`` of ``photo_id``."""
        x, y, w, h = (float(v) for v in box)
        self._start((int(photo_id),), (), None, region=(x, y, w, h))

    def not_like(self, ids: Sequence[int]) -> None:
        """Refine the current query: ``ids`` are examples of what is not wanted."""
        query = self.context.query
        if query is None or not ids:
            return
        if query.region is not None:
            self.message.emit("A region search cannot be refined with “Not like this”.")
            return
        negatives = tuple(dict.fromkeys([*query.negatives, *(int(i) for i in ids)]))
        positives = tuple(i for i in query.positives if i not in negatives)
        if query.file is None and not positives:
            self.message.emit("A query needs at least one photo it is like.")
            return
        self._feedback(positives, tuple(i for i in negatives if i not in query.negatives))
        self._start(positives if query.file is None else (), negatives, query.file)

    def set_similarity(self, name: str | None) -> None:
        """Rank by the learnt similarity ``name`` (None: the embedding's own); the query
        shown is asked again."""
        if name == self.similarity:
            return
        self.similarity = name
        query = self.context.query
        if (query is not None and query.scored and query.region is None
                and (query.positives or query.file)):
            self._start(query.positives if query.file is None else (), query.negatives,
                        query.file)

    def set_person(self, name: str | None) -> None:
        """Rank among the photos showing the person ``name`` only (None: all photos); the
        similarity query shown is asked again."""
        if name == self.person:
            return
        self.person = name
        query = self.context.query
        if (query is not None and query.scored and query.region is None
                and (query.positives or query.file)):
            self._start(query.positives if query.file is None else (), query.negatives,
                        query.file)

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
               file: str | None, moment: float | None = None,
               region: tuple[float, float, float, float] | None = None) -> None:
        library = self.context.library
        if library is None:
            return
        self._token += 1
        token = self._token
        self._set_busy(True)
        if self._searches is None or self._searches.catalog is not library.catalog:
            self._searches = SimilaritySearches(library.catalog, library.model_key)
        self.context.workers.run(
            _run_query, library, positives, negatives, file, self.similarity, self._searches,
            moment, self.person, region,
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
        elif isinstance(exc, LookupError):  # a region search before any region is stored
            self.message.emit("The photos' regions are not analysed yet; try again once the "
                              "library is indexed.")
        else:  # LookalikeError (unreadable file, model missing) or a bug: one dialog
            self.context.workers.failed.emit("Search", exc)

    def _feedback(self, positives: tuple[int, ...], negatives: tuple[int, ...]) -> None:
        library = self.context.library
        if library is not None and positives and (len(positives) > 1 or negatives):
            self.context.workers.run(_record_feedback, library, positives, negatives,
                                     on_result=lambda n: n and self.judged.emit(),
                                     what="Recording the feedback")

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    def _on_library_changed(self) -> None:
        self._token += 1
        self._searches, self.similarity, self.person = None, None, None
        self._history, self._pos = [None], 0
        self._set_busy(False)
        self.history_changed.emit()
