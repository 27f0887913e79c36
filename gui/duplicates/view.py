"""The Duplicates view: groups on the left; two photos of the current group side by side at
one zoom and position, with each side's kind, size, resolution, date and camera.

Keys: P picks the left photo (the rest of its group are rejected), X rejects it, Left/Right
step through the group's photos, Up/Down through the groups, Space swaps the two sides to
compare. Under the pair, a strip shows every photo of the group (the pick marked); a click
compares that photo with the pick. Decisions go to the catalog (never to the photos).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.decode import load_image
from core.duplicates import KINDS, PICK, REJECT, Group, Report, decide, find_groups
from core.duplicates.taste import Taste, train_taste
from core.errors import LookalikeError
from core.paths import display
from gui.context import AppContext
from gui.duplicates.compare import SyncedPair, difference, to_qimage
from gui.duplicates.strip import GroupStrip, load_thumbnails
from gui.elided import ElidedLabel

VIEW_SIDE = 1600  # longer side the photos are loaded at for comparison
INTRO = ("<p style='font-size:13pt; font-weight:600'>Copies, edits and bursts</p>"
         "<p>Press <b>Find duplicates</b> to group the photos of this library that are copies "
         "of each other (re-saved, resized, cropped or edited) or shots of one moment.</p>"
         "<p>Each group proposes the best photo. Compare two side by side at one zoom, "
         "then press P to pick or X to reject.<br>Decisions are kept in the catalog "
         "(<tt>lookalike duplicates --xmp</tt> writes them to sidecars, <tt>--rejects</tt> "
         "lists the rejects).<br>No photo is ever moved or deleted.</p>")


def load_pair(a: Path, b: Path) -> tuple[NDArray[np.uint8] | None, NDArray[np.uint8] | None]:
    """Both photos as RGB arrays (None for one that cannot be read). Runs in a worker."""
    out = []
    for path in (a, b):
        try:
            out.append(np.asarray(load_image(path, VIEW_SIDE).convert("RGB")))
        except LookalikeError:
            out.append(None)
    return out[0], out[1]


class DuplicatesView(QWidget):
    """Find, review and decide duplicate groups (see the module docstring for the keys)."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.groups: list[Group] = []
        self.group_row = -1
        self.photo_row = 0  # the left photo within the group
        self.swapped = False
        self._images: tuple[NDArray[np.uint8] | None, NDArray[np.uint8] | None] = (None, None)
        self._job = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.find_button = QPushButton("Find duplicates", self)
        self.kind_box = QComboBox(self)
        self.kind_box.addItems(["All kinds", *KINDS])
        self.summary = ElidedLabel("Find groups of copies, edits and bursts in this library.", self)
        self.diff_box = QCheckBox("Difference", self)
        self.taste_button = QPushButton("Learn my taste", self)
        self.taste_button.setToolTip("Train a small ranking head on the groups you decided "
                                     "and let it pick in the others")
        self.taste: Taste | None = None
        self.group_list = QListWidget(self)
        self.group_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.group_list.setWordWrap(True)
        self.group_list.setSpacing(2)
        self.pair = SyncedPair(self)
        self.captions = (QLabel(self), QLabel(self))
        for caption in self.captions:
            caption.setWordWrap(True)
            caption.setTextFormat(Qt.TextFormat.RichText)
        self.strip = GroupStrip(self)
        self.help = ElidedLabel("P pick · X reject · ←/→ photo · ↑/↓ group · Space swap · "
                                "wheel zooms both · click a photo below to compare it", self)
        self.intro = QLabel(INTRO, self)  # before a search, and when it found no group
        self.intro.setObjectName("emptyHint")
        self.intro.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.TextFormat.RichText)
        self.pages = QStackedWidget(self)
        self._layout()
        self.find_button.clicked.connect(self.find)
        self.taste_button.clicked.connect(self.learn_taste)
        self.group_list.currentRowChanged.connect(self._on_group)
        self.strip.photo_clicked.connect(self.show_photo)
        self.diff_box.toggled.connect(lambda _on: self._show_images())
        context.library_changed.connect(self._on_library)

    def _layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.find_button)
        bar.addWidget(self.kind_box)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.taste_button)
        bar.addWidget(self.diff_box)
        captions = QHBoxLayout()
        for caption in self.captions:
            captions.addWidget(caption, 1)
        right = QWidget(self)
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.pair, 1)
        column.addLayout(captions)
        column.addWidget(self.strip)
        column.addWidget(self.help)
        split = QSplitter(self)
        split.addWidget(self.group_list)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 900])
        self.pages.addWidget(self.intro)
        self.pages.addWidget(split)
        self.compare_page = split
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.pages, 1)

    def _show_intro(self, text: str = INTRO) -> None:
        """The explanation page instead of the empty list and pair (``text``: what to say)."""
        self.intro.setText(text)
        self.pages.setCurrentWidget(self.intro)

    # -- finding ---------------------------------------------------------------------------

    def find(self) -> None:
        """Find the groups in a worker thread."""
        library = self.context.library
        if library is None or (self._job is not None and self._job.running):
            return
        kind = self.kind_box.currentText()
        kinds = None if kind == "All kinds" else [kind]
        catalog, model, taste = library.catalog, library.model_key, self.taste
        self.summary.setText("Comparing photos…")
        self.find_button.setEnabled(False)
        self._job = self.context.workers.start_job(
            "finding duplicates", lambda cancel: find_groups(catalog, model, kinds=kinds,
                                                              taste=taste, cancel=cancel))
        self._job.progressed.connect(
            lambda p: self.summary.setText(f"{p.phase.capitalize()}: {p.done} of {p.total}"))
        self._job.succeeded.connect(self._on_found)
        self._job.ended.connect(lambda: self.find_button.setEnabled(True))
        self._job.failed.connect(lambda exc: self.summary.setText(f"Could not: {exc}"))

    def learn_taste(self) -> None:
        """Train the taste head on the decided groups (a worker), then find again with it."""
        library = self.context.library
        if library is None:
            return
        self.taste_button.setEnabled(False)
        self.summary.setText("Learning your taste from your decisions…")
        job = self.context.workers.start_job(
            "learning your taste", lambda cancel: train_taste(library.catalog,
                                                              library.model_key, cancel=cancel))
        job.succeeded.connect(self._on_taste)
        job.failed.connect(lambda exc: self.summary.setText(f"Cannot learn your taste yet: {exc}"))
        job.ended.connect(lambda: self.taste_button.setEnabled(True))
        self._taste_job = job

    def _on_taste(self, taste: Taste) -> None:
        self.taste = taste
        agreed = ("no held-out group yet" if taste.agreement is None else
                  f"it agreed with {taste.agreement:.0%} of {taste.held_out} held-out picks")
        self.summary.setText(f"Learned your taste: {agreed}. Finding again…")
        self.find()

    def _on_found(self, report: Report) -> None:
        self.groups = list(report.groups)
        rejects = sum(len(g.rejects()) for g in self.groups)
        self.summary.setText(f"{len(self.groups)} groups among {report.photos} photos, "
                             f"{rejects} rejects proposed or decided")
        self.group_list.clear()
        for n, group in enumerate(self.groups):
            self.group_list.addItem(self._group_text(n, group))
        if self.groups:
            self.pages.setCurrentWidget(self.compare_page)
            self.group_list.setCurrentRow(0)
        else:
            self._show_intro(f"<p style='font-size:13pt; font-weight:600'>No duplicates "
                             f"among {report.photos} photos</p><p>No two photos are copies, "
                             "edits or a burst of each other by this search"
                             f"{'' if self.kind_box.currentIndex() == 0 else ' of that kind'}"
                             ".</p>")

    def _on_library(self) -> None:
        self.groups, self.group_row = [], -1
        self.group_list.clear()
        self.pair.left.set_image(None)
        self.pair.right.set_image(None)
        self.strip.clear()
        self.strip.group = None
        self._show_intro()

    @staticmethod
    def _group_text(n: int, group: Group) -> str:
        state = "✓ decided" if group.decided else "proposed"
        pick = next(p for p in group.photos if p.id == group.pick)
        return (f"{n + 1}. {', '.join(group.kinds)}\n    {len(group.photos)} photos · {state}"
                f" · best: {display(pick.path.name)}")

    # -- the current pair ------------------------------------------------------------------

    @property
    def group(self) -> Group | None:
        return self.groups[self.group_row] if 0 <= self.group_row < len(self.groups) else None

    def sides(self) -> tuple[int, int]:
        """Photo ids shown left and right: the current photo, and the pick (or the next)."""
        group = self.group
        assert group is not None
        ids = [p.id for p in group.photos]
        current = ids[self.photo_row % len(ids)]
        other = group.pick if group.pick != current else ids[(self.photo_row + 1) % len(ids)]
        return (other, current) if self.swapped else (current, other)

    def _on_group(self, row: int) -> None:
        self.group_row, self.photo_row, self.swapped = row, 0, False
        group = self.group
        if group is not None:
            self.strip.show_group(group, self.sides())
            wanted = [(p.id, p.content_hash or "", p.path) for p in group.photos]
            self.context.workers.run(
                load_thumbnails, wanted, what="loading the group's thumbnails",
                on_result=lambda images, key=group.key: self.strip.set_thumbnails(
                    key, images, self.sides() if self.group is not None else ()))
        self._show_pair()

    def show_photo(self, index: int) -> None:
        """Compare the group's photo at ``index`` with the pick (a click in the strip)."""
        group = self.group
        if group is None or not 0 <= index < len(group.photos):
            return
        self.photo_row, self.swapped = index, False
        self._show_pair()

    def _show_pair(self) -> None:
        group = self.group
        if group is None:
            return
        left, right = self.sides()
        self.strip.refresh((left, right))
        photos = {p.id: p for p in group.photos}
        for caption, pid, other in ((self.captions[0], left, right),
                                    (self.captions[1], right, left)):
            caption.setText(self._caption(group, photos[pid], other))
        wanted = (left, right)
        self.context.workers.run(load_pair, photos[left].path, photos[right].path,
                                 on_result=lambda images: self._on_loaded(wanted, images),
                                 what="loading photos to compare")

    def _on_loaded(self, wanted: tuple[int, int], images: tuple) -> None:  # type: ignore[type-arg]
        if self.group is None or self.sides() != wanted:
            return  # the user moved on meanwhile
        self._images = images
        self._show_images()

    def _show_images(self) -> None:
        a, b = self._images
        self.pair.left.set_image(to_qimage(a) if a is not None else None)
        if b is not None and a is not None and self.diff_box.isChecked():
            self.pair.right.set_image(to_qimage(difference(a, b)))
        else:
            self.pair.right.set_image(to_qimage(b) if b is not None else None)

    @staticmethod
    def _caption(group: Group, photo, other: int) -> str:  # type: ignore[no-untyped-def]
        kind = next((p.kind for p in group.pairs if {p.a, p.b} == {photo.id, other}),
                    " / ".join(group.kinds))
        decision = group.decisions.get(photo.id, "")
        colour = "#3a3" if decision == PICK else "#c33"
        mark = f"<b style='color:{colour}'>{decision.upper()}</b>"
        size = f"{photo.width}×{photo.height}" if photo.width else "?"
        when = (photo.captured_at or "no date").replace("T", " ")
        return (f"{mark} <b>{display(photo.path.name)}</b><br>{kind} · "
                f"{photo.size / 1e6:.1f} MB · {size} · {when} · {photo.camera or 'no camera'}")

    # -- keys and decisions ----------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, group = event.key(), self.group
        if group is None:
            super().keyPressEvent(event)
            return
        if key == Qt.Key.Key_P:
            self.decide_current(PICK)
        elif key == Qt.Key.Key_X:
            self.decide_current(REJECT)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = 1 if key == Qt.Key.Key_Right else -1
            self.photo_row = (self.photo_row + step) % len(group.photos)
            self.swapped = False
            self._show_pair()
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = 1 if key == Qt.Key.Key_Down else -1
            self.group_list.setCurrentRow(max(0, min(len(self.groups) - 1,
                                                     self.group_row + step)))
        elif key == Qt.Key.Key_Space:
            self.swapped = not self.swapped
            self._show_pair()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def decide_current(self, decision: str) -> None:
        """Pick (the rest of the group rejected) or reject the left-hand photo; stored in
        the catalog by a worker, shown at once."""
        group, library = self.group, self.context.library
        if group is None or library is None:
            return
        current = group.photos[self.photo_row % len(group.photos)].id
        decisions = dict(group.decisions)
        if decision == PICK:
            decisions = {pid: (PICK if pid == current else REJECT) for pid in decisions}
        else:
            decisions[current] = REJECT
        pick = next((pid for pid, d in decisions.items() if d == PICK), group.pick)
        updated = replace(group, decisions=decisions, decided=True, pick=pick,
                          decided_by="user")
        self.groups[self.group_row] = updated
        self.group_list.item(self.group_row).setText(self._group_text(self.group_row, updated))
        self.strip.group = updated
        choices = {p.content_hash or "": decisions[p.id] for p in group.photos}
        self.context.workers.run(decide, library.catalog, group.key, choices,
                                 what="saving the decision")
        self._show_pair()
