"""The strip under the comparison: every photo of the current group as a thumbnail in one
row, the pick framed in green and marked PICK, rejects dimmed and marked, the two photos
being compared selected. A click on a photo shows it side by side with the pick."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from core.decode import load_image
from core.duplicates import PICK, Group
from core.errors import LookalikeError
from core.paths import display
from core.thumbnails import thumbnail_path
from gui.duplicates.compare import to_qimage

THUMB = 112  # side of a thumbnail in the strip
PICK_COLOUR = QColor("#2e9e44")
REJECT_COLOUR = QColor("#c0392b")
_ID = Qt.ItemDataRole.UserRole


def load_thumbnails(photos: Sequence[tuple[int, str, Path]]) -> dict[int, NDArray[np.uint8]]:
    """(photo id, content hash, path) -> a small RGB array: the cached thumbnail the index
    wrote, else the photo read small; one that cannot be read is left out. Runs in a
    worker."""
    out: dict[int, NDArray[np.uint8]] = {}
    for photo_id, content_hash, path in photos:
        cached = thumbnail_path(content_hash) if content_hash else None
        for source in ([cached] if cached is not None and cached.is_file() else []) + [path]:
            try:
                out[photo_id] = np.asarray(load_image(source, 2 * THUMB).convert("RGB"))
                break
            except LookalikeError:
                continue
    return out


class GroupStrip(QListWidget):
    """One row of thumbnails of a group; emits :attr:`photo_clicked` with the photo's index
    in the group."""

    photo_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 28, THUMB + 36))
        self.setWordWrap(True)
        self.setFixedHeight(THUMB + 58)
        self.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the view keeps the keys
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip("Every photo of the group; click one to compare it with the pick")
        self.group: Group | None = None
        self.images: dict[int, QImage] = {}
        self.itemClicked.connect(lambda item: self.photo_clicked.emit(self.row(item)))

    def show_group(self, group: Group, shown: Sequence[int]) -> None:
        """List ``group`` (thumbnails come with :meth:`set_thumbnails`); ``shown``: the ids
        compared now."""
        if self.group is None or self.group.key != group.key:
            self.images = {}
        self.group = group
        self.blockSignals(True)
        self.clear()
        for photo in group.photos:
            item = QListWidgetItem(self)
            item.setData(_ID, photo.id)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            size = f"{photo.width}×{photo.height}" if photo.width else "?"
            item.setToolTip(f"{display(photo.path)}\n{size} · {photo.size / 1e6:.1f} MB")
        self.blockSignals(False)
        self.refresh(shown)

    def refresh(self, shown: Sequence[int]) -> None:
        """Marks, icons and selection again (after a decision or a step)."""
        group = self.group
        if group is None:
            return
        names = {p.id: p.path.name for p in group.photos}
        for row in range(self.count()):
            item = self.item(row)
            photo_id = int(item.data(_ID))
            picked = group.decisions.get(photo_id) == PICK
            name = display(names[photo_id])
            if len(name) > 16:
                name = name[:7] + "…" + name[-7:]
            item.setText(f"{'★ PICK' if picked else '✕ reject'}\n{name}")
            item.setForeground(QBrush(PICK_COLOUR if picked else REJECT_COLOUR))
            item.setIcon(QIcon(self._framed(self.images.get(photo_id), picked)))
            item.setSelected(photo_id in shown)
        self.doItemsLayout()  # texts and icons changed size: lay the row out again

    def set_thumbnails(self, group_key: str, images: dict[int, NDArray[np.uint8]],
                       shown: Sequence[int]) -> None:
        """The thumbnails a worker loaded for the group ``group_key`` (dropped if the user
        has moved to another group meanwhile)."""
        if self.group is None or self.group.key != group_key:
            return
        self.images = {pid: to_qimage(array) for pid, array in images.items()}
        self.refresh(shown)

    @staticmethod
    def _framed(image: QImage | None, picked: bool) -> QPixmap:
        """The thumbnail fitted in a THUMB square, framed green when it is the pick and
        dimmed when it is a reject."""
        pixmap = QPixmap(THUMB, THUMB)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        if image is not None and not image.isNull():
            scaled = image.scaled(THUMB - 8, THUMB - 8, Qt.AspectRatioMode.KeepAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation)
            if not picked:
                painter.setOpacity(0.6)
            painter.drawImage((THUMB - scaled.width()) // 2, (THUMB - scaled.height()) // 2,
                              scaled)
            painter.setOpacity(1.0)
        else:
            painter.fillRect(4, 4, THUMB - 8, THUMB - 8, QColor(128, 128, 128, 60))
        if picked:
            painter.setPen(QPen(PICK_COLOUR, 4))
            painter.drawRect(2, 2, THUMB - 4, THUMB - 4)
        painter.end()
        return pixmap
