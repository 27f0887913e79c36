"""The review of a head's suggestions: the queue shown in the grid, accept and reject.

The queue (from :func:`core.labels.review.review_queue`, computed in a worker) becomes the grid's
listing through the context's query, each tile badged with its suggestion ("beach 87%").
Accepting labels the selected photos (source "accepted prediction"), rejecting marks them
"not this label"; either way the badge turns into ✓ or ✗ and the next photo is selected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from PySide6.QtCore import QObject, Signal

from core.index import Hit
from core.labels import SOURCE_ACCEPTED, LabelSet, LabelStore
from core.labels.review import Suggestion, review_queue
from gui.context import AppContext, Query

Badges = Callable[[Mapping[int, str]], None]


class ReviewSession(QObject):
    """Suggestions of one label set under review; at most one at a time."""

    suggestions_changed = Signal(object, object)  # {photo id: badge text}, ids in order
    status = Signal(str)  # "12 to review · 3 decided"
    active_changed = Signal(bool)

    def __init__(self, context: AppContext, show_badges: Badges | None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.show_badges = show_badges
        self.label_set: LabelSet | None = None
        self.names: dict[int, str] = {}
        self.queue: list[Suggestion] = []
        self.decided: dict[int, str] = {}  # photo id -> badge after accept/reject
        self.query: Query | None = None
        self._token = 0
        context.query_changed.connect(self._on_query_changed)

    @property
    def active(self) -> bool:
        return self.label_set is not None

    def start(self, label_set: LabelSet, names: dict[int, str], order: str,
              order_text: str, label_id: int | None = None) -> None:
        """Load the set's queue in ``order`` ("uncertain" or "confident") and show it;
        with ``label_id``, only suggestions of that label (e.g. its most confident)."""
        library = self.context.library
        if library is None:
            return
        self._token += 1
        token = self._token
        self.label_set, self.names = label_set, names
        self.active_changed.emit(True)
        self.context.workers.run(
            partial(review_queue, order=order, label_id=label_id), library.catalog,
            label_set.id, library.model_key,
            on_result=lambda queue: self._on_queue(token, queue, order_text
                                                   + (f", {names[label_id]}" if label_id in names
                                                      else "")),
            what="Loading the suggestions")

    def stop(self) -> None:
        """Leave the review: back to the library listing, badges showing labels again."""
        if not self.active:
            return
        self._token += 1
        self.label_set, self.queue, self.decided = None, [], {}
        query, self.query = self.query, None
        if query is not None and self.context.query is query:
            self.context.set_query(None)
        self.suggestions_changed.emit({}, [])
        self.active_changed.emit(False)

    def decide(self, accept: bool) -> int:
        """Accept (or reject) the suggestions for the selected photos; how many."""
        library = self.context.library
        suggestions = {s.photo_id: s for s in self.queue}
        chosen = [suggestions[i] for i in self.context.selection if i in suggestions]
        if library is None or not chosen:
            return 0
        for s in chosen:
            self.decided[s.photo_id] = f"{'✓' if accept else '✗'} {self.names.get(s.label_id)}"
        self.context.workers.run(store_decisions, library.labels,
                                 [(s.label_id, s.photo_id) for s in chosen], accept,
                                 what="Storing the review's decisions")
        self._publish()
        self._select_next()
        return len(chosen)

    def pending(self) -> list[int]:
        return [s.photo_id for s in self.queue if s.photo_id not in self.decided]

    def _on_queue(self, token: int, queue: list[Suggestion], order_text: str) -> None:
        if token != self._token or self.label_set is None:
            return
        self.queue, self.decided = queue, {}
        self.query = Query((), (), tuple(Hit(s.photo_id, s.confidence) for s in queue),
                           f"Review {self.label_set.name}: {order_text.lower()}",
                           scored=False, noun="to review")
        self.context.set_query(self.query)
        self._publish()
        if not queue:
            self.status.emit("Nothing to review: train first, or every photo is labelled.")
        self._select_next()

    def _publish(self) -> None:
        badges = {s.photo_id: self.decided.get(
            s.photo_id, f"{self.names.get(s.label_id, '?')} {s.confidence:.0%}")
            for s in self.queue}
        if self.show_badges is not None:
            self.show_badges(badges)
        self.suggestions_changed.emit(badges, [s.photo_id for s in self.queue])

    def _select_next(self) -> None:
        pending = self.pending()
        if pending:
            self.context.set_selection([pending[0]])
            self.context.set_current(pending[0])
        if self.query is not None and self.context.query is self.query:
            self.context.query_counted.emit(f"{len(pending)} to review")
        if self.queue:
            self.status.emit(f"{len(pending)} to review · {len(self.decided)} decided · "
                             "A accept · R reject · then Train again")

    def _on_query_changed(self, query: Query | None) -> None:
        if self.query is not None and query is not self.query:
            self.stop()  # the user went elsewhere (back to the library, a search)


def store_decisions(store: LabelStore, decisions: list[tuple[int, int]], accept: bool) -> None:
    """Accept (label) or reject ("not this label") each (label id, photo id) (in a worker)."""
    for label_id, photo_id in decisions:
        if accept:
            store.assign(label_id, [photo_id], source=SOURCE_ACCEPTED)
        else:
            store.reject(label_id, [photo_id])


def label_badges(store: LabelStore, set_id: int, names: dict[int, str]) -> dict[int, str]:
    """Each labelled photo's labels of the set, as badge text (call it in a worker)."""
    return {pid: ", ".join(names.get(i, "?") for i in ids)
            for pid, ids in store.photo_labels(set_id).items()}
