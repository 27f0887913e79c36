"""What the quality benchmark compares: image descriptors, and a cache of their vectors.

Every descriptor maps PIL images to L2-normalised float32 rows, so that one dot product
ranks them all: the product's CNNs (:class:`core.embed.cnn.Embedder`, CPU, inputs made by
:func:`core.decode.model_input` as when indexing), variants of them from the retrieval
literature (GeM pooling instead of average, several input scales, the whole frame instead of
the centre square), a perceptual hash (``imagehash`` pHash: its 64 bits as +-1/8, so that
the dot product is 1 - 2 x Hamming distance / 64) and imagededup's CNN.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from benchmarks.quality_data import Item
from core import decode
from core.embed.models import get_spec, weights_tag

log = logging.getLogger(__name__)

Describe = Callable[[Sequence[Image.Image]], NDArray[np.float32]]
BATCH = 16
GEM_P = 3.0


@dataclass(frozen=True)
class Method:
    """A descriptor: its label in the tables, its cache key, and how to build it."""

    label: str
    key: str
    build: Callable[[], Describe] = field(compare=False)
    model: str | None = None  # the product model it measures, if any


def _normalise(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


# -- the product's CNNs ------------------------------------------------------------------------


def whole_frame(image: Image.Image, size: int) -> NDArray[np.uint8]:
    """The whole picture, shorter side ``size`` (longer side at most 2 x size): no crop."""
    w, h = image.size
    scale = size / min(w, h)
    new = (max(size, min(2 * size, round(w * scale))), max(size, min(2 * size, round(h * scale))))
    return np.asarray(image.convert("RGB").resize(new, Image.Resampling.BILINEAR), np.uint8)


def use_gem(net: Any, p: float = GEM_P) -> None:
    """Replace the network's last global average pooling by generalised-mean pooling."""
    import torch
    from torch import nn

    class GeM(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.clamp(min=1e-6).pow(p).mean((-2, -1)).pow(1.0 / p)

    pools = [name for name, module in net.named_modules()
             if type(module).__name__ in ("AdaptiveAvgPool2d", "SelectAdaptivePool2d")]
    if not pools:
        raise ValueError("no global average pooling found in the network")
    parent_name, _, attr = pools[-1].rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, attr, GeM())


def cnn(model: str, weights: str = "default", *, label: str | None = None, pooling: str = "avg",
        scales: tuple[float, ...] = (1.0,), frame: str = "crop", layer: str = "semantic"
        ) -> Method:
    """A product model as a descriptor; ``layer`` "visual" takes the product's visual layer
    (an earlier stage, pooled: ``lookalike index --layer visual``); ``pooling`` "gem", "rmac"
    (the sum of the unit region descriptors of :mod:`core.regions`, the global embedding
    aggregated from the regions), several ``scales`` (of the model's input size, descriptors
    summed) or ``frame`` "whole" vary how it is applied."""
    # a weights file is keyed by its content (the catalog's tag), so a new file is new vectors
    tag = ("random" if weights == "none" else "" if weights == "default"
           else weights_tag(weights, get_spec(model)))
    parts = [model] + [t for t in (tag,) if t]
    if layer != "semantic":  # the stage in the key: another stage is other vectors
        parts.append(f"{layer}-{get_spec(model).visual}")
    if pooling != "avg":
        parts.append(pooling)
    if scales != (1.0,):
        parts.append("x".join(f"{s:g}" for s in scales))
    if frame != "crop":
        parts.append(frame)
    key = "-".join(parts)

    def build() -> Describe:
        from core.embed.cnn import Embedder

        # the product's engine (ONNX Runtime for the Lite models on a CPU); the experiments
        # change the network or its input shape: PyTorch
        plain = pooling in ("avg", "rmac") and scales == (1.0,) and frame == "crop"
        embedder = Embedder(model, weights, device="cpu", engine="auto" if plain else "torch",
                            layer=layer)
        if pooling == "gem":
            use_gem(embedder._net)  # the benchmark's experiment: the product keeps its pooling

        def describe(images: Sequence[Image.Image]) -> NDArray[np.float32]:
            if pooling == "rmac":
                return _aggregated(embedder, images)
            total = np.zeros((len(images), embedder.dim), np.float32)
            for scale in scales:
                size = round(embedder.input_size * scale)
                if frame == "whole":
                    total += _by_shape(embedder.embed_arrays,
                                       [whole_frame(im, size) for im in images], embedder.dim)
                else:
                    total += embedder.embed_arrays([decode.model_input(im, size)
                                                    for im in images])
            return _normalise(total)

        return describe

    return Method(label or key, key, build, model)


def _aggregated(embedder: Any, images: Sequence[Image.Image]) -> NDArray[np.float32]:
    """R-MAC's aggregation over the product's region grid: the sum of the unit region
    descriptors of each picture, normalised."""
    from core.regions.grid import grid_cells, pool
    from core.regions.pca import unit_rows

    maps = embedder.run_arrays([decode.model_input(im, embedder.input_size) for im in images],
                               classify=False, maps=True).maps
    regions = unit_rows(pool(maps, grid_cells(*maps.shape[2:])))
    return _normalise(regions.sum(axis=1))


def _by_shape(embed: Callable[[list[NDArray[np.uint8]]], NDArray[np.float32]],
              arrays: list[NDArray[np.uint8]], dim: int) -> NDArray[np.float32]:
    """Embed arrays of different shapes, one batch per shape."""
    out = np.zeros((len(arrays), dim), np.float32)
    shapes: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(arrays):
        shapes.setdefault(a.shape, []).append(i)
    for rows in shapes.values():
        out[rows] = embed([arrays[i] for i in rows])
    return out


# -- the peers ---------------------------------------------------------------------------------


def phash() -> Method:
    def build() -> Describe:
        import imagehash

        def describe(images: Sequence[Image.Image]) -> NDArray[np.float32]:
            bits = np.array([imagehash.phash(im).hash.ravel() for im in images], np.float32)
            return (bits * 2 - 1) / 8.0

        return describe

    return Method("pHash (imagehash)", "phash", build)


def imagededup_weights() -> Path | None:
    """imagededup's MobileNetV3 weights in torch's cache, if a download ever put them there."""
    import torch
    import torchvision

    url = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return path if path.exists() else None


def imagededup_cnn() -> Method:
    """imagededup's CNN (MobileNetV3-small, ImageNet weights from torchvision's hub). Where
    the weights are not in torch's cache (no internet here), the same network with random
    weights, labelled so: nothing is downloaded."""
    real = imagededup_weights() is not None
    label = "imagededup CNN" + ("" if real else " (random init: weights not downloadable)")

    def build() -> Describe:
        from unittest import mock

        import torch
        import torchvision
        from imagededup.methods import CNN

        if real:
            encoder = CNN(verbose=False)
        else:
            original = torchvision.models.mobilenet_v3_small

            def no_download(*args: Any, **kwargs: Any) -> Any:
                kwargs["weights"] = None
                torch.manual_seed(0)
                return original(*args, **kwargs)

            with mock.patch.object(torchvision.models, "mobilenet_v3_small", no_download):
                encoder = CNN(verbose=False)

        def describe(images: Sequence[Image.Image]) -> NDArray[np.float32]:
            with torch.inference_mode():
                rows = [encoder.encode_image(image_array=np.asarray(im.convert("RGB"))).ravel()
                        for im in images]
            return _normalise(np.array(rows, np.float32))

        return describe

    return Method(label, "imagededup-cnn" + ("" if real else "-random"), build)


# -- the cache of vectors ----------------------------------------------------------------------


class VectorCache:
    """Vectors of each (method, item name), in one ``.npz`` per method under ``folder``.

    Only missing items are made and described; what is done is saved every few batches,
    so an interrupted run keeps it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._built: dict[str, Describe] = {}

    def _path(self, method: Method) -> Path:
        return self.folder / f"{method.key}.npz"

    def _load(self, method: Method) -> dict[str, NDArray[np.float32]]:
        path = self._path(method)
        if not path.exists():
            return {}
        with np.load(path) as data:
            return dict(zip(data["names"].tolist(), data["vectors"], strict=True))

    def _save(self, method: Method, known: dict[str, NDArray[np.float32]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._path(method).with_suffix(".tmp.npz")
        np.savez(tmp, names=np.array(list(known)), vectors=np.stack(list(known.values())))
        tmp.replace(self._path(method))

    def vectors(self, method: Method, items: Sequence[Item],
                progress: Callable[[str], None] | None = None) -> NDArray[np.float32]:
        """The (n, d) vectors of ``items`` for ``method``, computing the missing ones."""
        known = self._load(method)
        missing = list({item.name: item for item in items if item.name not in known}.values())
        if missing:
            describe = self._built.get(method.key) or self._built.setdefault(method.key,
                                                                             method.build())
            for start in range(0, len(missing), BATCH):
                chunk = missing[start : start + BATCH]
                vectors = describe([item.make() for item in chunk])
                known.update(zip((item.name for item in chunk), vectors, strict=True))
                if (start // BATCH) % 8 == 7 or start + BATCH >= len(missing):
                    self._save(method, known)
                    if progress:
                        progress(f"{method.label}: {min(start + BATCH, len(missing))}/"
                                 f"{len(missing)} described")
        return np.stack([known[item.name] for item in items]).astype(np.float32)
