"""A bounded LRU of thumbnails, filled off the GUI thread from the core's thumbnail cache.

``image(id)`` never reads a file: it answers from memory or queues a request, which a
:class:`~gui.workers.RequestLoop` serves (newest first); ``updated`` then names the photos
whose thumbnails arrived, and the model repaints their rows. Photos not read yet (no
thumbnail) are remembered as missing until :meth:`forget_missing` (new embeddings).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from core import browse
from core.catalog import Catalog
from gui.workers import Workers

MAX_IMAGE_BYTES = 160 * 1024 * 1024  # decoded thumbnails kept in memory
MAX_PIXMAPS = 600  # tiles scaled to the current size (a few screens' worth)
MAX_FRAMES = 300  # clips' kept frames in memory (the map's points of clips)


class ThumbnailCache(QObject):
    """Thumbnails and file names of the open library's photos, by photo id."""

    updated = Signal(list)  # photo ids whose thumbnail or name just arrived

    def __init__(self, workers: Workers, parent: QObject | None = None,
                 max_bytes: int = MAX_IMAGE_BYTES) -> None:
        super().__init__(parent)
        self._catalog: Catalog | None = None
        self._images: OrderedDict[int, QImage] = OrderedDict()
        self._pixmaps: OrderedDict[tuple[int, ...], QPixmap] = OrderedDict()
        self._frames: OrderedDict[tuple[int, int], QImage] = OrderedDict()  # (clip, ms)
        self._missing_frames: set[tuple[int, int]] = set()
        self._names: dict[int, str] = {}
        self._dates: dict[int, str | None] = {}
        self._durations: dict[int, float] = {}  # video clips' lengths, by id
        self._moments: dict[int, float] = {}  # clip id -> time of the frame to show
        self._missing: set[int] = set()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._loop = workers.request_loop(self._load)
        self._loop.loaded.connect(self._on_loaded)

    def set_catalog(self, catalog: Catalog | None) -> None:
        """Serve ``catalog``'s photos from now on (forgets everything)."""
        self._loop.clear()
        self._catalog = catalog
        self._images.clear()
        self._pixmaps.clear()
        self._frames.clear()
        self._missing_frames.clear()
        self._names.clear()
        self._dates.clear()
        self._durations.clear()
        self._moments.clear()
        self._missing.clear()
        self._bytes = 0

    def set_moments(self, moments: dict[int, float]) -> None:
        """Show these clips at these times (a search's best frames) instead of their poster
        frames; {} goes back to the posters. Only the clips whose moment changes reload."""
        changed = {i for i in set(self._moments) | set(moments)
                   if self._moments.get(i) != moments.get(i)}
        self._moments = dict(moments)
        for photo_id in changed:
            old = self._images.pop(photo_id, None)
            if old is not None:
                self._bytes -= old.sizeInBytes()
            self._missing.discard(photo_id)
        for key in [k for k in self._pixmaps if k[0] in changed]:
            del self._pixmaps[key]

    def duration(self, photo_id: int) -> float | None:
        """A video clip's duration in seconds once its tile was loaded (None: a photo)."""
        return self._durations.get(photo_id)

    def image(self, photo_id: int) -> QImage | None:
        """The thumbnail if it is in memory; otherwise None, and it is fetched."""
        image = self._images.get(photo_id)
        if image is not None:
            self._images.move_to_end(photo_id)
            return image
        if photo_id not in self._missing and self._catalog is not None:
            self._loop.request([photo_id])
        return None

    def pixmap(self, photo_id: int, box: QSize | int) -> QPixmap | None:
        """The thumbnail scaled to fit ``box`` (a size, or a side in px; cached), or None
        while it loads."""
        if isinstance(box, int):
            box = QSize(box, box)
        key = (photo_id, box.width(), box.height())
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        image = self.image(photo_id)
        if image is None:
            return None
        scaled = image.scaled(box, Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
        pixmap = QPixmap.fromImage(scaled)
        self._pixmaps[key] = pixmap
        while len(self._pixmaps) > MAX_PIXMAPS:
            self._pixmaps.popitem(last=False)
        return pixmap

    def frame_pixmap(self, photo_id: int, at: float, side: int) -> QPixmap | None:
        """A clip's kept frame at ``at`` seconds, scaled to fit ``side`` px (cached), or
        None while it loads (the map shows a clip as its kept frames)."""
        if photo_id not in self._names:
            self.image(photo_id)  # the clip's name (and poster) come with its tile
        frame = (photo_id, round(at * 1000))
        key = (*frame, side)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        image = self._frames.get(frame)
        if image is None:
            if frame not in self._missing_frames and self._catalog is not None:
                self._loop.request([frame])
            return None
        pixmap = QPixmap.fromImage(image.scaled(
            QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))
        self._pixmaps[key] = pixmap
        while len(self._pixmaps) > MAX_PIXMAPS:
            self._pixmaps.popitem(last=False)
        return pixmap

    def name(self, photo_id: int) -> str | None:
        """The photo's file name once its tile was loaded (None before)."""
        return self._names.get(photo_id)

    def date(self, photo_id: int) -> str | None:
        """The photo's capture date ("YYYY-MM-DD") once its tile was loaded, if known."""
        return self._dates.get(photo_id)

    def forget_missing(self) -> None:
        """Ask again for thumbnails that did not exist yet (photos were embedded since)."""
        self._missing.clear()

    def __len__(self) -> int:
        return len(self._images)

    def _load(self, keys: list[Hashable]) -> dict[Hashable, Any]:
        """In the loader thread: names and decoded thumbnails of ``keys``."""
        catalog = self._catalog
        if catalog is None:
            return {}
        out: dict[Hashable, Any] = dict.fromkeys(keys)  # None: no such photo (any more)
        frames = [k for k in keys if isinstance(k, tuple)]
        for (photo_id, ms), path in zip(frames, browse.frame_thumbnails(catalog, frames),
                                        strict=True):
            image = QImage(str(path)) if path is not None else None
            out[(photo_id, ms)] = None if image is None or image.isNull() else image
        keys = [k for k in keys if not isinstance(k, tuple)]
        moments = dict(self._moments)  # replaced (never changed in place) on the GUI thread
        for photo_id, tile in browse.tiles(catalog, keys, moments).items():  # type: ignore[arg-type]
            image = QImage(str(tile.thumbnail)) if tile.thumbnail else None
            out[photo_id] = (tile.name, None if image is None or image.isNull() else image,
                             tile.duration, tile.taken)
        return out

    def _on_loaded(self, epoch: int,
                   results: dict[int, tuple[str, QImage | None, float | None, str | None] | None]
                   ) -> None:
        if epoch != self._loop.epoch:
            return  # loaded for a library that is no longer open
        clips = set()
        for frame in [k for k in results if isinstance(k, tuple)]:
            found = results.pop(frame)  # type: ignore[call-overload]
            if found is None:
                self._missing_frames.add(frame)
                continue
            self._frames[frame] = found
            clips.add(frame[0])
            while len(self._frames) > MAX_FRAMES:
                self._frames.popitem(last=False)
        if clips:
            self.updated.emit(sorted(clips))  # a clip's kept frames arrived (the map's)
        for photo_id, result in results.items():
            name, image, duration, taken = result if result is not None else (None,) * 4
            if name is not None:
                self._names[photo_id] = name
                self._dates[photo_id] = taken
            if duration is not None:
                self._durations[photo_id] = duration
            if image is None:
                self._missing.add(photo_id)
                continue
            old = self._images.pop(photo_id, None)
            if old is not None:
                self._bytes -= old.sizeInBytes()
            self._images[photo_id] = image
            self._bytes += image.sizeInBytes()
        while self._bytes > self._max_bytes and self._images:
            _id, dropped = self._images.popitem(last=False)
            self._bytes -= dropped.sizeInBytes()
        if results:
            self.updated.emit(list(results))
