"""Preferences: the model, its weights and the device used to analyse photos; the open
library's descriptor layer; how many frames a video clip keeps."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.embed.models import MODELS, SEMANTIC, VISUAL
from core.video import SceneOptions
from gui.dialogs import files
from gui.settings import ModelChoice

MODEL_NOTES = {
    "efficientnet_lite0": "EfficientNet-Lite0: fast, installed (default)",
    "efficientnet_lite1": "EfficientNet-Lite1: installed",
    "efficientnet_lite2": "EfficientNet-Lite2: installed, slower",
    "resnet50": "ResNet-50: good all-round (downloaded once)",
    "mobilenet_v3_large": "MobileNet V3 large: fast, for laptops",
    "mobilenet_v3_small": "MobileNet V3 small: fastest",
    "convnext_base": "ConvNeXt base: best quality, slowest",
}
DEVICES = {"auto": "Automatic (GPU if there is one)", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)",
           "mps": "Apple GPU (MPS)"}
LAYER_NOTES = {SEMANTIC: "Semantic: what the photo shows (default)",
               VISUAL: "Visual: how the photo looks (near-duplicates, edits)"}
WEIGHTS = {"default": "Pretrained (installed, or downloaded once)",
           "none": "Random (for testing only)"}


class PreferencesDialog(QDialog):
    """Choose model, weights (pretrained, random or a local file) and device, and the open
    library's descriptor layer (``layer``: the library's; None: no library is open)."""

    def __init__(self, choice: ModelChoice, parent: QWidget | None = None,
                 video: SceneOptions | None = None, layer: str | None = None) -> None:
        super().__init__(parent)
        self.layer_box = QComboBox(self)
        self.layer_box.setObjectName("layerBox")
        for key, text in LAYER_NOTES.items():
            self.layer_box.addItem(text, key)
        self.layer_box.setCurrentIndex(max(0, self.layer_box.findData(layer or SEMANTIC)))
        self.layer_box.setEnabled(layer is not None)
        self.layer_box.setToolTip(
            "Which layer of the network describes this library's photos. Each layer is "
            "analysed once and kept: switching back is instant." if layer is not None
            else "Open a library to choose its descriptor.")
        self._video = video or SceneOptions()
        self.gap_box = QDoubleSpinBox(self)
        self.gap_box.setRange(0.5, 600.0)
        self.gap_box.setSingleStep(0.5)
        self.gap_box.setSuffix(" s")
        self.gap_box.setValue(self._video.min_gap)
        self.frames_box = QSpinBox(self)
        self.frames_box.setRange(1, 10_000)
        self.frames_box.setValue(self._video.max_frames)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(520)
        self.model_box = QComboBox(self)
        for name in MODELS:
            self.model_box.addItem(MODEL_NOTES.get(name, name), name)
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(choice.model)))
        self.weights_box = QComboBox(self)
        for key, text in WEIGHTS.items():
            self.weights_box.addItem(text, key)
        if choice.weights not in WEIGHTS:
            self.weights_box.addItem(choice.weights, choice.weights)
        self.weights_box.setCurrentIndex(max(0, self.weights_box.findData(choice.weights)))
        browse = QPushButton("Choose File…", self)
        browse.clicked.connect(self._choose_file)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights_box, 1)
        weights_row.addWidget(browse)
        self.device_box = QComboBox(self)
        for key, text in DEVICES.items():
            self.device_box.addItem(text, key)
        self.device_box.setCurrentIndex(max(0, self.device_box.findData(choice.device)))
        note = QLabel("Changing the model or weights analyses the library again (the photos "
                      "already analysed with another model are kept). A new descriptor is "
                      "analysed in the background; search uses the current one until then. "
                      "The video settings apply to the clips analysed from then on.", self)
        note.setWordWrap(True)
        note.setObjectName("hint")
        form = QFormLayout()
        form.addRow("Model:", self.model_box)
        form.addRow("Weights:", weights_row)
        form.addRow("Device:", self.device_box)
        form.addRow("Descriptor (this library):", self.layer_box)
        form.addRow("Video: keep a scene", self.gap_box)
        form.addRow("Video: scenes a clip", self.frames_box)
        self.gap_box.setPrefix("at most once in ")
        self.frames_box.setPrefix("at most ")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def video_options(self) -> SceneOptions:
        """The clip settings chosen (for clips indexed from now on)."""
        return replace(self._video, min_gap=self.gap_box.value(),
                       max_frames=self.frames_box.value())

    def layer(self) -> str:
        """The descriptor layer chosen for the open library."""
        return str(self.layer_box.currentData())

    def choice(self) -> ModelChoice:
        return ModelChoice(self.model_box.currentData(), self.weights_box.currentData(),
                           self.device_box.currentData())

    def _choose_file(self) -> None:
        chosen = files.open_file(self, None, "Weights file",
                                 "PyTorch weights (*.pth *.pt);;All files (*)")
        path = str(chosen) if chosen else ""
        if path:
            if self.weights_box.findData(path) < 0:
                self.weights_box.addItem(path, path)
            self.weights_box.setCurrentIndex(self.weights_box.findData(path))


def ask_preferences(parent: QWidget, current: ModelChoice, video: SceneOptions,
                    layer: str | None = None
                    ) -> tuple[ModelChoice | None, SceneOptions | None, str | None]:
    """Show the Preferences dialog: the new model choice, the new clip settings and the
    open library's new layer (``layer``: its current one, None without a library), each None
    if cancelled or unchanged."""
    dialog = PreferencesDialog(current, parent, video, layer)
    if not dialog.exec():
        return None, None, None
    choice, options, chosen = dialog.choice(), dialog.video_options(), dialog.layer()
    return ((None if choice == current else choice), (None if options == video else options),
            None if layer is None or chosen == layer else chosen)
