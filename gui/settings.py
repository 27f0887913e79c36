"""The app's persistent settings (QSettings), with types and defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from core.embed.models import DEFAULT_MODEL
from core.video import SceneOptions

MAX_RECENT = 8
THUMBNAIL_SIZES = (96, 320)  # the slider's range, in pixels
DEFAULT_THUMBNAIL_SIZE = 160


@dataclass(frozen=True)
class ModelChoice:
    """How photos are analysed: the network, its weights and the device."""

    model: str
    weights: str
    device: str


class Settings:
    """Typed access to QSettings. Pass a QSettings on a temporary file in tests."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings()

    def _get(self, key: str, default: object, kind: type) -> object:
        value = self.store.value(key, default)
        try:
            return kind(value) if value is not None else default
        except (TypeError, ValueError):
            return default

    # -- window ----------------------------------------------------------------------------

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.store.setValue("window/state", value)

    @property
    def thumbnail_size(self) -> int:
        size = int(self._get("grid/thumbnail_size", DEFAULT_THUMBNAIL_SIZE, int))  # type: ignore[call-overload]
        return min(max(size, THUMBNAIL_SIZES[0]), THUMBNAIL_SIZES[1])

    @thumbnail_size.setter
    def thumbnail_size(self, value: int) -> None:
        self.store.setValue("grid/thumbnail_size", int(value))

    @property
    def sort(self) -> str:
        return str(self._get("grid/sort", "date", str))

    @sort.setter
    def sort(self, value: str) -> None:
        self.store.setValue("grid/sort", value)

    @property
    def captions(self) -> bool:
        """View > Show Names and Dates on Tiles."""
        return str(self.store.value("grid/captions", "false")).lower() in ("true", "1")

    @captions.setter
    def captions(self, value: bool) -> None:
        self.store.setValue("grid/captions", bool(value))

    # -- libraries -------------------------------------------------------------------------

    @property
    def last_library(self) -> Path | None:
        value = self.store.value("library/last")
        return Path(str(value)) if value else None

    @last_library.setter
    def last_library(self, path: Path | None) -> None:
        self.store.setValue("library/last", str(path) if path else "")

    @property
    def recent_libraries(self) -> list[Path]:
        value = self.store.value("library/recent", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        return [Path(str(v)) for v in (value or []) if v]

    def add_recent(self, path: Path) -> None:
        """Put ``path`` first in the recent libraries (and make it the last one opened)."""
        recent = [p for p in self.recent_libraries if p != path]
        self.store.setValue("library/recent", [str(p) for p in [path, *recent][:MAX_RECENT]])
        self.last_library = path

    def remove_recent(self, path: Path) -> None:
        recent = [str(p) for p in self.recent_libraries if p != path]
        self.store.setValue("library/recent", recent)
        if self.last_library == path:
            self.last_library = None

    # -- model -----------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return str(self._get("model/name", DEFAULT_MODEL, str))

    @model.setter
    def model(self, value: str) -> None:
        self.store.setValue("model/name", value)

    @property
    def weights(self) -> str:
        return str(self._get("model/weights", "default", str))

    @weights.setter
    def weights(self, value: str) -> None:
        self.store.setValue("model/weights", value)

    @property
    def device(self) -> str:
        return str(self._get("model/device", "auto", str))

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("model/device", value)

    @property
    def model_choice(self) -> ModelChoice:
        return ModelChoice(self.model, self.weights, self.device)

    @model_choice.setter
    def model_choice(self, choice: ModelChoice) -> None:
        self.model, self.weights, self.device = choice.model, choice.weights, choice.device

    # -- video clips -----------------------------------------------------------------------

    @property
    def video_options(self) -> SceneOptions:
        """How many frames a clip keeps (Preferences > Video clips)."""
        default = SceneOptions()
        min_gap = float(self._get("video/min_gap", default.min_gap, float))  # type: ignore[arg-type]
        max_frames = int(self._get("video/max_frames", default.max_frames, int))  # type: ignore[call-overload]
        return SceneOptions(min_gap=max(0.5, min_gap), max_frames=max(1, max_frames))

    @video_options.setter
    def video_options(self, options: SceneOptions) -> None:
        self.store.setValue("video/min_gap", options.min_gap)
        self.store.setValue("video/max_frames", options.max_frames)

    def sync(self) -> None:
        self.store.sync()
