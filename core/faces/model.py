"""dlib's face models: HOG detector, 5-point landmarks, 128-d ResNet descriptor (run by
ONNX Runtime from dlib's own weights, :mod:`core.faces.descriptor`: the same numbers, ~12x
less CPU than dlib-bin, which has no BLAS).

The model files come from the ``face_recognition_models`` package (CC0), located without
importing its ``__init__`` (which needs ``pkg_resources``). dlib is imported on first use
only: the app starts without it. dlib holds the GIL while it works, so the faces pass runs
this in worker processes (:mod:`core.faces.worker`), never in the app's threads.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

DETECTOR = "dlib-hog+resnet-v1"  # recorded with each scan: a new detector rescans
DETECT_SIDE = 1024  # the longer side of the copy the detector sees (faces >= ~80 px there)
DECODE_MIN_SIDE = 720  # JPEG DCT scaling: 12 MP decodes to 1000 x 750
FIT_SLACK = 0.05  # a copy 5 % off DETECT_SIDE is used as it is
MIN_SCORE = 0.0  # HOG detection score: below it, too many false faces
THUMB_SIZE = 96  # face thumbnails, square JPEG
DESCRIPTOR_DIM = 128

_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}


@dataclass(frozen=True)
class FoundFace:
    """A face in an upright photo: box relative to the photo (0..1, top-left origin)."""

    x: float
    y: float
    w: float
    h: float
    score: float
    descriptor: NDArray[np.float32]
    thumbnail: bytes


def model_dir() -> Path:
    """The folder of dlib's model files, from the ``face_recognition_models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "models"
        if all((folder / name).is_file() for name in _FILES.values()):
            return folder
    raise ModelUnavailable(
        "Finding faces needs dlib's face models: pip install dlib-bin face_recognition_models."
    )


def available() -> str | None:
    """None when faces can be found here, else the reason (without importing dlib)."""
    try:
        model_dir()
    except ModelUnavailable as exc:
        return str(exc)
    if importlib.util.find_spec("dlib") is None:
        return "Finding faces needs dlib: pip install dlib-bin."
    return None


class FaceModel:
    """The three dlib models, loaded once. Not thread-safe: one per process."""

    def __init__(self) -> None:
        folder = model_dir()
        try:
            import dlib  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ModelUnavailable("Finding faces needs dlib: pip install dlib-bin.") from exc
        self._dlib: Any = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(folder / _FILES["landmarks"]))
        self._describe = _descriptor(folder / _FILES["descriptor"], dlib)

    def find(self, image: Image.Image) -> list[FoundFace]:
        """Faces of an upright RGB image: detected on a copy whose longer side is
        :data:`DETECT_SIDE`, aligned on 5 landmarks, described by 128 numbers."""
        small = _fit(image, DETECT_SIDE)
        rgb = np.asarray(small.convert("RGB"))
        grey = np.asarray(small.convert("L"))  # HOG on grey: a third faster, same faces
        boxes, scores, _ = self._detector.run(grey, 0, MIN_SCORE)
        width, height = small.size
        kept, chips = [], []
        for box, score in zip(boxes, scores, strict=True):
            left, top = max(0, box.left()), max(0, box.top())
            right, bottom = min(width, box.right() + 1), min(height, box.bottom() + 1)
            if right - left < 8 or bottom - top < 8:
                continue
            shape = self._landmarks(rgb, box)
            chips.append(self._dlib.get_face_chip(rgb, shape, 150, 0.25))
            kept.append(((left, top, right, bottom), float(score)))
        vectors = self._describe(chips)  # all the photo's faces in one batch
        return [FoundFace(left / width, top / height, (right - left) / width,
                          (bottom - top) / height, score, vector,
                          face_thumbnail(small, (left, top, right, bottom)))
                for ((left, top, right, bottom), score), vector in zip(kept, vectors, strict=True)]


@functools.cache
def face_model() -> FaceModel:
    """This process's :class:`FaceModel` (loaded on first call, ~0.5 s)."""
    return FaceModel()


def face_thumbnail(image: Image.Image, box: tuple[int, int, int, int]) -> bytes:
    """A square JPEG around ``box`` (with some hair and chin), :data:`THUMB_SIZE` px."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * 1.5
    cx, cy = (left + right) / 2, (top + bottom) / 2
    crop = image.crop((round(cx - side / 2), round(cy - side / 2),
                       round(cx + side / 2), round(cy + side / 2)))
    crop = crop.convert("RGB").resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=82)
    return buf.getvalue()


Describe = Callable[[list[NDArray[np.uint8]]], NDArray[np.float32]]


def _descriptor(weights: Path, dlib: Any) -> Describe:
    """The 128-d descriptor of face chips: dlib's network under ONNX Runtime (the same
    numbers, ~10x faster: :mod:`core.faces.descriptor`), or in dlib where that fails."""
    try:
        from core.faces.descriptor import Descriptor

        return Descriptor(weights)
    except Exception as exc:  # noqa: BLE001 - an optimisation: dlib gives the same numbers
        log.warning("face descriptors in dlib (%s: ONNX Runtime cannot run them)", exc)
    network = dlib.face_recognition_model_v1(str(weights))

    def describe(chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        vectors = network.compute_face_descriptor(chips) if chips else []
        return np.asarray([np.asarray(v) for v in vectors], np.float32).reshape(-1, DESCRIPTOR_DIM)

    return describe


def _fit(image: Image.Image, side: int) -> Image.Image:
    """Scale to a longer side of ``side``; small photos are enlarged (at most 2x) so that
    their faces reach the detector's 80 px. Within :data:`FIT_SLACK` of ``side``, as is."""
    scale = min(2.0, side / max(image.size))
    if abs(scale - 1) < FIT_SLACK:  # a 12 MP JPEG decodes to 1,000 px: resizing costs 10 ms
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)
