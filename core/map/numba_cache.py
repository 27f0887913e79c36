"""A persistent numba cache for the map engine: compiled once per computer, not per launch.

umap compiles most of its numba code with ``cache=False``, so every new process compiled it
again (40-110 s on two cores, and more on a busy machine). In the processes that lay out maps
(the app's engine process, ``lookalike map``) the jit decorators are made to default to
``cache=True`` and numba's cache goes to Lookalike's cache directory (a user-writable place,
unlike site-packages), before umap and pynndescent are imported. numba keys each entry by
the source file and its modification time, so upgrading umap invalidates it by itself.
Functions numba cannot cache (those using dynamic globals) are still compiled per process:
that is pynndescent's NN-descent (~36 CPU s), which umap uses only from 4,096 photos on
(below that the map's neighbours are exact), so the engine's warm-up on a tiny dataset
takes 31 CPU s on first use and ~2.5 s on later launches (two quiet cores).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.paths import cache_dir

log = logging.getLogger(__name__)

_ENABLED: list[Path] = []


CACHE_ENV = "LOOKALIKE_NUMBA_CACHE"  # overrides the folder (the tests keep one per machine)


def numba_cache_dir() -> Path:
    """Where the map engine's compiled code is kept (``~/.cache/lookalike/numba``)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else cache_dir() / "numba"


def is_filled(folder: Path | None = None) -> bool:
    """Whether compiled code is already stored there (a launch will load, not compile)."""
    folder = folder or numba_cache_dir()
    try:
        return any(folder.rglob("*.nbi"))
    except OSError:
        return False


def enable(folder: Path | None = None) -> Path | None:
    """Cache what numba compiles in ``folder`` (default: :func:`numba_cache_dir`); call it
    before umap is imported. Returns the folder, or None when it is too late or unwritable."""
    if _ENABLED:
        return _ENABLED[0]
    folder = folder or numba_cache_dir()
    if "umap" in sys.modules or "pynndescent" in sys.modules:
        log.warning("numba cache not enabled: umap is already imported")
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("numba cache not enabled: %s", exc)
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    import numba
    from numba.core import config
    from numba.core.errors import NumbaWarning

    config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]  # numba reads it at import
    numba.njit = _cached(numba.njit)
    numba.jit = _cached(numba.jit)
    warnings.filterwarnings("ignore", message=".*[Cc]annot cache.*", category=NumbaWarning)
    _ENABLED.append(folder)
    return folder


def _cached(decorator: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(decorator)
    def with_cache(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)
    return with_cache
