"""dlib's face descriptor network rebuilt for ONNX Runtime gives dlib's own numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import face_photos
from core.faces.descriptor import Descriptor, onnx_path, read_dlib_net
from core.faces.model import face_model, model_dir

WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"


def _chips(shared_photos: Path) -> list[np.ndarray]:
    """Aligned 150-px chips of real faces: 4 people of 3 photos, an edited photo of each."""
    import dlib  # type: ignore[import-untyped]

    model = face_model()
    chips = []
    for k, name in enumerate(["best_man", "devil", "orange", "dudley"]):
        for variant in face_photos.variants(shared_photos, name, 1, seed=k):
            rgb = np.asarray(variant.image.convert("RGB"))
            for box in model._detector(np.asarray(variant.image.convert("L")), 0):
                chips.append(dlib.get_face_chip(rgb, model._landmarks(rgb, box), 150, 0.25))
    return chips


def test_onnx_descriptor_equals_dlibs_on_real_faces(shared_photos: Path) -> None:
    import dlib

    chips = _chips(shared_photos)
    assert len(chips) >= 4
    weights = model_dir() / WEIGHTS
    expected = np.array(dlib.face_recognition_model_v1(str(weights))
                        .compute_face_descriptor(chips), np.float32)
    got = Descriptor(weights)(chips)
    assert got.shape == (len(chips), 128)
    assert np.abs(got - expected).max() < 1e-4
    # one at a time (as a photo with one face) gives the same numbers as the batch
    assert np.abs(Descriptor(weights)(chips[:1])[0] - expected[0]).max() < 1e-4
    assert onnx_path(weights).is_file()  # built once, then read from the cache
    # different people stay apart, as in dlib: the numbers are not all alike
    assert np.linalg.norm(got[0] - got[-1]) > 0.6


def test_a_file_that_is_not_the_network_is_refused(tmp_path: Path) -> None:
    from core.errors import ModelUnavailable

    other = tmp_path / "other.dat"
    other.write_bytes((model_dir() / "shape_predictor_5_face_landmarks.dat").read_bytes())
    with pytest.raises(ModelUnavailable):
        read_dlib_net(other)
