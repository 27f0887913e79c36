"""The app's actions (menu items, toolbar buttons, shortcuts) and its menus."""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

import resources

Key = QKeySequence.StandardKey


def icon(name: str) -> QIcon:
    """An SVG icon from resources/icons (or the app icon for "lookalike")."""
    if name == "lookalike":
        return QIcon(str(resources.path("lookalike.svg")))
    return QIcon(str(resources.path(f"icons/{name}.svg")))


@dataclass
class Actions:
    """Every action of the main window; the window connects their ``triggered``."""

    open_folder: QAction
    rescan: QAction
    search_image: QAction
    quit: QAction
    find_similar: QAction
    not_like: QAction
    back_to_library: QAction
    back: QAction
    forward: QAction
    click_mode: QAction
    view_photo: QAction
    open_default: QAction
    show_in_folder: QAction
    copy_paths: QAction
    zoom_in: QAction
    zoom_out: QAction
    show_captions: QAction
    preferences: QAction
    shortcuts: QAction
    about: QAction

    def all(self) -> list[QAction]:
        return [getattr(self, f.name) for f in fields(self)]


def _action(window: QMainWindow, text: str, icon_name: str | None,
            keys: list[QKeySequence | Key | str] | None = None, tip: str = "",
            checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if icon_name:
        action.setIcon(icon(icon_name))
    if keys:  # a standard key's main binding on this platform, without repeats
        sequences: dict[str, QKeySequence] = {}
        for key in keys:
            sequence = QKeySequence(key)
            if not sequence.isEmpty():
                sequences.setdefault(sequence.toString(), sequence)
        action.setShortcuts(list(sequences.values()))
    if tip:
        action.setStatusTip(tip)
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
    action.setCheckable(checkable)
    window.addAction(action)  # shortcuts work wherever the focus is in the window
    return action


def create_actions(window: QMainWindow) -> Actions:
    a = _action
    return Actions(
        open_folder=a(window, "&Open Folder…", "folder-open", [Key.Open],
                      "Open a folder of photos"),
        rescan=a(window, "&Rescan Folder", "refresh", [Key.Refresh, "Ctrl+R"],
                 "Look for new, changed and removed photos"),
        search_image=a(window, "Search by &Image…", "image-search", ["Ctrl+I"],
                       "Find photos like an image file (or drop one on the window)"),
        quit=a(window, "&Quit", "quit", [Key.Quit, "Ctrl+Q"]),
        find_similar=a(window, "&Find Similar", "similar", ["F", "Ctrl+F"],
                       "Rank the library by similarity to the selected photos"),
        not_like=a(window, "&Not Like This", "not-like", ["N"],
                   "Refine the current search: fewer photos like the selected ones"),
        back_to_library=a(window, "Back to &Library", "library", ["Escape", "Ctrl+L"],
                          "Leave the search and show the whole library"),
        back=a(window, "&Back", "back", [Key.Back, "Backspace"], "Previous search"),
        forward=a(window, "For&ward", "forward", [Key.Forward], "Next search"),
        click_mode=a(window, "&Click to Find Similar", "click-mode", ["Ctrl+K"],
                     "When on, clicking a photo finds its lookalikes", checkable=True),
        view_photo=a(window, "&View Photo", "view", ["Space"], "Open the photo large"),
        open_default=a(window, "Open with Default &Application", "external",
                       ["Ctrl+Return"], "Open in your usual photo application"),
        show_in_folder=a(window, "Show in File &Manager", "folder", ["Ctrl+Shift+M"],
                         "Open the folder holding the photo"),
        copy_paths=a(window, "&Copy Path(s)", "copy", [Key.Copy],
                     "Copy the selected photos' file paths"),
        zoom_in=a(window, "&Larger Thumbnails", "zoom-in", [Key.ZoomIn, "Ctrl+="]),
        zoom_out=a(window, "&Smaller Thumbnails", "zoom-out", [Key.ZoomOut]),
        show_captions=a(window, "Show &Names and Dates on Tiles", None, ["Ctrl+Shift+N"],
                        "Write each photo's file name and capture date under it",
                        checkable=True),
        preferences=a(window, "&Preferences…", "settings", [Key.Preferences, "Ctrl+,"]),
        shortcuts=a(window, "&Keyboard Shortcuts", "keyboard", [Key.HelpContents, "F1"]),
        about=a(window, "&About Lookalike", "info"),
    )


def build_menus(window: QMainWindow, actions: Actions) -> tuple[QMenu, QMenu]:
    """The menu bar and the main toolbar; returns the Open Recent menu (to fill later) and
    the View menu (docks add their toggles there)."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(actions.open_folder)
    recent = file_menu.addMenu("Open &Recent")
    recent.setObjectName("recentMenu")
    file_menu.addAction(actions.rescan)
    file_menu.addSeparator()
    file_menu.addAction(actions.search_image)
    file_menu.addSeparator()
    file_menu.addAction(actions.preferences)
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)

    photo_menu = bar.addMenu("&Photo")
    for action in (actions.view_photo, actions.open_default, actions.show_in_folder,
                   actions.copy_paths):
        photo_menu.addAction(action)

    search_menu = bar.addMenu("&Search")
    for action in (actions.find_similar, actions.not_like, actions.click_mode, None,
                   actions.back, actions.forward, actions.back_to_library, None,
                   actions.search_image):
        search_menu.addAction(action) if action else search_menu.addSeparator()

    view_menu = bar.addMenu("&View")
    view_menu.setObjectName("viewMenu")
    view_menu.addAction(actions.zoom_in)
    view_menu.addAction(actions.zoom_out)
    view_menu.addAction(actions.show_captions)
    view_menu.addSeparator()

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(actions.shortcuts)
    help_menu.addAction(actions.about)

    toolbar = QToolBar("Main toolbar", window)
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    for action in (actions.open_folder, actions.rescan, None, actions.find_similar,
                   actions.not_like, actions.click_mode, None, actions.search_image):
        toolbar.addAction(action) if action else toolbar.addSeparator()
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.setIconSize(QSize(18, 18))
    window.addToolBar(toolbar)
    return recent, view_menu
