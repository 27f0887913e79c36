"""Fixtures of the reliability suite: generated photos, an indexed and labelled copy of
them, and the fork server."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks import synthetic
from core.library import Library
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import MODEL, library_args
from tests.reliability.jobs import label_by_folder
from tests.reliability.ray_cluster import RayCluster, local_cluster


@pytest.fixture(scope="session")
def photo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 generated 640x480 photos: 10 scenes, each an original and 3 near-duplicates."""
    root = tmp_path_factory.mktemp("source") / "photos"
    synthetic.write_library(root, 10, n_variants=3, seed=3)
    return root


@pytest.fixture
def photos(photo_source: Path, tmp_path: Path) -> Path:
    """A private copy of the 40 generated photos (modification times kept)."""
    root = tmp_path / "photos"
    shutil.copytree(photo_source, root, copy_function=shutil.copy2)
    return root


@pytest.fixture(scope="session")
def forkserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    server = ForkServer(tmp_path_factory.mktemp("forkserver"))
    yield server
    server.close()


@dataclass(frozen=True)
class Indexed:
    """The 40 photos indexed with the test model, with a label set "scene" on 6 of them."""

    root: Path
    catalog: Path
    labelled: dict[str, list[str]]  # label -> content hashes

    def open(self, **options: object) -> Library:
        return Library(self.root, catalog_path=self.catalog, model=MODEL, weights="none",
                       **options)


@pytest.fixture(scope="session")
def indexed_source(photo_source: Path, forkserver: ForkServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    catalog = tmp_path_factory.mktemp("indexed") / "catalog.sqlite"
    pid = forkserver.start(argv=["index", *library_args(photo_source, catalog, "-q")])
    assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()[1]
    with Library(photo_source, catalog_path=catalog, model=MODEL, weights="none") as library:
        labelled = label_by_folder(library, "scene")
    return Indexed(photo_source, catalog, labelled)


@pytest.fixture
def indexed(indexed_source: Indexed, photos: Path, tmp_path: Path) -> Indexed:
    """A private copy of the indexed, labelled library: photos and catalog."""
    catalog = tmp_path / "catalog.sqlite"
    src = sqlite3.connect(indexed_source.catalog)
    dst = sqlite3.connect(catalog)
    src.backup(dst)
    src.close()
    dst.close()
    return Indexed(photos, catalog, indexed_source.labelled)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A local Ray cluster (head node, two CPUs: two workers) for ``index --ray``."""
    with local_cluster(cpus=2) as cluster:
        yield cluster


@pytest.fixture
def camera_photos(shared_photos: Path, tmp_path: Path) -> Path:
    """A private copy of the 70 real camera files (JPEG, HEIC, TIFF; one damaged JPEG)."""
    root = tmp_path / "camera"
    shutil.copytree(shared_photos / "exif-samples", root, copy_function=shutil.copy2)
    return root
