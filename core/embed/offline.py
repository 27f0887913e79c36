"""Which registry models can be used without a download (for the missing-weights dialog)."""

from __future__ import annotations

import logging
from pathlib import Path

from core.embed.models import MODELS, ModelSpec

log = logging.getLogger(__name__)


def offline_models(exclude: str | None = None) -> list[str]:
    """Names of the registry's models whose pretrained weights load without a download:
    shipped inside an installed package (a spec with ``packaged``), or already in torch's
    download cache. Imports torchvision: call it in a worker thread or once torch is up."""
    return [name for name, spec in MODELS.items()
            if name != exclude and _weights_at_hand(spec)]


def _weights_at_hand(spec: ModelSpec) -> bool:
    if getattr(spec, "packaged", False):  # installed with Lookalike
        return True
    try:
        import torch
        import torchvision

        enum = torchvision.models.get_model_weights(spec.name)
        url = enum[spec.weights].url
    except (ValueError, KeyError, ImportError, AttributeError):
        return False
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return checkpoint.is_file()
