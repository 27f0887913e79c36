"""Fixtures for every test: isolated user directories and the shared camera photos."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.map.engine import MapEngine
from tests import pasted
from tests.pasted import PastedCatalog

SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
_USER_DIRS: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Catalogs, thumbnails and settings go to a temporary home, never the real one.

    Set before any fixture runs (session-scoped ones included); Qt runs offscreen.
    """
    global _USER_DIRS
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _USER_DIRS = Path(tempfile.mkdtemp(prefix="lookalike-test-home-"))
    # umap's compiled code outlives a session (as numba's own cache in site-packages
    # does), or every session would compile it again in its fresh cache directory.
    os.environ.setdefault("LOOKALIKE_NUMBA_CACHE",
                          str(Path(tempfile.gettempdir()) / "lookalike-test-numba"))
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        folder = _USER_DIRS / name.lower()
        folder.mkdir()
        os.environ[name] = str(folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _USER_DIRS is not None:
        shutil.rmtree(_USER_DIRS, ignore_errors=True)


@pytest.fixture(scope="session")
def map_engine() -> Iterator[MapEngine]:
    """One map engine (child process) for the whole session: numba compiles UMAP once."""
    engine = MapEngine()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    """The real camera files of ../shared/photos (skipped only where it is absent)."""
    if not SHARED_PHOTOS.is_dir():
        pytest.skip("../shared/photos not found (a user's own clone)")
    return SHARED_PHOTOS


@pytest.fixture(scope="session")
def pasted_catalog(tmp_path_factory: pytest.TempPathFactory) -> PastedCatalog:
    """Photos with a pasted object (one EXIF-rotated), indexed with real weights and regions,
    and a head trained to find the object (tests/pasted.py)."""
    return pasted.indexed(tmp_path_factory.mktemp("pasted"))
