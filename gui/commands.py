"""Small commands on photos and files for the main window's actions (no widgets kept)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QWidget

from core import browse
from core.embed.models import SEMANTIC
from core.library import Library
from gui.context import AppContext
from gui.dialogs import files

MAX_OPENED = 20  # never open hundreds of windows by accident
IMAGE_FILTER = ("Images (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.heic *.heif *.bmp *.gif "
                "*.dng *.cr2 *.cr3 *.nef *.arw *.raf *.orf *.rw2);;All files (*)")


def selected_paths(context: AppContext) -> list[Path]:
    """The files of the selected photos, in selection order."""
    library = context.library
    return [p.path for p in library.catalog.photos(context.selection)] if library else []


def open_paths(paths: list[Path]) -> None:
    """Open files (or folders) with the desktop's default application."""
    for path in paths[:MAX_OPENED]:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_file_manager(paths: list[Path]) -> None:
    """Show the files selected in the desktop's file manager (their folders as a fallback)."""
    paths = paths[:MAX_OPENED]
    if paths and _reveal(paths):
        return
    open_paths(sorted({p.parent for p in paths}))


def _reveal(paths: list[Path]) -> bool:
    """Ask the platform's file manager to select ``paths``; False if it cannot."""
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", *map(str, paths)])[0]
    if sys.platform == "win32":
        return QProcess.startDetached("explorer", [f"/select,{paths[0]}"])[0]
    # Freedesktop (GNOME Files, Dolphin, Nemo, Thunar...): FileManager1.ShowItems on D-Bus.
    from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage

    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    manager = QDBusInterface("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                             "org.freedesktop.FileManager1", bus)
    if not manager.isValid():
        return False
    urls = [QUrl.fromLocalFile(str(p)).toString() for p in paths]
    reply = manager.call("ShowItems", urls, "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def copy_paths(paths: list[Path]) -> None:
    QGuiApplication.clipboard().setText("\n".join(str(p) for p in paths))


def choose_image(parent: QWidget, context: AppContext | None = None) -> Path | None:
    return files.open_file(parent, context, "Find photos like…", IMAGE_FILTER)


def dropped_path(mime: QMimeData) -> Path | None:
    """The first local file or folder dropped, if it is a folder or a photo Lookalike reads."""
    urls = [u for u in mime.urls() if u.isLocalFile()]
    if not urls:
        return None
    path = Path(urls[0].toLocalFile())
    return path if path.is_dir() or browse.is_photo_file(path) else None


def describe_model(library: Library) -> str:
    """The model in use, for the status bar: "resnet50 · pretrained" (and " · visual layer"
    when the library describes photos by the visual layer)."""
    weights = str(library.weights)
    kind = {"default": "pretrained", "none": "random weights: for testing"}.get(
        weights, Path(weights).name)
    layer = "" if library.layer == SEMANTIC else f" · {library.layer} layer"
    return f"{library.model_name} · {kind}{layer}"
