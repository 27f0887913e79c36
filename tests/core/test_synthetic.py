"""benchmarks.synthetic: generated scenes look like photos, are deterministic, and are written as
real files that core.decode reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import synthetic
from core.decode import decode_file, read_info


def _small(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((64, 48), Image.Resampling.BOX),
                      dtype=np.float32)


def _diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(_small(a) - _small(b)).mean())


def _correlation(a: Image.Image, b: Image.Image) -> float:
    """Pearson correlation of tiny grey copies: 1.0 for the same layout in any exposure."""
    x, y = (_small(im.convert("L").convert("RGB")).ravel() for im in (a, b))
    return float(np.corrcoef(x, y)[0, 1])


def test_scene_is_deterministic_and_textured() -> None:
    image = synthetic.scene(5)
    assert image.mode == "RGB" and image.size == (640, 480)
    assert np.array_equal(np.asarray(image), np.asarray(synthetic.scene(5)))
    pixels = np.asarray(image)
    assert pixels.std() > 20  # not a flat colour
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5000  # texture and noise
    assert synthetic.scene(5, (320, 200)).size == (320, 200)


def test_different_seeds_look_different() -> None:
    scenes = [synthetic.scene(seed) for seed in range(6)]
    for i, a in enumerate(scenes):
        for b in scenes[i + 1:]:
            assert _diff(a, b) > 15


def test_variants_are_near_duplicates() -> None:
    image = synthetic.scene(11)
    made = synthetic.variants(image, 11)
    assert set(made) == {"crop", "exposure", "reencode", "small"}
    assert made["small"].size == (320, 240)
    assert all(made[k].size == image.size for k in ("crop", "exposure", "reencode"))
    other = synthetic.scene(12)
    assert 0 < _diff(image, made["reencode"]) < 3
    assert 0 < _diff(image, made["small"]) < 3
    assert _diff(image, made["exposure"]) > 5 and _correlation(image, made["exposure"]) > 0.97
    assert _diff(image, made["crop"]) < _diff(image, other) / 1.5
    assert _correlation(image, made["crop"]) > max(0.5, _correlation(image, other))
    again = synthetic.variants(image, 11)
    assert all(np.array_equal(np.asarray(made[k]), np.asarray(again[k])) for k in made)


def test_write_library_writes_readable_files(tmp_path: Path) -> None:
    library = synthetic.write_library(tmp_path, 3, n_variants=5, size=(320, 240),
                                      formats=("jpg", "png", "heic"))
    assert sorted(library) == ["scene_000", "scene_001", "scene_002"]
    for (name, paths), ext in zip(sorted(library.items()), (".jpg", ".png", ".heic"),
                                  strict=True):
        assert len(paths) == 6
        assert paths[0] == tmp_path / name / f"orig{ext}"
        assert [p.stem for p in paths[1:]] == list(synthetic.VARIANTS)
        for path in paths:
            assert path.is_file()
            decoded = decode_file(path)
            assert decoded.info.captured_at is not None
            assert decoded.info.camera == "Lookalike Synthetic Camera"


def test_n_variants_counts_every_file(tmp_path: Path) -> None:
    library = synthetic.write_library(tmp_path, 2, n_variants=1, seed=7)
    assert [len(paths) for paths in library.values()] == [2, 2]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jpg")) == sorted(
        p.relative_to(tmp_path) for paths in library.values() for p in paths)
    with pytest.raises(ValueError, match="n_variants"):
        synthetic.write_library(tmp_path, 1, n_variants=9)


def test_write_library_is_deterministic(tmp_path: Path) -> None:
    first = synthetic.write_library(tmp_path / "a", 2, seed=3)
    second = synthetic.write_library(tmp_path / "b", 2, seed=3)
    other = synthetic.write_library(tmp_path / "c", 2, seed=4)
    for a, b, c in zip(first.values(), second.values(), other.values(), strict=True):
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
        assert a[0].read_bytes() != c[0].read_bytes()


def test_rotated_variant_looks_like_the_original_once_oriented(tmp_path: Path) -> None:
    library = synthetic.write_library(tmp_path, 2, n_variants=3)
    for paths in library.values():
        original, rotated = paths[0], paths[3]
        assert rotated.name == "rotated.jpg"
        with Image.open(rotated) as stored:
            assert stored.size == (480, 640)  # pixels stored sideways
            assert stored.getexif()[0x0112] in (6, 8)
        a, b = decode_file(original), decode_file(rotated)
        assert a.info == b.info
        assert a.image.size == b.image.size
        assert _diff(a.image, b.image) < 2


def test_write_jpeg_with_exif(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.jpg"
    synthetic.write_jpeg(path, synthetic.scene(1), quality=80, exif_orientation=8,
                         exif={"Make": "Fujifilm", "Model": "X100V",
                               "DateTimeOriginal": "2021:06:07 08:09:10"})
    info = read_info(path)
    assert info.camera == "Fujifilm X100V"
    assert info.captured_at == "2021-06-07T08:09:10"
    assert (info.width, info.height) == (480, 640)


def test_big_photo() -> None:
    photo = synthetic.big_photo(2, megapixels=2)
    w, h = photo.size
    assert abs(w * h - 2e6) < 0.01 * 2e6
    assert abs(w / h - 4 / 3) < 0.01
    assert np.asarray(photo.resize((64, 48))).std() > 15
    assert np.array_equal(np.asarray(photo), np.asarray(synthetic.big_photo(2, megapixels=2)))
