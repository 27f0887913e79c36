"""Preferences > Descriptor: the open library's layer. Choosing another one analyses the
photos with it in the background while search goes on with the current vectors, then the
library searches with the new layer (and remembers it)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from core.library import Library
from gui.dialogs.preferences import PreferencesDialog
from gui.main_window import MainWindow
from gui.settings import ModelChoice

from .conftest import OpenWindow, PhotoFolder, open_indexed

SEMANTIC_KEY, VISUAL_KEY = "resnet50@random0", "resnet50@random0:visual"


def _choose_in_preferences(window: MainWindow, layer: str) -> None:
    """Open Preferences from its action, pick ``layer`` in the real dialog and press OK."""
    seen: list[PreferencesDialog] = []

    def pick() -> None:
        dialog = window.findChild(PreferencesDialog)
        assert dialog is not None and dialog.isVisible()
        seen.append(dialog)
        assert dialog.layer_box.isEnabled()
        dialog.layer_box.setCurrentIndex(dialog.layer_box.findData(layer))
        dialog.accept()

    QTimer.singleShot(0, pick)
    window.actions.preferences.trigger()  # modal: returns once pick() has pressed OK
    assert seen, "the Preferences dialog did not open"


def test_the_preference_switches_the_library_to_the_visual_layer(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        catalog_copy: Path) -> None:
    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    library = window.context.library
    assert library is not None and (library.layer, library.model_key) == ("semantic",
                                                                          SEMANTIC_KEY)
    query = library.photo_at(photo_folder.scenes["scene_002"][0])
    assert query is not None

    _choose_in_preferences(window, "visual")
    # analysing in the background: the library (and search) still use the semantic vectors
    assert window.layers.running and window.context.library is library
    window.search.find_similar([query.id])
    qtbot.waitUntil(lambda: window.context.query is not None, timeout=10_000)
    assert window.context.library.model_key == SEMANTIC_KEY  # type: ignore[union-attr]

    qtbot.waitUntil(lambda: window.context.library is not None
                    and window.context.library.layer == "visual", timeout=120_000)
    switched = window.context.library
    assert switched is not None and switched.model_key == VISUAL_KEY
    assert switched.catalog.embedded_count(VISUAL_KEY) == switched.catalog.photo_count() == 24
    assert switched.catalog.embedded_count(SEMANTIC_KEY) == 24  # kept: switching back is quick
    assert "visual layer" in window.model_label.text()
    # search now ranks by the visual vectors: the scene's copies first
    window.search.find_similar([query.id])
    qtbot.waitUntil(lambda: window.context.query is not None
                    and bool(window.context.query.hits), timeout=10_000)
    hits = window.context.query.hits  # type: ignore[union-attr]
    scene = {switched.photo_at(p).id for p in photo_folder.scenes["scene_002"][1:]}  # type: ignore[union-attr]
    assert {h.photo_id for h in hits[:3]} == scene
    expected = switched.similar([query.id], k=3)
    assert [h.photo_id for h in hits[:3]] == [h.photo_id for h in expected]
    window.close()
    with Library(photo_folder.root, catalog_path=catalog_copy) as reopened:  # remembered
        assert reopened.layer == "visual"


def test_without_a_library_the_descriptor_cannot_be_chosen(qtbot: QtBot) -> None:
    dialog = PreferencesDialog(ModelChoice("resnet50", "none", "cpu"))
    qtbot.addWidget(dialog)
    assert not dialog.layer_box.isEnabled() and dialog.layer() == "semantic"
    chosen = PreferencesDialog(ModelChoice("resnet50", "none", "cpu"), layer="visual")
    qtbot.addWidget(chosen)
    assert chosen.layer_box.isEnabled() and chosen.layer() == "visual"


def test_searching_with_fine_tuned_weights_goes_back_to_the_semantic_layer(
        open_window: OpenWindow, qtbot: QtBot, photo_folder: PhotoFolder,
        catalog_copy: Path, tmp_path: Path) -> None:
    """Fine-tuning trains the last stage: on a visual library, "Search With It" opens the
    library with the new weights in the semantic layer (the visual one would not change)."""
    import torch

    from core.embed.models import build_model

    window = open_indexed(open_window, qtbot, photo_folder, catalog_copy)
    window.layers.switch("visual")
    qtbot.waitUntil(lambda: window.context.library is not None
                    and window.context.library.layer == "visual", timeout=120_000)
    weights = tmp_path / "tuned.pth"
    torch.save(build_model("resnet50", "none", seed=3).state_dict(), weights)
    window.similarity.finetuned.emit(str(weights))  # what the dialog's Search With It sends
    qtbot.waitUntil(lambda: window.context.library is not None
                    and window.context.library.weights == str(weights), timeout=30_000)
    library = window.context.library
    assert library is not None and library.layer == "semantic"
    assert library.model_key.startswith("resnet50@file-") and ":" not in library.model_key

