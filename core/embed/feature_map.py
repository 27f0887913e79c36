"""The last convolutional feature map of a backbone, taken from the pass that embeds a photo.

Every backbone of :mod:`core.embed.models` ends in a global average pooling (timm's
``global_pool``, torchvision's ``avgpool``): its input is the feature map the embedding is the
mean of. A forward hook on that module hands the map out of the same forward pass (the region
descriptors of :mod:`core.regions` pool it over boxes; nothing is run twice).

For the ``visual`` layer (:data:`core.embed.models.LAYERS`) the map is the output of an
earlier stage instead (:attr:`~core.embed.models.ModelSpec.visual`): its mean is that layer's
embedding, and the regions are pooled from it, so that they stay in its embedding space.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

POOL_NAMES = ("global_pool", "avgpool")


def pooling_module(body: nn.Module) -> nn.Module:
    """The global pooling module of ``body``; ValueError if it has none we know."""
    for name in POOL_NAMES:
        module = getattr(body, name, None)
        if module is not None:
            return module  # type: ignore[no-any-return]
    raise ValueError(f"{type(body).__name__} has no global pooling module ({POOL_NAMES})")


@contextmanager
def capture_map(body: nn.Module, stage: str = "") -> Iterator[list[torch.Tensor]]:
    """Within the block, each forward pass of ``body`` appends its feature map
    ``(n, channels, h, w)`` (the input of its global pooling, or the output of its submodule
    named ``stage``) to the yielded list."""
    maps: list[torch.Tensor] = []

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        maps.append(inputs[0])

    def after(_module: nn.Module, _inputs: tuple[torch.Tensor, ...],
              output: torch.Tensor) -> None:
        maps.append(output)

    if stage:
        handle = body.get_submodule(stage).register_forward_hook(after)
    else:
        handle = pooling_module(body).register_forward_pre_hook(hook)
    try:
        yield maps
    finally:
        handle.remove()


def visual_module(body: nn.Module, input_size: int) -> nn.Module:
    """The module whose output is the network's last feature map at 1/16 of the input (an
    earlier stage than the last map: finer cells, smaller receptive fields, more visual than
    semantic): the last child of a sequential container of ``body`` whose output has that
    stride, found by one probing pass. ValueError if there is none."""
    import torch
    from torch import nn

    want = input_size // 16
    seen: list[nn.Module] = []
    handles = []
    for container in body.modules():
        if isinstance(container, nn.Sequential):
            for child in container.children():
                def hook(module: nn.Module, _inputs: object, output: object) -> None:
                    if (isinstance(output, torch.Tensor) and output.dim() == 4
                            and output.shape[-1] == want and output.shape[-2] == want):
                        seen.append(module)
                handles.append(child.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            body(torch.zeros(1, 3, input_size, input_size))
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ValueError(f"{type(body).__name__} has no stage at 1/16 of its input")
    return seen[-1]


@contextmanager
def capture_visual(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, each forward pass through ``module`` (see :func:`visual_module`)
    appends its output to the yielded list."""
    maps: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor
             ) -> None:
        maps.append(output)

    handle = module.register_forward_hook(hook)
    try:
        yield maps
    finally:
        handle.remove()
