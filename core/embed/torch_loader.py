"""Loading torch from a worker thread without freezing the UI thread.

``import torch`` maps several hundred megabytes of shared libraries. The dynamic linker's
work (relocating ``libtorch_cpu.so`` alone takes 0.1-0.3 s) runs inside the import with the
GIL held, so every other Python thread - the GUI's event loop included - stops for that
long. :func:`ensure_torch` first maps those libraries through libc's ``dlopen`` called with
ctypes, which releases the GIL, then imports torch and torchvision: the import finds the
libraries already mapped. Best effort: anything unusual falls back to a plain import.

The import also creates a few hundred thousand Python objects, which would trigger several
full garbage collections (each 50-250 ms with the GIL held, measured): the collector is
paused while torch loads, and its modules - alive as long as the process - are then frozen
out of future collections (``gc.freeze``).
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# In load order: each one's dependencies come before it.
_TORCH_LIBS = ("libtorch_global_deps", "libc10", "libtorch_cpu", "libtorch", "libtorch_python")
_lock = threading.Lock()
_loaded = False


def ensure_torch() -> None:
    """Import torch and torchvision (once), keeping other threads running meanwhile."""
    global _loaded
    with _lock:
        if _loaded:
            return
        if "torch" not in sys.modules:
            try:
                _map_libraries()
            except Exception as exc:  # noqa: BLE001 - only an optimisation
                log.debug("could not pre-map torch's libraries: %s", exc)
        collecting = gc.isenabled()
        gc.disable()
        try:
            import torch  # noqa: F401
            import torchvision  # noqa: F401
        finally:
            gc.freeze()
            if collecting:
                gc.enable()
        _loaded = True


def library_paths() -> list[Path]:
    """The shared libraries of torch and torchvision to map, in order (Linux and macOS)."""
    suffix = {"linux": ".so", "darwin": ".dylib"}.get(sys.platform)
    torch_spec = importlib.util.find_spec("torch")
    if suffix is None or torch_spec is None or torch_spec.origin is None:
        return []
    lib = Path(torch_spec.origin).parent / "lib"
    paths = [lib / f"{name}{suffix}" for name in _TORCH_LIBS]
    vision = importlib.util.find_spec("torchvision")
    if vision is not None and vision.origin is not None:
        paths += sorted(Path(vision.origin).parent.glob("_C*.so"))
    return [p for p in paths if p.is_file()]


def _map_libraries() -> None:
    libc = ctypes.CDLL(None)  # a CDLL function call releases the GIL while it runs
    dlopen = libc.dlopen
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for path in library_paths():
        if not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            log.debug("dlopen failed for %s", path)
            return
