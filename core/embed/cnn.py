"""The CNN that maps images to L2-normalised embeddings (batched, channels_last, AMP on CUDA),
and - in the same forward pass - to the ImageNet classes it sees (for keywords)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from core import decode
from core.decode.pixels import to_rgb
from core.embed.feature_map import capture_map
from core.embed.lite import LITE_MODELS
from core.embed.models import (
    DEFAULT_LAYER,
    DEFAULT_MODEL,
    VISUAL,
    build_network,
    check_layer,
    get_spec,
    is_pretrained,
    model_key,
    resolve_device,
)
from core.embed.onnx_engine import (
    OnnxMap,
    OnnxNet,
    cnn_threads,
    load_onnx,
    load_visual_onnx,
    onnx_outputs,
)
from core.embed.outputs import TOP_CLASSES, Outputs
from core.thumbnails import THUMBNAIL_SIZE

__all__ = ["TOP_CLASSES", "Embedder", "Outputs"]

class Embedder:
    """A CNN that maps images to L2-normalised embedding vectors.

    Building it loads the weights (see :func:`core.embed.models.build_network`) and may raise
    :class:`~core.errors.ModelUnavailable`. ``engine``: "auto" (ONNX Runtime for the Lite
    models on a CPU, see :mod:`core.embed.onnx_engine`; PyTorch otherwise) or "torch".
    ``layer``: "semantic" (the pooled final features) or "visual" (an earlier stage, pooled,
    from the same forward pass; see :data:`core.embed.models.LAYERS`); the feature maps
    handed out for regions are that layer's.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        weights: str | Path | None = "default",
        device: str | None = "auto",
        seed: int = 0,
        engine: str = "auto",
        layer: str = DEFAULT_LAYER,
    ) -> None:
        self.spec = get_spec(model)
        self.layer = check_layer(layer)
        self.key = model_key(model, weights, seed, layer)
        self.device = resolve_device(device)
        self.input_size = self.spec.input_size
        self.dim = self.spec.layer_dim(layer)
        self._stage = self.spec.visual if layer == VISUAL else ""
        net, head = build_network(model, weights, seed)
        # The Lite models on a CPU: ONNX Runtime, fewer threads (see core.embed.onnx_engine).
        light = self.spec.name in LITE_MODELS and self.device.type == "cpu"
        self._threads = cnn_threads() if light else None
        use_onnx = light and engine != "torch"
        self._onnx = (load_onnx(self.key, net, head, self.input_size, self._stage)
                      if use_onnx else None)
        self._net = net.to(self.device).to(memory_format=torch.channels_last)
        # Random or unknown weights name no real classes: no keywords from them.
        self._head = head.to(self.device) if is_pretrained(weights) else None
        self._mean = torch.tensor(self.spec.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.spec.std, device=self.device).view(1, 3, 1, 1) * 255
        self._lock = threading.Lock()  # one batch at a time through the network
        self._visual: torch.nn.Module | None = None  # found on first use (maps_of)
        # visual_of under ONNX Runtime where the network runs there (exported on first use)
        self._visual_onnx: OnnxMap | None = None
        self._visual_onnx_tried = self._onnx is None

    @property
    def batch_size(self) -> int:
        """A batch size that keeps this device busy without wasting memory.

        On a CPU, small batches keep the activations in cache: 8 costs about 10% less CPU
        per photo than 16 (resnet50, benchmarks/README.md) and commits more often.
        """
        return 64 if self.device.type == "cuda" else 8

    @property
    def classifies(self) -> bool:
        """Whether :meth:`run_arrays` also names the ImageNet classes (real weights only)."""
        return self._head is not None

    def embed_arrays(self, arrays: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """Embed model inputs (``(size, size, 3)`` uint8 arrays) -> ``(n, dim)`` float32."""
        return self.run_arrays(arrays, classify=False).vectors

    def run_arrays(self, arrays: Sequence[NDArray[np.uint8]], classify: bool = True,
                   maps: bool = False) -> Outputs:
        """Embed model inputs and, if ``classify`` and :attr:`classifies`, take the top
        ImageNet classes from the same features; if ``maps``, keep the feature maps too
        (one forward pass)."""
        if not arrays:
            return Outputs(np.zeros((0, self.dim), dtype=np.float32))
        if self._onnx is not None:
            return self._run_onnx(self._onnx, arrays, classify, maps)
        if self._threads is not None:
            torch.set_num_threads(self._threads)  # OpenMP: this thread's setting only
        classes = probs = None
        batch = torch.from_numpy(np.stack(arrays)).to(self.device, non_blocking=True)
        x = batch.permute(0, 3, 1, 2)  # NHWC memory viewed as NCHW: channels_last already
        with (self._lock, torch.inference_mode(),
              capture_map(self._net, self._stage) as captured):
            x = (x.float() - self._mean) / self._std
            x = x.contiguous(memory_format=torch.channels_last)
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    out = self._net(x)
            else:
                out = self._net(x)
            features = out.float().flatten(1)
            fmap = captured[0].float().contiguous().cpu().numpy() if maps else None
            if classify and self._head is not None:
                top = self._head(features).softmax(dim=1).topk(TOP_CLASSES, dim=1)
                classes, probs = top.indices.cpu().numpy(), top.values.cpu().numpy()
            if self._stage:  # the visual layer: the earlier stage's map, pooled
                features = captured[0].float().mean((2, 3))
            out = torch.nn.functional.normalize(features, dim=1)
        return Outputs(out.cpu().numpy(), classes, probs, fmap)

    def _run_onnx(self, net: OnnxNet, arrays: Sequence[NDArray[np.uint8]],
                  classify: bool, maps: bool) -> Outputs:
        with self._lock:
            return onnx_outputs(net, self.spec, arrays, classify and self._head is not None,
                                maps)

    @property
    def engine(self) -> str:
        """What runs the network: "onnxruntime" or "torch"."""
        return "onnxruntime" if self._onnx is not None else "torch"

    def embed_images(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """Embed PIL images (any size; resized and centre-cropped like the library's)."""
        return self.embed_arrays([decode.model_input(im, self.input_size) for im in images])

    def map_of(self, image: Image.Image) -> NDArray[np.float32]:
        """The feature map ``(channels, h, w)`` of a whole image as it is (any size, no crop
        or resize): for region queries (:mod:`core.regions`)."""
        return self.maps_of(image)[0]

    def maps_of(self, image: Image.Image) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The last feature map and the visual one (the last at 1/16 of the input, see
        :func:`core.embed.feature_map.visual_module`) of a whole image as it is, from one
        pass: ``(channels, h, w)`` each."""
        from core.embed.feature_map import capture_visual, visual_module

        pixels = np.asarray(to_rgb(image), dtype=np.uint8)
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        x = torch.from_numpy(pixels.copy()).to(self.device).permute(2, 0, 1)[None]
        with self._lock, torch.inference_mode():
            if self._visual is None:
                self._visual = visual_module(self._net, self.input_size)
            with (capture_map(self._net, self._stage) as captured,
                  capture_visual(self._visual) as visual):
                x = (x.float() - self._mean) / self._std
                self._net(x)
            return (captured[0][0].float().cpu().numpy(), visual[0][0].float().cpu().numpy())

    def visual_of(self, image: Image.Image) -> NDArray[np.float32]:
        """The visual feature map ``(channels, h, w)`` of :meth:`maps_of` alone: the pass
        stops there (the later stages are a fifth of the work). Under ONNX Runtime where the
        network runs there (~3x less CPU, the same map)."""
        from core.embed.feature_map import visual_module

        pixels = np.asarray(to_rgb(image), dtype=np.uint8)
        with self._lock:
            if self._visual is None:
                with torch.inference_mode():
                    self._visual = visual_module(self._net, self.input_size)
            if not self._visual_onnx_tried:
                self._visual_onnx_tried = True
                self._visual_onnx = load_visual_onnx(self.key, self._net, self._visual,
                                                     self.input_size)
            if self._visual_onnx is not None:
                mean = np.asarray(self.spec.mean, np.float32).reshape(1, 3, 1, 1) * 255
                std = np.asarray(self.spec.std, np.float32).reshape(1, 3, 1, 1) * 255
                x = (pixels.transpose(2, 0, 1)[None].astype(np.float32) - mean) / std
                return self._visual_onnx(x)[0]
            return self._visual_torch(pixels, self._visual)

    def _visual_torch(self, pixels: NDArray[np.uint8], visual: torch.nn.Module
                      ) -> NDArray[np.float32]:
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        x = torch.from_numpy(pixels.copy()).to(self.device).permute(2, 0, 1)[None]

        def stop(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
            raise _Reached(output)

        with torch.inference_mode():
            handle = visual.register_forward_hook(stop)
            try:
                self._net((x.float() - self._mean) / self._std)
            except _Reached as reached:
                return reached.output[0].float().cpu().numpy()
            finally:
                handle.remove()
        raise RuntimeError("the visual stage was not reached")  # pragma: no cover

    def embed_file(self, path: Path) -> NDArray[np.float32]:
        """Embed one image file (e.g. a query photo outside the library)."""
        decoded = decode.decode_file(path, min_side=max(self.input_size, THUMBNAIL_SIZE))
        return self.embed_images([decoded.image])[0]


class _Reached(Exception):
    """Raised by a hook to end a forward pass at the module it was reached at."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__("reached")
        self.output = output
