""""My similarity" in the search bar: choose the similarity results are ranked by, mark
results as similar / not similar to the query, and learn a similarity from those judgements.
The bar is a row over the grid while it shows search results.

The widgets adapt :mod:`core.similarity`; every catalog read or write and the training run
in workers. Switching between the embedding's own similarity and a learnt one re-asks the
query (the base index stays loaded, so switching back is immediate).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from core.jobs import Job, Progress
from core.library import Library
from core.similarity import JudgementStore, learnt
from gui.context import AppContext
from gui.dialogs.finetune import FinetuneDialog
from gui.elided import ElidedLabel
from gui.grid.view import GridView
from gui.search import SearchController

BASE = "Embedding"  # the combo box's first entry: the model's own similarity
RETRAIN_DELAY_MS = 4000  # judgements made within this time retrain once


def _names(library: Library) -> tuple[list[str], dict[str, bool]]:
    """In a worker: the learnt similarities of the library's model, and which are stale."""
    with library.catalog.faults():
        names = learnt.names(library.catalog, library.model_key)
        stale = {n: learnt.is_stale(library.catalog,
                                    learnt.get(library.catalog, n, library.model_key))
                 for n in names}
    return names, stale


def _judge(library: Library, queries: tuple[int, ...], ids: tuple[int, ...],
           similar: bool) -> int:
    """In a worker: record that ``ids`` are (not) similar to each query photo."""
    store = JudgementStore(library.catalog)
    with library.catalog.faults():
        return sum(store.judge(q, ids if similar else (), () if similar else ids)
                   for q in queries)


def _marks(library: Library, queries: tuple[int, ...]) -> dict[int, bool]:
    """In a worker: photo id -> judged similar / not similar to the query's photos."""
    store = JudgementStore(library.catalog)
    marks: dict[int, bool] = {}
    with library.catalog.faults():
        for q in queries:
            marks.update(store.of_photo(q))
    return marks


def _toggle(library: Library, queries: tuple[int, ...], photo_id: int, similar: bool,
            undo: bool) -> dict[int, bool]:
    """In a worker: a tile's button marks the photo (or, pressed again, unmarks it)."""
    store = JudgementStore(library.catalog)
    with library.catalog.faults():
        for q in queries:
            if undo:
                store.forget(q, [photo_id])
            else:
                store.judge(q, [photo_id] if similar else (), () if similar else [photo_id])
    return _marks(library, queries)


def learn_and_project(library: Library, name: str,
                      cancel: threading.Event) -> Job[learnt.SimilarityInfo]:
    """Train the similarity, then project the library with it (one background job)."""
    with library.catalog.faults():
        yield from learnt.train(library.catalog, library.model_key, name, cancel=cancel)
        yield from learnt.project_library(library.catalog, library.model_key, name,
                                          cancel=cancel)
    return learnt.get(library.catalog, name, library.model_key)


class SimilarityBar(QWidget):
    """The search bar's similarity part: a chooser, judgement buttons and Learn."""

    message = Signal(str)  # a note for the status bar
    learnt = Signal(object)  # SimilarityInfo, after training and projecting
    finetuned = Signal(str)  # fine-tuned weights, the library embedded: search with them

    def __init__(self, context: AppContext, search: SearchController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context, self.search = context, search
        self.setObjectName("similarityBar")
        self._job = None
        self._token = 0
        self._retrain = QTimer(self)
        self._retrain.setSingleShot(True)
        self._retrain.setInterval(RETRAIN_DELAY_MS)
        self._retrain.timeout.connect(self._retrain_if_stale)
        self._stale: dict[str, bool] = {}
        self._grid: GridView | None = None
        self._marks_token = 0
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 0, 10, 4)
        row.setSpacing(4)
        self.mark_similar = self._action("✓ Similar", ["S"],
                                         "Mark the selected results as like the query")
        self.mark_not_similar = self._action("✗ Not Similar", ["D"],
                                             "Mark the selected results as not like the query")
        self.learn = self._action("Learn", ["Ctrl+Shift+L"],
                                  "Learn “my similarity” from the photos marked similar and "
                                  "not similar (and from the labels)")
        for action in (self.mark_similar, self.mark_not_similar):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            row.addWidget(button)
        row.addSpacing(12)
        row.addWidget(QLabel("Similarity:", self))
        self.box = QComboBox(self)
        self.box.setObjectName("similarityBox")
        self.box.setToolTip("What “alike” means for the results: the embedding's own "
                            "similarity, or one learnt from your judgements")
        self.box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.box.addItem(BASE, None)
        self.box.currentIndexChanged.connect(self._on_chosen)
        row.addWidget(self.box)
        self.learn_button = QToolButton(self)
        self.learn_button.setDefaultAction(self.learn)
        self.learn_button.setAutoRaise(True)
        row.addWidget(self.learn_button)
        self.finetune = QAction("Fine-Tune the Network…", self)
        self.finetune.setToolTip("Retrain the network's last stage on the judgements and "
                                 "labels: a new model for this library (slow on a CPU)")
        self.finetune.setStatusTip(self.finetune.toolTip())
        self.finetune.triggered.connect(self.open_finetune)
        finetune_button = QToolButton(self)
        finetune_button.setDefaultAction(self.finetune)
        finetune_button.setAutoRaise(True)
        finetune_button.setText("Fine-Tune…")
        row.addWidget(finetune_button)
        self.finetune_dialog: FinetuneDialog | None = None
        self.summary = ElidedLabel("", self)  # the last training's figures: elided, down
        self.summary.setObjectName("similaritySummary")  # to nothing (they are also in the
        self.summary.setMinimumWidth(1)  # status bar), so that they never widen the window
        row.addWidget(self.summary, 1)
        self.mark_similar.triggered.connect(lambda: self.judge(True))
        self.mark_not_similar.triggered.connect(lambda: self.judge(False))
        self.learn.triggered.connect(lambda: self.start_learning())
        search.judged.connect(self._on_judged)
        search.judged.connect(self._load_marks)
        context.library_changed.connect(self.refresh)
        context.query_changed.connect(self._update)
        context.query_changed.connect(self._load_marks)
        context.selection_changed.connect(self._update)
        self._update()

    def attach_grid(self, grid: GridView) -> None:
        """Judge results with the buttons on the grid's tiles, and show their marks there."""
        self._grid = grid
        grid.judge_clicked.connect(self.judge_tile)
        self._update()

    def _action(self, text: str, keys: Sequence[str], tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{tip} ({keys[0]})")
        action.setStatusTip(tip)
        self.addAction(action)
        return action

    # -- state -----------------------------------------------------------------------------

    @property
    def choice(self) -> str | None:
        return self.box.currentData()

    def refresh(self) -> None:
        """Read the library's learnt similarities again (in a worker)."""
        library = self.context.library
        self._token += 1
        token = self._token
        if library is None:
            self._fill([], {})
            return
        self.context.workers.run(_names, library, what="Reading the similarities",
                                 on_result=lambda r: token == self._token and self._fill(*r))

    def _fill(self, names: list[str], stale: dict[str, bool]) -> None:
        current = self.choice
        self._stale = stale
        self.box.blockSignals(True)
        self.box.clear()
        self.box.addItem(BASE, None)
        for name in names:
            self.box.addItem(f"{name} (out of date)" if stale.get(name) else name, name)
        index = self.box.findData(current)
        self.box.setCurrentIndex(max(0, index))
        self.box.blockSignals(False)
        if self.choice != self.search.similarity:
            self.search.set_similarity(self.choice)
        self._update()

    def _update(self, *_: object) -> None:
        query = self.context.query
        self.setVisible(query is not None)  # a row over search results only
        judgeable = (query is not None and query.scored and len(query.positives) > 0
                     and any(i not in query.positives for i in self.context.selection))
        self.mark_similar.setEnabled(judgeable)
        self.mark_not_similar.setEnabled(judgeable)
        if self._grid is not None:
            self._grid.set_judging(query is not None and query.scored
                                   and len(query.positives) > 0)
        running = self._job is not None
        self.learn.setEnabled(self.context.library is not None and not running)
        self.finetune.setEnabled(self.context.library is not None)
        self.learn.setText("Learning…" if running else "Learn")

    def _on_chosen(self) -> None:
        self.search.set_similarity(self.choice)

    # -- judgements and learning -----------------------------------------------------------

    def judge(self, similar: bool) -> None:
        """The selected results are (not) like the current query's photos."""
        library, query = self.context.library, self.context.query
        if library is None or query is None or not query.positives:
            return
        ids = tuple(i for i in self.context.selection if i not in query.positives)
        if not ids:
            return
        word = "similar" if similar else "not similar"
        self.context.workers.run(
            _judge, library, query.positives, ids, similar, what="Recording judgements",
            on_result=lambda n: (self.message.emit(f"Marked {len(ids)} as {word}."),
                                 self._on_judged(), self._load_marks()))

    def judge_tile(self, photo_id: int, similar: bool) -> None:
        """A tile's button: mark the result (not) like the query; the same button again
        takes the mark back."""
        library, query = self.context.library, self.context.query
        if library is None or query is None or not query.positives or self._grid is None:
            return
        undo = self._grid.photo_model().judgement(photo_id) is similar
        word = "no longer marked" if undo else "marked similar" if similar else (
            "marked not similar")
        self._marks_token += 1
        token = self._marks_token
        self.context.workers.run(
            _toggle, library, query.positives, photo_id, similar, undo,
            what="Recording a judgement",
            on_result=lambda marks: (self._show_marks(token, marks),
                                     self.message.emit(f"{self._name(photo_id)} {word}."),
                                     self._on_judged()))

    def _name(self, photo_id: int) -> str:
        assert self._grid is not None
        return self._grid.photo_model().cache.name(photo_id) or "The photo"

    def _load_marks(self, *_: object) -> None:
        """Read the marks of the current query's results (in a worker)."""
        library, query = self.context.library, self.context.query
        self._marks_token += 1
        token = self._marks_token
        if self._grid is None:
            return
        if library is None or query is None or not query.positives:
            self._grid.photo_model().set_judgements({})
            return
        self.context.workers.run(_marks, library, query.positives, what="Reading judgements",
                                 on_result=lambda marks: self._show_marks(token, marks))

    def _show_marks(self, token: int, marks: dict[int, bool]) -> None:
        if token == self._marks_token and self._grid is not None:
            self._grid.photo_model().set_judgements(marks)

    def _on_judged(self) -> None:
        """Judgements changed: a learnt similarity in use retrains after a pause."""
        if self.box.count() > 1:
            self._retrain.start()

    def _retrain_if_stale(self) -> None:
        name = self.choice or (self.box.itemData(1) if self.box.count() > 1 else None)
        if name is not None and self._job is None:
            self.start_learning(name)

    def start_learning(self, name: str | None = None) -> None:
        """Train (or retrain) a similarity and project the library, in the background."""
        library = self.context.library
        if library is None or self._job is not None:
            return
        name = name or self.choice or learnt.DEFAULT_NAME
        handle = self.context.workers.start_job(
            "Learning a similarity", lambda cancel: learn_and_project(library, name, cancel))
        handle.progressed.connect(self._on_progress)
        handle.succeeded.connect(self._on_learnt)
        handle.failed.connect(lambda exc: self.message.emit(str(exc)))
        handle.ended.connect(self._on_ended)
        self._job = handle
        self._update()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def open_finetune(self) -> FinetuneDialog:
        """The fine-tuning dialog (one at a time; it keeps running when hidden)."""
        if self.finetune_dialog is None:
            self.finetune_dialog = FinetuneDialog(self.context, self.window())
            self.finetune_dialog.use_weights.connect(self.finetuned)
        self.finetune_dialog.show()
        self.finetune_dialog.raise_()
        return self.finetune_dialog

    def _on_progress(self, progress: Progress) -> None:
        self.message.emit(f"Learning the similarity: {progress.text}")

    def _on_learnt(self, sim: learnt.SimilarityInfo) -> None:
        summary = (f"“{sim.name}” v{sim.version}: held-out triplets ordered correctly "
                   f"{sim.before:.0%} before, {sim.after:.0%} after")
        self.summary.setText(f"held-out triplets ordered {sim.before:.0%} → {sim.after:.0%}")
        self.summary.set_fixed_tooltip(summary)
        self.message.emit(summary)
        self.learnt.emit(sim)
        if self.box.findData(sim.name) < 0:
            self.box.addItem(sim.name, sim.name)
        self.box.setCurrentIndex(self.box.findData(sim.name))  # rank by it from now on
        self.refresh()

    def _on_ended(self) -> None:
        self._job = None
        self._update()
