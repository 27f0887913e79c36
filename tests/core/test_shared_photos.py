"""The real camera files of ../shared/photos, indexed as a user's library would be."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.decode import SUPPORTED_EXTENSIONS
from core.jobs import run
from core.library import Library


@pytest.fixture(scope="module")
def shared_library(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory):
    catalog = tmp_path_factory.mktemp("shared") / "catalog.sqlite"
    with Library(shared_photos, catalog_path=catalog, model="resnet50", weights="none") as library:
        result = run(library.index())
        yield library, result


def test_every_file_is_indexed_or_a_problem(shared_library, shared_photos: Path) -> None:
    library, _result = shared_library
    files = {p for p in shared_photos.rglob("*")
             if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS}
    embedded = {p.path for p in library.catalog.photos()}
    problems = {p.path: p.reason for p in library.catalog.problems()}
    assert embedded | set(problems) == files
    assert not embedded & set(problems)
    assert library.catalog.embedded_count(library.model_key) == len(embedded)
    assert any(p.name == "corrupted.jpg" for p in problems)
    assert all(reason.strip() for reason in problems.values())
    assert len(embedded) >= 60


def test_heic_and_raw_are_embedded(shared_library) -> None:
    library, _ = shared_library
    names = {p.path.name for p in library.catalog.photos()}
    assert "IMG_5195.HEIC" in names
    assert "RAW_KODAK_DC50_é.KDC" in names


@pytest.mark.parametrize("picture", ["landscape", "portrait"])
def test_orientation_variants_find_each_other_first(shared_library, picture: str) -> None:
    library, _ = shared_library
    variants = [p for p in library.catalog.photos()
                if p.path.parent.name == "orientation" and p.path.stem.startswith(picture)]
    assert len(variants) == 8
    ids = {p.id for p in variants}
    for photo in variants:
        hits = library.similar([photo.id], k=7)
        assert {h.photo_id for h in hits} == ids - {photo.id}, photo.path.name


def test_camera_metadata_is_recorded(shared_library) -> None:
    library, _ = shared_library
    canon = next(p for p in library.catalog.photos() if p.path.name == "Canon_40D.jpg")
    assert canon.camera and "40D" in canon.camera
    assert canon.captured_at and canon.captured_at.startswith("20")
