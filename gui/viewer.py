"""The large photo viewer: fit or zoom, previous/next, and the photo's metadata; a video clip
is played from a moment, with the strip of its kept frames (gui/clip_viewer.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QHideEvent, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QToolBar,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid  # a worker may answer after the viewer is gone

from core import browse, decode
from core.errors import LookalikeError
from core.keywords import keyword_details
from core.library import Library
from core.video import clock, durations
from core.video.labels import clip_label_lines
from gui.actions import icon
from gui.clip_viewer import ClipPlayer, FrameStrip, load_moment, make_player
from gui.context import AppContext
from gui.grid.cache import ThumbnailCache
from gui.image_view import ImageView
from gui.people.boxes import FaceBoxes, people_query
from gui.regions.overlay import Box
from gui.regions.tools import RegionTools

PREVIEW_SIDE = 2560  # longest side decoded for viewing (enough for a 4K screen)


def read_metadata(library: Library, photo_id: int, path: Path) -> list[tuple[str, str]]:
    """In a worker thread: the shooting details of the photo (EXIF, XMP) and its labels."""
    try:
        lines = decode.read_details(path)
    except LookalikeError:
        lines = []
    by_set: dict[str, list[str]] = {}
    for set_name, label in library.labels.label_names(photo_id):
        by_set.setdefault(set_name, []).append(label)
    lines += [(f"Labels ({name})", ", ".join(labels)) for name, labels in by_set.items()]
    return lines


def load_preview(path: Path, max_side: int = PREVIEW_SIDE) -> QImage:
    """In a worker thread: the photo, upright, as a QImage (UnreadableImage on failure)."""
    image = decode.load_image(path, max_side).convert("RGB")
    data = image.tobytes()
    return QImage(data, image.width, image.height, 3 * image.width,
                  QImage.Format.Format_RGB888).copy()


class ViewerWindow(QDialog):
    """Shows the photos ``ids`` one at a time, starting at ``start``."""

    find_similar_requested = Signal(int)
    find_similar_moment = Signal(int, float)  # a clip, at the moment shown
    find_region_requested = Signal(int, tuple)  # a photo and a region of it (relative box)

    def __init__(self, context: AppContext, cache: ThumbnailCache, ids: list[int], start: int,
                 parent: QWidget | None = None, at: float | None = None,
                 boxes: dict[int, Box] | None = None) -> None:
        """``boxes``: a region search's matched box per photo, drawn on it."""
        super().__init__(parent)
        self.setObjectName("viewer")
        self.setWindowFlag(Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.context = context
        self.cache = cache
        self.ids = ids
        self.position = max(0, min(start, len(ids) - 1))
        self.loaded_id = -1  # the photo whose full image is shown (not just its thumbnail)
        self.moment: float | None = None  # the time shown, when the item is a clip
        self.loaded_moment: float | None = None  # the time whose full still is shown
        self.player: ClipPlayer | None = None  # made when the first clip is shown
        self._player_tried = False
        self._moment_line: QLabel | None = None
        self._open_at = at  # the first clip opens at this moment (a search's best frame)
        self._clip_labels: list[tuple[str, str]] = []  # (label set, its time ranges)
        self._clip_total = 0.0
        self.view = ImageView(self)
        self.strip = FrameStrip(self)
        self.strip.moment_chosen.connect(self.show_moment)
        self.strip.hide()
        self.face_boxes = FaceBoxes(self.view.photo_item, self.find_face)
        self.boxes = dict(boxes or {})
        self.details = QFormLayout()
        self.details.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        side = QWidget(self)
        side.setObjectName("viewerDetails")
        side.setFixedWidth(280)
        side_layout = QVBoxLayout(side)
        toolbar = QToolBar(self)
        toolbar.setIconSize(QSize(20, 20))
        for name, text, slot in (
            ("prev", "Previous (←)", self.previous), ("next", "Next (→)", self.next),
            (None, "", None), ("fit", "Fit to window (0)", self.view.fit),
            ("actual-size", "Actual size (1)", self.view.actual_size),
            ("zoom-out", "Zoom out (−)", lambda: self.view.zoom(0.8)),
            ("zoom-in", "Zoom in (+)", lambda: self.view.zoom(1.25)),
            ("lock", "Keep the zoom for the next photos (L)", None), (None, "", None),
            ("similar", "Find similar (F)", self._find_similar),
        ):
            if name is None:
                toolbar.addSeparator()
            elif slot is None:
                self.lock_zoom = toolbar.addAction(icon(name), text)
                self.lock_zoom.setCheckable(True)
            else:
                toolbar.addAction(icon(name), text, slot)
        self.regions = RegionTools(context, self.view, toolbar, self)
        self.regions.find_region.connect(self._find_region)
        self.view.image_changed.connect(self.regions.relayout)
        side_layout.addWidget(self.regions.note)
        side_layout.addLayout(self.details)
        side_layout.addStretch(1)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        stage = QVBoxLayout()
        stage.setContentsMargins(0, 0, 0, 0)
        stage.addWidget(self.view, 1)
        self.stage = stage
        stage.addWidget(self.strip)
        body.addLayout(stage, 1)
        body.addWidget(side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(toolbar)
        layout.addLayout(body, 1)
        if parent is not None:
            self.resize(parent.size() * 0.9)
        self.show_photo(self.position)

    @property
    def photo_id(self) -> int:
        return self.ids[self.position]

    def show_photo(self, position: int) -> None:
        """Show the photo at ``position`` in ``ids``: its thumbnail now, the full image soon."""
        library = self.context.library
        if library is None or not self.ids:
            return
        self.position = position % len(self.ids)
        photo_id = self.photo_id
        photo = library.catalog.photo(photo_id)
        if photo is None:
            return
        self.setWindowTitle(f"{photo.path.name} — {self.position + 1} of {len(self.ids)}")
        self._show_details(browse.photo_details(photo, library.root)
                           + keyword_details(library.catalog, photo, library.model_key))
        if not self.lock_zoom.isChecked():
            self.view.fitting = True  # each photo opens fitted unless the zoom is locked
        thumb = self.cache.image(photo_id)
        if thumb is not None:
            self.view.set_image(QPixmap.fromImage(thumb), photo.width or thumb.width())
        self._draw_faces(photo_id)
        self.context.set_selection([photo_id])
        is_clip = bool(durations(library.catalog, [photo_id]))
        self.regions.show_photo(photo_id, self.boxes.get(photo_id),
                                (photo.height or 3) / (photo.width or 4), not is_clip)
        at, self._open_at = self._open_at, None
        if is_clip:  # a video clip: stills and the strip
            self._clip_labels = []
            self.context.workers.run(  # heads load torch: off the GUI thread
                clip_label_lines, library.catalog, library.model_key, photo_id,
                on_result=lambda lines: isValid(self) and self._on_clip_labels(photo_id, lines))
            self.strip.set_frames(browse.clip_strip(library.catalog, photo, library.model_key))
            self.strip.show()
            at = at if at is not None else (self.strip.times or [0.0])[0]
            player = self._clip_player()
            if player is None:  # no QtMultimedia: stills
                self.show_moment(at)
                return
            self.view.hide()
            player.show()
            self.moment = at
            self.strip.select_nearest(at)
            self._clip_details()
            player.open(photo.path, at)
            return
        self.strip.hide()
        self.moment = None
        if self.player is not None:
            self.player.stop()
            self.player.hide()
        self.view.show()
        self.context.workers.run(
            load_preview, photo.path,
            on_result=lambda image: isValid(self) and self._on_loaded(photo_id, image),
            on_error=lambda exc: isValid(self) and self._on_failed(photo_id, exc))
        self.context.workers.run(
            read_metadata, library, photo_id, photo.path, what="Reading the photo's details",
            on_result=lambda lines: isValid(self) and self._on_metadata(photo_id, lines))

    def _on_metadata(self, photo_id: int, lines: list[tuple[str, str]]) -> None:
        if photo_id == self.photo_id:
            self._show_details(lines, clear=False)

    def show_moment(self, at: float) -> None:
        """Show the current clip at ``at`` seconds: its kept frame's thumbnail now, the
        decoded still soon."""
        library = self.context.library
        photo = library.catalog.photo(self.photo_id) if library else None
        if photo is None:
            return
        self.moment = at
        self.strip.select_nearest(at)
        if self.player is not None and self.player.isVisible():
            self.player.seek(at)
            self._show_moment_line()
            return
        item = self.strip.currentItem()
        if item is not None and not item.icon().isNull():
            pixmap = item.icon().pixmap(QSize(256, 256))
            self.view.set_image(pixmap, photo.width or pixmap.width())
        self._clip_details()
        photo_id = photo.id
        self.context.workers.run(
            load_moment, photo.path, at,
            on_result=lambda result: isValid(self) and self._on_moment(photo_id, *result),
            on_error=lambda exc: isValid(self) and self._on_failed(photo_id, exc))

    def _clip_details(self) -> None:
        """The clip's info lines: a photo's, its duration, the moment shown, its labels."""
        library = self.context.library
        photo = library.catalog.photo(self.photo_id) if library else None
        if library is None or photo is None or self.moment is None:
            return
        total = durations(library.catalog, [photo.id]).get(photo.id, 0.0)
        details = browse.clip_details(library.catalog, photo, library.model_key, library.root)
        self._show_details([*details, ("Moment", f"{clock(self.moment)} of {clock(total)}"),
                            *self._clip_labels])
        item = self.details.itemAt(len(details), QFormLayout.ItemRole.FieldRole)
        self._moment_line = item.widget() if item is not None else None  # type: ignore[assignment]
        self._clip_total = total

    def _show_moment_line(self) -> None:
        """The "Moment" line alone, as the clip plays."""
        if self._moment_line is not None and isValid(self._moment_line) \
                and self.moment is not None:
            self._moment_line.setText(f"{clock(self.moment)} of {clock(self._clip_total)}")

    def _clip_player(self) -> ClipPlayer | None:
        """The player (QtMultimedia loads now, the first time), or None: stills."""
        if not self._player_tried:
            self._player_tried = True
            self.player = make_player(self)
            if self.player is not None:
                self.stage.insertWidget(1, self.player, 1)
                self.player.moved.connect(self._on_played)
                self.player.failed.connect(self._on_play_failed)
        return self.player

    def _on_played(self, at: float) -> None:
        """The player moved on: the moment shown (what "Find similar" takes) and its scene."""
        if self.player is not None and self.player.isVisible():
            self.moment = at
            self.strip.select_scene(at)
            self._show_moment_line()

    def _on_play_failed(self, reason: str) -> None:
        """Qt cannot play this file: show it as stills (PyAV decodes them)."""
        if self.player is None or not self.player.isVisible():
            return
        self.player.stop()
        self.player.hide()
        self.view.show()
        self._show_details([("Playback", f"not possible: {reason}")], clear=False)
        if self.moment is not None:
            self.show_moment(self.moment)

    def _on_clip_labels(self, photo_id: int, lines: list[tuple[str, str]]) -> None:
        if photo_id == self.photo_id:
            self._clip_labels = lines
            self._clip_details()

    def _on_moment(self, photo_id: int, at: float, image: QImage) -> None:
        if photo_id == self.photo_id and at == self.moment:
            photo = self.context.library.catalog.photo(photo_id) if self.context.library else None
            self.view.set_image(QPixmap.fromImage(image), photo.width if photo and photo.width
                                else image.width())
            self.loaded_id, self.loaded_moment = photo_id, at

    def step_moment(self, delta: int) -> None:
        """The next/previous kept frame of a clip; past either end, the next/previous item."""
        if self.moment is not None and self.strip.step(delta):
            return
        self.show_photo(self.position + delta)

    def next(self) -> None:
        self.show_photo(self.position + 1)

    def previous(self) -> None:
        self.show_photo(self.position - 1)

    def _on_loaded(self, photo_id: int, image: QImage) -> None:
        if photo_id == self.photo_id:
            photo = self.context.library.catalog.photo(photo_id) if self.context.library else None
            width = photo.width if photo and photo.width else image.width()
            self.view.set_image(QPixmap.fromImage(image), width)
            self.loaded_id = photo_id
            self._draw_faces(photo_id)

    def _draw_faces(self, photo_id: int) -> None:
        """Box the photo's faces, with their people's names (core.faces)."""
        library = self.context.library
        photo = library.catalog.photo(photo_id) if library else None
        faces = (library.people.faces(content_hash=photo.content_hash)
                 if library and photo and photo.content_hash else [])
        self.face_boxes.show(faces)

    def _on_failed(self, photo_id: int, exc: BaseException) -> None:
        if photo_id == self.photo_id:
            self._show_details([("Problem", str(exc))], clear=False)

    def _show_details(self, lines: list[tuple[str, str]], clear: bool = True) -> None:
        if clear:
            while self.details.rowCount():
                self.details.removeRow(0)
        for label, value in lines:
            text = QLabel(value, self)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.details.addRow(f"{label}:", text)

    def find_face(self, face_id: int) -> None:
        """The photos with the faces nearest to this one, in the grid ("Find this face")."""
        if self.context.library is not None:
            self.context.set_query(people_query(self.context.library, face_id))
            self.close()

    def _find_similar(self) -> None:
        if self.moment is not None:
            self.find_similar_moment.emit(self.photo_id, self.moment)
        else:
            self.find_similar_requested.emit(self.photo_id)
        self.close()

    def _find_region(self, box: Box) -> None:
        self.find_region_requested.emit(self.photo_id, box)
        self.close()

    def hideEvent(self, event: QHideEvent) -> None:
        if self.player is not None and not event.spontaneous():  # not when minimised
            self.player.stop()  # closed (or Esc): let go of the file and its decoder now
        super().hideEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        keys = {
            Qt.Key.Key_Right: lambda: self.step_moment(1), Qt.Key.Key_PageDown: self.next,
            Qt.Key.Key_Left: lambda: self.step_moment(-1), Qt.Key.Key_PageUp: self.previous,
            Qt.Key.Key_Backspace: self.previous,
            Qt.Key.Key_0: self.view.fit, Qt.Key.Key_1: self.view.actual_size,
            Qt.Key.Key_Plus: lambda: self.view.zoom(1.25),
            Qt.Key.Key_Equal: lambda: self.view.zoom(1.25),
            Qt.Key.Key_Minus: lambda: self.view.zoom(0.8),
            Qt.Key.Key_Home: lambda: self.show_photo(0),
            Qt.Key.Key_End: lambda: self.show_photo(len(self.ids) - 1),
            Qt.Key.Key_L: self.lock_zoom.toggle,
            Qt.Key.Key_P: lambda: self.player.toggle() if self.player is not None
            and self.player.isVisible() else None,
            Qt.Key.Key_F: self._find_similar, Qt.Key.Key_Space: self.close,
        }
        if key in keys:
            keys[key]()  # type: ignore[operator]
            return
        super().keyPressEvent(event)
