"""The EfficientNet-Lite networks under ONNX Runtime on the CPU: the same outputs, 2-3x less CPU.

Measured on this project's 2-core machine (busy; ``/tmp`` scripts of the i15 work, batch 8,
224 px, CPU milliseconds per photo, median of 5 interleaved rounds): eager PyTorch with
channels_last 37 (2 intra-op threads: 123 - depthwise convolutions scale badly), contiguous
51, TorchScript frozen 98 (2 threads), ONNX Runtime 14 with one thread (27 with two). So on
the CPU the Lite models run under ONNX Runtime, exported once from the PyTorch network
(features, logits and the feature map in one graph) into the user's cache; where that cannot
be done (no onnxruntime, an export error) they run in PyTorch, with the same results.

The CNN gets half the cores (at least one): the other half decodes photos meanwhile
(:mod:`core.embed.pipeline`), which is what keeps the pipeline within D + C.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core import paths
from core.embed.outputs import Outputs, from_numpy
from core.files import atomic_write

if TYPE_CHECKING:
    from torch import nn

    from core.embed.models import ModelSpec

log = logging.getLogger(__name__)


THREADS_ENV = "LOOKALIKE_CNN_THREADS"  # set by a process given its share of the cores


def cnn_threads() -> int:
    """Threads for a light network on the CPU: half the cores, at least one (or the number
    in ``LOOKALIKE_CNN_THREADS``: a cluster worker's share, see core.cluster)."""
    share = os.environ.get(THREADS_ENV, "")
    if share.isdigit() and int(share) > 0:
        return int(share)
    return max(1, (os.cpu_count() or 2) // 2)


# Bumped whenever the exported graph changes, so that an old export in the cache is replaced.
# 2: the last convolutional feature map is a third output (region descriptors, core.regions).
EXPORT_VERSION = 2


class OnnxNet:
    """An exported network that maps ``(n, 3, s, s)`` float32 to (features, logits, map):
    the pooled features, the ImageNet logits and the last convolutional feature map
    ``(n, channels, h, w)`` they were pooled from; from its file, or from the file's bytes
    (sent to a cluster's workers, see core.cluster)."""

    def __init__(self, path: Path | bytes, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = path if isinstance(path, Path) else None
        self._session = ort.InferenceSession(path if isinstance(path, bytes) else str(path),
                                             options, providers=["CPUExecutionProvider"])

    def __call__(self, x: NDArray[np.float32]
                 ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        features, logits, fmap = self._session.run(None, {"pixels": np.ascontiguousarray(x)})
        return features, logits, fmap


class OnnxMaps:
    """An exported network that maps ``(n, 3, h, w)`` float32 of any size to feature maps:
    its visual stage's ``(n, channels, h / 16, w / 16)`` alone, or its last map and that one
    (region search, see core.regions: ~3x less CPU than eager PyTorch on a whole photo)."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options,
                                             providers=["CPUExecutionProvider"])

    def __call__(self, x: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        return list(self._session.run(None, {"pixels": np.ascontiguousarray(x)}))


def onnx_outputs(net: OnnxNet, spec: ModelSpec, arrays: Sequence[NDArray[np.uint8]],
                 classify: bool, maps: bool = False) -> Outputs:
    """Model inputs (``(size, size, 3)`` uint8) through ``net``: normalised as ``spec`` says,
    then embeddings, (if ``classify``) the top classes and (if ``maps``) the feature maps."""
    mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1) * 255
    std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1) * 255
    x = (np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32) - mean) / std
    features, logits, fmap = net(x)
    return from_numpy(features, logits if classify else None, fmap if maps else None)


def model_path(key: str, input_size: int) -> Path:
    """Where the export of model ``key`` is cached (one per torch version: the exporter's)."""
    name = f"{key}-{input_size}-v{EXPORT_VERSION}-torch{torch_version()}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return paths.cache_dir() / "models" / f"{safe}.onnx"


def torch_version() -> str:
    """``torch.__version__``, read from its ``version.py`` while torch is not loaded (a
    cluster's driver needs only the export's name, not seconds of ``import torch``)."""
    loaded = sys.modules.get("torch")
    if loaded is None:
        spec = importlib.util.find_spec("torch")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            try:
                text = (Path(folder) / "version.py").read_text()
            except OSError:
                continue
            found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
            if found:
                return found.group(1)
    import torch

    return str(torch.__version__)


def cached_onnx(key: str, input_size: int) -> OnnxNet | None:
    """The cached export of model ``key`` under ONNX Runtime, or None if none is cached or
    it cannot run: then the caller builds the network (and exports it, see
    :func:`load_onnx`). Needs neither torch nor the weights."""
    path = model_path(key, input_size)
    if not path.is_file():
        return None
    try:
        return OnnxNet(path, cnn_threads())
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: exported again
        log.warning("cannot run the cached export of %s (%s): building it again", key, exc)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def load_onnx(key: str, body: nn.Module, head: nn.Module, input_size: int, stage: str = ""
              ) -> OnnxNet | None:
    """The network under ONNX Runtime (exported on first use), or None where it cannot run.
    With ``stage`` (the visual layer, see core.embed.models), its "features" are that
    submodule's output average-pooled and its "map" that output (``key`` names the layer, so
    each layer has its own export)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime is not installed: %s runs in PyTorch", key)
        return None
    path = model_path(key, input_size)
    try:
        if not path.is_file():
            atomic_write(path, lambda tmp: _export(body, head, input_size, Path(tmp), stage))
        return OnnxNet(path, cnn_threads())
    except Exception as exc:  # noqa: BLE001 - an optimisation: PyTorch gives the same results
        log.warning("cannot run %s under ONNX Runtime (%s): using PyTorch", key, exc)
        return None


def _export(body: nn.Module, head: nn.Module, input_size: int, path: Path, stage: str = ""
            ) -> None:
    import warnings

    import torch

    from core.embed.feature_map import capture_map

    class Both(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = body, head

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            with capture_map(self.body, stage) as maps:
                features = self.body(x).flatten(1)
            logits = self.head(features)
            if stage:  # the visual layer: the stage's map pooled (the same forward pass)
                features = maps[0].mean((2, 3))
            return features, logits, maps[0]

    example = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(
            Both().eval(), (example,), str(path), input_names=["pixels"],
            output_names=["features", "logits", "map"], dynamic_axes={"pixels": {0: "batch"}},
            dynamo=False,
        )


MAPS = ("visual", "both")  # the exports of region search's maps


def load_maps_onnx(key: str, input_size: int, which: str,
                   parts: Callable[[], tuple[nn.Module, nn.Module, str]]) -> OnnxMaps | None:
    """The maps ``which`` of :data:`MAPS` ("visual": the visual stage's map; "both": the
    last map and that one) of model ``key`` under ONNX Runtime, for inputs of any size: from
    the cache, or exported from ``parts()`` (the network, its visual stage and the layer's
    stage name, see :func:`core.embed.feature_map.capture_map`); None where that cannot run
    (PyTorch gives the same maps)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    try:
        return OnnxMaps(_maps_file(key, input_size, which, parts), cnn_threads())
    except Exception as exc:  # noqa: BLE001 - an optimisation: PyTorch gives the same maps
        log.warning("cannot run the maps of %s under ONNX Runtime (%s): using PyTorch",
                    key, exc)
        return None


def export_maps(key: str, input_size: int,
                parts: Callable[[], tuple[nn.Module, nn.Module, str]]) -> None:
    """Export every map of :data:`MAPS` that is not cached yet (see :func:`load_maps_onnx`):
    done where the network is built anyway, so that a later region query needs no torch."""
    if importlib.util.find_spec("onnxruntime") is None:
        return
    for which in MAPS:
        try:
            _maps_file(key, input_size, which, parts)
        except Exception as exc:  # noqa: BLE001 - exported (or not) again when queried
            log.warning("cannot export the maps of %s (%s)", key, exc)


def _maps_file(key: str, input_size: int, which: str,
               parts: Callable[[], tuple[nn.Module, nn.Module, str]]) -> Path:
    if which not in MAPS:
        raise ValueError(which)
    path = model_path(f"{key}-maps-{which}", input_size)
    if not path.is_file():
        body, visual, stage = parts()
        atomic_write(path, lambda tmp: _export_maps(body, visual, stage, which, input_size,
                                                    Path(tmp)))
    return path


def _export_maps(body: nn.Module, visual: nn.Module, stage: str, which: str,
                 input_size: int, path: Path) -> None:
    import warnings

    import torch

    from core.embed.feature_map import capture_map, capture_visual

    class Maps(torch.nn.Module):
        """``body``'s forward pass, its outputs the maps (layers that no output needs are
        left out of the graph)."""

        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            with capture_map(self.body, stage) as last, capture_visual(visual) as mid:
                self.body(x)
            return (mid[0],) if which == "visual" else (last[0], mid[0])

    names = ["visual"] if which == "visual" else ["last", "visual"]
    axes = {"pixels": {0: "batch", 2: "height", 3: "width"}}
    axes |= {name: {0: "batch", 2: "rows", 3: "columns"} for name in names}
    example = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(Maps().eval(), (example,), str(path), input_names=["pixels"],
                          output_names=names, dynamic_axes=axes, dynamo=False)
