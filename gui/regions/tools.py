"""The viewer's region tools: select a region and find it, show a search's matched box, and
the "Where is…" heat map of a trained label."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QGraphicsView, QLabel, QToolBar, QWidget

from gui.actions import icon
from gui.context import AppContext
from gui.regions.heat import HeatController
from gui.regions.overlay import Box, HeatOverlay, RegionOverlay
from gui.regions.selection import RegionSelector


class RegionTools(QObject):
    """Adds its actions to ``toolbar`` and draws on ``view.photo_item``.

    ``find_region(box)``: the user asked to find the selected region (relative box).
    """

    find_region = Signal(tuple)

    def __init__(self, context: AppContext, view: QGraphicsView, toolbar: QToolBar,
                 parent: QWidget) -> None:
        super().__init__(parent)
        photo = view.photo_item  # type: ignore[attr-defined]
        self.overlay = RegionOverlay(photo)
        self.heat_overlay = HeatOverlay(photo)
        self.selector = RegionSelector(view, self.overlay, self)
        self.heat = HeatController(context, self.heat_overlay, parent)
        self.note = QLabel(parent)  # what the tools say: how to select, the heat's best score
        self.note.setObjectName("regionNote")
        self.note.setWordWrap(True)
        self.note.hide()

        self.select_action = self._action(parent, "region", "Select a region (R, or Shift+drag)",
                                          "R", checkable=True)
        self.select_action.toggled.connect(self._on_select_toggled)
        self.find_action = self._action(parent, "region-search", "Find this region (Shift+F)",
                                        "Shift+F")
        self.find_action.triggered.connect(self._on_find)
        self.find_action.setEnabled(False)
        self.clear_action = QAction("Clear the region", parent)
        self.clear_action.triggered.connect(self.selector.clear)
        self.heat_action = self._action(parent, "heat", "Where is the label: heat map (H)", "H",
                                        checkable=True)
        self.heat_action.toggled.connect(self._on_heat_toggled)
        toolbar.addSeparator()
        toolbar.addAction(self.select_action)
        toolbar.addAction(self.find_action)
        toolbar.addSeparator()
        toolbar.addAction(self.heat_action)
        self.combo_action = toolbar.addWidget(self.heat.combo)
        self.combo_action.setVisible(False)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        view.addActions([self.find_action, self.clear_action])
        self.selector.selected.connect(self._on_selected)
        self.selector.cleared.connect(self._on_cleared)
        self.heat.described.connect(self._say)

    @staticmethod
    def _action(parent: QWidget, name: str, text: str, keys: str, checkable: bool = False
                ) -> QAction:
        action = QAction(icon(name), text, parent)
        action.setShortcut(QKeySequence(keys))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        return action

    @property
    def box(self) -> Box | None:
        return self.selector.box

    def show_photo(self, photo_id: int, match: Box | None, aspect: float, still: bool) -> None:
        """A new photo: no region selected yet, its search match (if any), its heat map.
        ``still``: False for a video clip (no regions there)."""
        self.selector.clear()
        self.overlay.set_match(match if still else None)
        for action in (self.select_action, self.heat_action):
            action.setEnabled(still)
        if not still:
            self.select_action.setChecked(False)
            self.heat_action.setChecked(False)
        self.heat.show_photo(photo_id if still else -1, aspect)

    def relayout(self) -> None:
        """The photo's pixmap changed (thumbnail → full image): place the items again."""
        self.overlay.relayout()
        self.heat_overlay.relayout()

    def select(self, box: Box) -> None:
        """Select ``box`` as if it had been drawn."""
        self.overlay.set_selection(box)
        self._on_selected(box)

    def _on_select_toggled(self, on: bool) -> None:
        self.selector.set_active(on)
        if on and self.box is None:
            self._say("Drag over the photo to select a region.")

    def _on_selected(self, box: tuple) -> None:
        self.find_action.setEnabled(True)
        self._say("Find this region: Shift+F, the toolbar or the right-click menu.")

    def _on_cleared(self) -> None:
        self.find_action.setEnabled(False)
        self._say("")

    def _on_find(self) -> None:
        if self.box is not None:
            self.find_region.emit(self.box)

    def _on_heat_toggled(self, on: bool) -> None:
        if on:
            self.heat.fill()
        self.combo_action.setVisible(on)
        self.heat.set_enabled(on)

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
