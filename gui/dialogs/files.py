"""File dialogs that open where the user works: the last folder used, else the library."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

from gui.context import AppContext

LAST_FOLDER_KEY = "files/last_folder"


def start_folder(context: AppContext | None) -> Path:
    """The folder a file dialog opens in: the last one used (if it still exists), else the
    open library's folder, else the home folder (never the process's working directory)."""
    last = QSettings().value(LAST_FOLDER_KEY, "")
    if last and Path(str(last)).is_dir():
        return Path(str(last))
    if context is not None and context.library is not None:
        return context.library.root
    return Path.home()


def remember(path: Path) -> None:
    """Open the next dialog in ``path``'s folder."""
    QSettings().setValue(LAST_FOLDER_KEY, str(path if path.is_dir() else path.parent))


def open_file(parent: QWidget | None, context: AppContext | None, title: str,
              kinds: str) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, str(start_folder(context)), kinds)
    if not path:
        return None
    remember(Path(path))
    return Path(path)


def save_file(parent: QWidget | None, context: AppContext | None, title: str, name: str,
              kinds: str) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, str(start_folder(context) / name),
                                          kinds)
    if not path:
        return None
    remember(Path(path))
    return Path(path)
