"""Fine-tuning the backbone's last stage on the judgements and labels (documents 001, 002).

When a projection of the frozen embedding is not enough, the deeper layers learn too: the
last stage of the CNN is unfrozen and trained with a small head (a linear projection) by the
triplet loss on angles, with in-batch hard negatives, from augmented photos (random crops,
flips, colour jitter), at a small learning rate; the earlier stages and batch norm (its
statistics and scales: small batches would make them noisy) stay frozen. On the GPU when
there is one, else on the CPU (slow: progress and ETA every step). A checkpoint beside the
catalog is written every few steps and on cancel, so a cancelled or killed run resumes where
it stopped.

The result is a weights file beside the catalog: the library's new embedding model, with
its own model key (``resnet50@file-<digest>``, the ``--weights FILE`` mechanism), so the
library is re-embedded in the background under that key while the old vectors stay in use.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core import decode
from core.catalog import Catalog
from core.embed.models import (
    ModelSpec,
    build_network,
    get_spec,
    model_key,
    resolve_device,
)
from core.errors import Cancelled, UnreadableImage
from core.files import TEMP_PREFIX, write_bytes_atomic
from core.jobs import Job, RateMeter
from core.similarity.learnt import SimilarityError
from core.similarity.training import MARGIN, ordering
from core.similarity.triplets import TripletData, build, relations

log = logging.getLogger(__name__)

LEARNING_RATE = 1e-4  # the unfrozen stage
HEAD_LEARNING_RATE = 1e-3
HEAD_DIM = 256
CHECKPOINT_EVERY = 10  # steps
MAX_PHOTOS = 3000  # decoded photos kept in memory for the run


@dataclass(frozen=True)
class FinetuneResult:
    """A finished fine-tuning: the new weights file and model key, and its figures."""

    weights: Path
    model_key: str
    steps: int
    seconds: float
    before: float  # held-out triplets ordered correctly by the frozen embedding
    after: float  # ... by the fine-tuned one
    held_out: int
    device: str
    resumed_from: int  # the step a checkpoint was resumed from (0: a fresh start)


def last_stage(net: nn.Module, name: str) -> nn.Module:
    """The backbone's last stage (what is unfrozen): ResNet's layer4, EfficientNet-Lite's
    last block with its head convolution, MobileNet's and ConvNeXt's last feature block."""
    if name.startswith("resnet"):
        return net.layer4  # type: ignore[return-value]
    if hasattr(net, "blocks"):  # timm's EfficientNet-Lite
        return nn.ModuleList([net.blocks[-1], net.conv_head])  # type: ignore[index,list-item]
    return net.features[-1]  # type: ignore[index,return-value]


def finetune(catalog: Catalog, model: str, weights: str | Path | None = "default", *,
             name: str = "finetuned", steps: int = 200, batch: int | None = None,
             device: str | None = "auto", cancel: threading.Event | None = None,
             seed: int = 0) -> Job[FinetuneResult]:
    """Fine-tune ``model`` (with ``weights``, the library's current ones) on the catalog's
    judgements and labels for ``steps`` steps; returns the new weights file and key.

    Raises SimilarityError when there is nothing to learn from.
    """
    base_key = model_key(model, weights)
    data = build(relations(catalog), seed=seed)
    if not len(data.train):
        raise SimilarityError("Nothing to fine-tune on: mark photos similar and not similar "
                              "to a query, or label photos, first.")
    dev = resolve_device(device)
    batch = batch or (32 if dev.type == "cuda" else 4)
    folder = catalog.path.parent / "models"
    config = {"model": base_key, "name": name, "steps": steps, "batch": batch, "seed": seed,
              "triplets": len(data.train), "items": data.photo_ids.tolist()[:50]}
    tag = hashlib.blake2b(json.dumps(config, sort_keys=True).encode(), digest_size=5).hexdigest()
    checkpoint = folder / f"finetune-{tag}.ckpt"
    _clear_leftovers(folder, model)
    images = _images(catalog, data)
    spec = get_spec(model)
    net, classifier = build_network(model, weights, seed)
    net.to(dev)
    stage = last_stage(net, model)
    for p in net.parameters():
        p.requires_grad_(False)
    for module in stage.modules():  # batch norm stays frozen: its statistics and scales
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            for p in module.parameters(recurse=False):
                p.requires_grad_(True)
    generator = torch.Generator().manual_seed(seed)
    head = nn.Linear(spec.dim, HEAD_DIM, bias=False)
    nn.init.orthogonal_(head.weight, generator=generator)
    head.to(dev)
    optimiser = torch.optim.AdamW([
        {"params": [p for p in stage.parameters() if p.requires_grad], "lr": LEARNING_RATE},
        {"params": head.parameters(), "lr": HEAD_LEARNING_RATE}], weight_decay=1e-4)
    # float16 autocast on a GPU: the loss is scaled so that small gradients survive it
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
    start_step = _resume(checkpoint, stage, head, optimiser, generator, scaler)
    held = data.held_out if len(data.held_out) else data.train
    before = float(catalog_ordering(catalog, base_key, data, held))
    augment = _augmentation(spec.input_size, spec.mean, spec.std)
    meter = RateMeter(steps - start_step)
    started = time.perf_counter()
    step = start_step
    try:
        yield meter.progress("fine-tuning", 0, f"on {dev.type}, step {step}/{steps}")
        for step in range(start_step + 1, steps + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Cancelled.")
            rows = torch.randint(len(data.train), (batch,), generator=generator)
            loss = _step(net, head, stage, optimiser, scaler, data, rows, images, augment, dev)
            if step % CHECKPOINT_EVERY == 0:
                _save_checkpoint(checkpoint, stage, head, optimiser, generator, scaler, step)
            yield meter.progress("fine-tuning", step - start_step,
                                 f"step {step}/{steps}: loss {loss:.3f} on {dev.type}")
    except Cancelled:
        if step > start_step:
            _save_checkpoint(checkpoint, stage, head, optimiser, generator, scaler, step - 1)
        raise
    net.eval()
    after = _held_out_ordering(net, images, data, held, spec, dev)
    weights_path = _save_weights(folder, model, name, net, classifier)
    checkpoint.unlink(missing_ok=True)
    key = model_key(model, weights_path)
    return FinetuneResult(weights_path, key, steps, time.perf_counter() - started, before,
                          after, len(held), dev.type, start_step)


def catalog_ordering(catalog: Catalog, key: str, data: TripletData,
                     triplets: np.ndarray) -> float:
    """Held-out ordering of the stored embeddings of ``key`` (the frozen network)."""
    ids, vectors = catalog.embeddings(key, data.photo_ids.tolist())
    if len(ids) < len(data.photo_ids):
        raise SimilarityError(f"Some judged photos have no embedding for {key} yet: index the "
                              "library first.")
    return ordering(vectors, triplets)


def _images(catalog: Catalog, data: TripletData) -> dict[int, Image.Image]:
    """The triplets' photos, decoded once (item index -> image)."""
    if len(data.photo_ids) > MAX_PHOTOS:
        raise SimilarityError(f"Fine-tuning takes at most {MAX_PHOTOS} judged or labelled "
                              f"photos (there are {len(data.photo_ids)}).")
    photos = {p.id: p for p in catalog.photos(data.photo_ids.tolist())}
    out = {}
    for item, pid in enumerate(data.photo_ids.tolist()):
        try:
            out[item] = decode.decode_file(photos[pid].path, min_side=256).image.convert("RGB")
        except (KeyError, UnreadableImage) as exc:
            raise SimilarityError(f"Cannot read a judged photo for fine-tuning: {exc}") from exc
    return out


def _augmentation(size: int, mean: tuple[float, ...], std: tuple[float, ...]):
    from torchvision.transforms import v2

    return v2.Compose([
        v2.PILToTensor(),
        v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(0.2, 0.2, 0.2, 0.02),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean), list(std)),  # as the model's own input scaling
    ])


def _embed(net: nn.Module, x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    x = x.to(dev, non_blocking=True)
    if dev.type == "cuda":
        with torch.autocast("cuda", dtype=torch.float16):
            return net(x).float().flatten(1)
    return net(x).flatten(1)


def _step(net: nn.Module, head: nn.Module, stage: nn.Module, optimiser: torch.optim.Optimizer,
          scaler: torch.amp.GradScaler, data: TripletData, rows: torch.Tensor,
          images: dict[int, Image.Image], augment, dev: torch.device) -> float:
    net.eval()  # batch-norm statistics stay frozen (small batches)
    stage.train()
    for module in stage.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    batch = torch.from_numpy(data.train)[rows]
    items, inverse = torch.unique(batch.flatten(), return_inverse=True)
    x = torch.stack([augment(images[int(i)]) for i in items])
    z = F.normalize(head(_embed(net, x, dev)), dim=1)
    local = inverse.view(-1, 3).to(dev)
    a, p, n = z[local[:, 0]], z[local[:, 1]], z[local[:, 2]]

    def angle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.acos((u * v).sum(1).clamp(-1 + 1e-6, 1 - 1e-6))

    positive = angle(a, p)
    own = torch.relu(MARGIN + positive - angle(a, n))
    loss = own.mean()
    if data.relation is not None:  # the hardest in-batch negative of each anchor
        unlike = torch.from_numpy(data.relation < 0)[batch[:, 0]][:, items].to(dev)
        with torch.no_grad():
            nearest = (a @ z.t()).masked_fill(~unlike, -2.0).argmax(1)
        loss = 0.5 * (loss + torch.relu(MARGIN + positive - angle(a, z[nearest])).mean())
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()  # no scaling on a CPU (float32)
    scaler.step(optimiser)  # skipped when a scaled gradient overflowed
    scaler.update()
    return float(loss.detach())


def _held_out_ordering(net: nn.Module, images: dict[int, Image.Image], data: TripletData,
                       triplets: np.ndarray, spec: ModelSpec, dev: torch.device) -> float:
    """Held-out ordering of the fine-tuned embedding (the backbone's, as the library's)."""
    items = np.unique(triplets)
    size = spec.input_size
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(spec.std).view(1, 3, 1, 1) * 255
    vectors = np.zeros((len(data.photo_ids), spec.dim), np.float32)
    with torch.inference_mode():
        for begin in range(0, len(items), 16):
            chunk = items[begin:begin + 16]
            arrays = np.stack([decode.model_input(images[int(i)], size) for i in chunk])
            x = (torch.from_numpy(arrays).permute(0, 3, 1, 2).float() - mean) / std
            vectors[chunk] = F.normalize(_embed(net, x, dev).float(), dim=1).cpu().numpy()
    return ordering(vectors, triplets)


def _save_checkpoint(path: Path, stage: nn.Module, head: nn.Module,
                     optimiser: torch.optim.Optimizer, generator: torch.Generator,
                     scaler: torch.amp.GradScaler, step: int) -> None:
    buffer = io.BytesIO()
    torch.save({"step": step, "stage": stage.state_dict(), "head": head.state_dict(),
                "optimiser": optimiser.state_dict(), "rng": generator.get_state(),
                "scaler": scaler.state_dict()}, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def _resume(path: Path, stage: nn.Module, head: nn.Module, optimiser: torch.optim.Optimizer,
            generator: torch.Generator, scaler: torch.amp.GradScaler) -> int:
    """Load a checkpoint of the same run if there is one; the step it was taken at."""
    if not path.exists():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        stage.load_state_dict(state["stage"])
        head.load_state_dict(state["head"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["rng"])
        if state.get("scaler"):  # a run on a GPU
            scaler.load_state_dict(state["scaler"])
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        log.warning("starting fine-tuning afresh: checkpoint %s unusable (%s)", path, exc)
        return 0
    return int(state["step"])


def _save_weights(folder: Path, model: str, name: str, net: nn.Module,
                  classifier: nn.Module) -> Path:
    """The whole fine-tuned network, with its (unchanged) classifier back in place, as a
    state_dict file named by its content: what ``--weights FILE`` loads."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}  # loads anywhere
    prefix = "fc." if hasattr(net, "fc") else "classifier."
    if model.startswith("convnext"):
        prefix = "classifier.2."
    state.update({prefix + k: v.detach().cpu() for k, v in classifier.state_dict().items()})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    digest = hashlib.blake2b(data, digest_size=6).hexdigest()
    path = folder / f"{model}-{_slug(name)}-{digest}.pt"
    write_bytes_atomic(path, data)
    return path


def _clear_leftovers(folder: Path, model: str) -> None:
    """Remove what a killed run was writing (a checkpoint or weights, never finished: the
    library lock keeps a second run from writing them now)."""
    for prefix in ("finetune-", f"{model}-"):
        for stale in folder.glob(f"{TEMP_PREFIX}{prefix}*"):
            stale.unlink(missing_ok=True)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40] or "model"


__all__ = ["FinetuneResult", "catalog_ordering", "finetune", "last_stage"]
