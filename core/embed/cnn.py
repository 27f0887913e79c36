"""The CNN that maps images to L2-normalised embeddings (batched, channels_last, AMP on CUDA),
and - in the same forward pass - to the ImageNet classes it sees (for keywords)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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
    surely_cpu,
)
from core.embed.onnx_engine import (
    OnnxMaps,
    OnnxNet,
    cached_onnx,
    cnn_threads,
    export_maps,
    load_maps_onnx,
    load_onnx,
    onnx_outputs,
)
from core.embed.outputs import TOP_CLASSES, Outputs
from core.thumbnails import THUMBNAIL_SIZE

if TYPE_CHECKING:
    import torch

__all__ = ["TOP_CLASSES", "Embedder", "Outputs"]

class Embedder:
    """A CNN that maps images to L2-normalised embedding vectors.

    Building it loads the weights (see :func:`core.embed.models.build_network`) and may raise
    :class:`~core.errors.ModelUnavailable`. ``engine``: "auto" (ONNX Runtime for the Lite
    models on a CPU, see :mod:`core.embed.onnx_engine`; PyTorch otherwise) or "torch".
    ``layer``: "semantic" (the pooled final features) or "visual" (an earlier stage, pooled,
    from the same forward pass; see :data:`core.embed.models.LAYERS`); the feature maps
    handed out for regions are that layer's.

    A Lite model on a CPU whose export is cached runs from the export alone: torch (and the
    seconds of its import) is loaded only if something needs the PyTorch network.
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
        self.input_size = self.spec.input_size
        self.dim = self.spec.layer_dim(layer)
        self._stage = self.spec.visual if layer == VISUAL else ""
        self._weights, self._seed = weights, seed
        # Random or unknown weights name no real classes: no keywords from them.
        self._classifies = is_pretrained(weights)
        self._lock = threading.Lock()  # one batch at a time through the network
        self._net_lock = threading.Lock()
        self._net: torch.nn.Module | None = None  # the PyTorch network, built when needed
        self._head: torch.nn.Module | None = None
        self._visual: torch.nn.Module | None = None  # found on first use (maps_of)
        self._mean: torch.Tensor  # the input's normalisation, with the network
        self._std: torch.Tensor
        lite = self.spec.name in LITE_MODELS and engine != "torch"
        self._onnx: OnnxNet | None = None
        if lite and surely_cpu(device):
            self._onnx = cached_onnx(self.key, self.input_size)
        if self._onnx is not None:
            self._device: torch.device | None = None  # the CPU, torch not loaded
        else:
            from core.embed import torch_loader

            torch_loader.ensure_torch()  # seconds, with the GIL mostly free
            self._device = resolve_device(device)
            self._network()
        # The Lite models on a CPU: ONNX Runtime, fewer threads (see core.embed.onnx_engine).
        light = self.spec.name in LITE_MODELS and self.device_type == "cpu"
        self._threads = cnn_threads() if light else None
        if self._onnx is None and light and engine != "torch":
            net, head = self._network()
            self._onnx = load_onnx(self.key, net, head, self.input_size, self._stage)
            if self._onnx is not None:  # region search's maps too, while the network is here
                export_maps(self.key, self.input_size, self._map_parts)
        # the maps of region search under ONNX Runtime too (exported on first use)
        self._maps_onnx: dict[str, OnnxMaps | None] = {} if self._onnx is not None else {
            "visual": None, "both": None}

    @property
    def device(self) -> torch.device:
        """Where the network runs (loads torch if it is not loaded yet)."""
        if self._device is None:
            import torch

            return torch.device("cpu")
        return self._device

    @property
    def device_type(self) -> str:
        """"cpu", "cuda" or "mps" (without loading torch)."""
        return "cpu" if self._device is None else self._device.type

    def _network(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The PyTorch network and its classifier on :attr:`device`, built on first use."""
        with self._net_lock:
            if self._net is None or self._head is None:
                import torch

                from core.embed import torch_loader

                torch_loader.ensure_torch()
                net, head = build_network(self.spec.name, self._weights, self._seed)
                device = self.device
                self._mean = torch.tensor(self.spec.mean, device=device).view(1, 3, 1, 1) * 255
                self._std = torch.tensor(self.spec.std, device=device).view(1, 3, 1, 1) * 255
                self._head = head.to(self.device)
                self._net = net.to(self.device).to(memory_format=torch.channels_last)
            return self._net, self._head

    @property
    def batch_size(self) -> int:
        """A batch size that keeps this device busy without wasting memory.

        On a CPU, small batches keep the activations in cache: 8 costs about 10% less CPU
        per photo than 16 (resnet50, benchmarks/README.md) and commits more often.
        """
        return 64 if self.device_type == "cuda" else 8

    @property
    def classifies(self) -> bool:
        """Whether :meth:`run_arrays` also names the ImageNet classes (real weights only)."""
        return self._classifies

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
            with self._lock:
                return onnx_outputs(self._onnx, self.spec, arrays,
                                    classify and self._classifies, maps)
        import torch

        net, head = self._network()
        if self._threads is not None:
            torch.set_num_threads(self._threads)  # OpenMP: this thread's setting only
        classes = probs = None
        batch = torch.from_numpy(np.stack(arrays)).to(self.device, non_blocking=True)
        x = batch.permute(0, 3, 1, 2)  # NHWC memory viewed as NCHW: channels_last already
        with (self._lock, torch.inference_mode(),
              capture_map(net, self._stage) as captured):
            x = (x.float() - self._mean) / self._std
            x = x.contiguous(memory_format=torch.channels_last)
            if self.device_type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    out = net(x)
            else:
                out = net(x)
            features = out.float().flatten(1)
            fmap = captured[0].float().contiguous().cpu().numpy() if maps else None
            if classify and self._classifies:
                top = head(features).softmax(dim=1).topk(TOP_CLASSES, dim=1)
                classes, probs = top.indices.cpu().numpy(), top.values.cpu().numpy()
            if self._stage:  # the visual layer: the earlier stage's map, pooled
                features = captured[0].float().mean((2, 3))
            out = torch.nn.functional.normalize(features, dim=1)
        return Outputs(out.cpu().numpy(), classes, probs, fmap)

    @property
    def engine(self) -> str:
        """What runs the network: "onnxruntime" or "torch"."""
        return "onnxruntime" if self._onnx is not None else "torch"

    @property
    def torch_loaded(self) -> bool:
        """Whether the PyTorch network has been built (torch imported for it)."""
        return self._net is not None

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
        pass: ``(channels, h, w)`` each. Under ONNX Runtime where the network runs there."""
        pixels = np.asarray(to_rgb(image), dtype=np.uint8)
        with self._lock:
            engine = self._maps_engine("both")
            if engine is not None:
                last, visual = engine(self._normalised(pixels))
                return last[0], visual[0]
            return self._maps_torch(pixels)

    def visual_of(self, image: Image.Image) -> NDArray[np.float32]:
        """The visual feature map ``(channels, h, w)`` of :meth:`maps_of` alone: the pass
        stops there (the later stages are a fifth of the work). Under ONNX Runtime where the
        network runs there (~3x less CPU, the same map)."""
        pixels = np.asarray(to_rgb(image), dtype=np.uint8)
        with self._lock:
            engine = self._maps_engine("visual")
            if engine is not None:
                return engine(self._normalised(pixels))[0][0]
            return self._visual_torch(pixels)

    def _normalised(self, pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
        mean = np.asarray(self.spec.mean, np.float32).reshape(1, 3, 1, 1) * 255
        std = np.asarray(self.spec.std, np.float32).reshape(1, 3, 1, 1) * 255
        return (pixels.transpose(2, 0, 1)[None].astype(np.float32) - mean) / std

    def _maps_engine(self, which: str) -> OnnxMaps | None:
        """The export of the maps ``which`` ("visual", or "both": the last and the visual)
        under ONNX Runtime (loaded, or exported, on first use), or None: PyTorch."""
        if which not in self._maps_onnx:
            self._maps_onnx[which] = load_maps_onnx(self.key, self.input_size, which,
                                                    self._map_parts)
        return self._maps_onnx[which]

    def _map_parts(self) -> tuple[torch.nn.Module, torch.nn.Module, str]:
        """What the maps' export needs: the network, its visual stage, the layer's stage."""
        return self._network()[0], self._visual_module(), self._stage

    def _visual_module(self) -> torch.nn.Module:
        if self._visual is None:
            from core.embed.feature_map import visual_module

            self._visual = visual_module(self._network()[0], self.input_size)
        return self._visual

    def _maps_torch(self, pixels: NDArray[np.uint8]
                    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        import torch

        from core.embed.feature_map import capture_visual

        net, _head = self._network()
        visual_stage = self._visual_module()
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        x = torch.from_numpy(pixels.copy()).to(self.device).permute(2, 0, 1)[None]
        with (torch.inference_mode(), capture_map(net, self._stage) as captured,
              capture_visual(visual_stage) as visual):
            net((x.float() - self._mean) / self._std)
        return captured[0][0].float().cpu().numpy(), visual[0][0].float().cpu().numpy()

    def _visual_torch(self, pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
        import torch

        net, _head = self._network()
        visual = self._visual_module()
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        x = torch.from_numpy(pixels.copy()).to(self.device).permute(2, 0, 1)[None]

        def stop(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
            raise _Reached(output)

        with torch.inference_mode():
            handle = visual.register_forward_hook(stop)
            try:
                net((x.float() - self._mean) / self._std)
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
