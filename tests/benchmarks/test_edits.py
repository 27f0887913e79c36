"""The near-duplicate edits of benchmarks/edits.py: each does what its name says."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.edits import EDITS, MILD, STRONG, apply_edit
from benchmarks.synthetic import scene


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return scene(7, (400, 300))


def _diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


@pytest.mark.parametrize("kind", list(EDITS))
def test_every_edit_changes_the_photo_and_repeats_exactly(photo: Image.Image, kind: str) -> None:
    before = photo.copy()
    out = apply_edit(photo, kind, seed=3)
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(photo), np.asarray(before))  # the input is untouched
    again = apply_edit(photo, kind, seed=3)
    assert out.size == again.size and np.array_equal(np.asarray(out), np.asarray(again))
    if out.size == photo.size:
        assert _diff(out, photo) > 0.3
    assert EDITS[kind].level in (MILD, STRONG)


def test_geometry_of_the_edits(photo: Image.Image) -> None:
    assert apply_edit(photo, "resize10").size == (40, 30)
    assert apply_edit(photo, "resize50").size == (200, 150)
    w, h = apply_edit(photo, "crop50", seed=1).size
    assert w * h == pytest.approx(0.5 * 400 * 300, rel=0.02) and w / h == pytest.approx(4 / 3,
                                                                                         rel=0.02)
    assert apply_edit(photo, "rotate90").size == (300, 400)
    w, h = apply_edit(photo, "rotate5").size
    assert 300 < w < 400 and 220 < h < 300  # the tilted corners are cropped away
    mirrored = apply_edit(photo, "mirror")
    assert np.array_equal(np.asarray(mirrored)[:, ::-1], np.asarray(photo))
    grey = np.asarray(apply_edit(photo, "greyscale"), np.int16)
    assert np.array_equal(grey[..., 0], grey[..., 1])
    assert (np.asarray(apply_edit(photo, "darker"), np.float32).mean()
            < np.asarray(photo, np.float32).mean()
            < np.asarray(apply_edit(photo, "brighter"), np.float32).mean())


def test_crops_land_in_different_places_for_different_seeds(photo: Image.Image) -> None:
    a, b = apply_edit(photo, "crop25", seed=1), apply_edit(photo, "crop25", seed=2)
    assert a.size == b.size and _diff(a, b) > 1.0


def test_an_unknown_edit_lists_the_kinds(photo: Image.Image) -> None:
    with pytest.raises(KeyError, match="jpeg75"):
        apply_edit(photo, "sepia")
