"""Fixtures for the core tests: generated libraries, indexed once per session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks import synthetic
from core.jobs import run
from core.library import Library

N_SCENES = 10


@dataclass
class IndexedLibrary:
    """A generated library of scenes and variants, scanned and embedded."""

    root: Path
    catalog_path: Path
    scenes: dict[str, list[Path]]

    def open(self, **options: object) -> Library:
        return Library(self.root, catalog_path=self.catalog_path, model="resnet50",
                       weights="none", **options)

    def scene_of(self, path: Path) -> str:
        return Path(path).relative_to(self.root).parts[0]


@pytest.fixture(scope="session")
def scenes_library(tmp_path_factory: pytest.TempPathFactory) -> IndexedLibrary:
    """10 scenes × (original + variants), indexed with resnet50 and random weights."""
    base = tmp_path_factory.mktemp("scenes")
    root = base / "photos"
    scenes = synthetic.write_library(root, N_SCENES, n_variants=3, seed=1)
    catalog_path = base / "catalog.sqlite"
    with Library(root, catalog_path=catalog_path, model="resnet50", weights="none") as library:
        run(library.index())
    return IndexedLibrary(root, catalog_path, scenes)


@pytest.fixture
def library_copy(scenes_library: IndexedLibrary, tmp_path: Path) -> IndexedLibrary:
    """A private copy of the indexed scenes library (photos and catalog) to change."""
    root = tmp_path / "photos"
    shutil.copytree(scenes_library.root, root, copy_function=shutil.copy2)
    catalog_path = tmp_path / "catalog.sqlite"
    with Library(scenes_library.root, catalog_path=scenes_library.catalog_path,
                 model="resnet50", weights="none") as src:
        src.catalog.conn.execute("VACUUM INTO ?", (str(catalog_path),))
    scenes = {
        name: [root / p.relative_to(scenes_library.root) for p in paths]
        for name, paths in scenes_library.scenes.items()
    }
    return IndexedLibrary(root, catalog_path, scenes)
