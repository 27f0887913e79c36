"""Training a similarity: a projection of the frozen embedding that orders triplets right.

The network (TiefVision's supervised similarity, document 004) maps an embedding x to
``normalize(W · P x)`` (``linear``) or ``normalize(W · P x + V relu(U · P x))`` (``mlp``, two
layers, the second starting at zero). ``P`` is fixed: the top principal directions of the
library's embeddings (uncentred, so angles between photos are kept as well as 256 numbers
can); ``W`` starts as the identity, so training starts from the base similarity.

Two formulations (document 003), trained on the same data, the better one by held-out
figures is kept:

- ``triplet``: the hinge loss on angles ``max(0, margin + angle(H, H+) - angle(H, H-))``,
  with hard negatives mined in the batch: besides its own H-, each anchor is also pushed
  from the closest photo of the batch known not to be like it (when it violates the margin).
- ``binary``: same / different pairs, ``p(same) = sigmoid(s · cos(H, H') + b)`` with a
  logistic loss.

Both stop early on the held-out triplets: the fraction ordered correctly (angle to H+ below
the angle to H-), with the held-out loss breaking ties. The untrained projection (the base
similarity, epoch 0) is the first candidate: training that orders the held-out triplets no
better keeps the base ranking (few judgements are easily overfitted).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from core.jobs import Job, Progress, check_cancel
from core.similarity.learnt import KINDS, LOSSES
from core.similarity.triplets import TripletData

REDUCED = 256  # fixed principal directions the projection works on
HIDDEN = 256
MARGIN = 0.1  # radians (about 6 degrees)
BATCH = 512
EPOCH_ROWS = 4096  # triplets (or pairs) an epoch at most: held-out checks come often
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-4
MAX_EPOCHS = 40
PATIENCE = 5
MIN_EPOCHS = 8
BASIS_SAMPLE = 4000  # library vectors the principal directions are computed from


class Projection(nn.Module):
    """Embedding -> L2-normalised projected vector (see the module docstring)."""

    basis: torch.Tensor

    def __init__(self, dim: int, reduced: int, kind: str = "linear",
                 hidden: int = HIDDEN) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown projection {kind!r}: choose one of {', '.join(KINDS)}")
        self.kind, self.dim, self.reduced, self.hidden = kind, dim, reduced, hidden
        self.register_buffer("basis", torch.zeros(reduced, dim))
        self.linear = nn.Linear(reduced, reduced, bias=False)
        nn.init.eye_(self.linear.weight)
        self.up = nn.Linear(reduced, hidden) if kind == "mlp" else None
        self.down = nn.Linear(hidden, reduced, bias=False) if kind == "mlp" else None
        if self.down is not None:
            nn.init.zeros_(self.down.weight)
        self.scale = nn.Parameter(torch.tensor(10.0))  # binary formulation: s and b
        self.bias = nn.Parameter(torch.tensor(-5.0))

    def reduce(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed first step, ``P x`` (computed once per photo while training)."""
        return x @ self.basis.t()

    def project_reduced(self, r: torch.Tensor) -> torch.Tensor:
        z = self.linear(r)
        if self.up is not None and self.down is not None:
            z = z + self.down(torch.relu(self.up(r)))
        return F.normalize(z, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project_reduced(self.reduce(x))

    def architecture(self) -> dict[str, object]:
        return {"kind": self.kind, "dim": self.dim, "reduced": self.reduced,
                "hidden": self.hidden}


@dataclass(frozen=True)
class Fitted:
    """The outcome of :func:`fit`: the kept projection and its figures."""

    projection: Projection
    loss: str
    epochs: int
    before: float  # held-out fraction of triplets ordered correctly by the base embedding
    after: float  # ... by the projection
    train_before: float
    train_after: float
    held_out: int  # held-out triplets
    trained_on: int  # training triplets
    seconds: float
    losses: tuple[float, ...]  # training loss per epoch of the kept formulation
    others: dict[str, float]  # held-out figure of each formulation tried


def ordering(vectors: NDArray[np.floating] | torch.Tensor, triplets: NDArray[np.int64]) -> float:
    """Fraction of ``triplets`` whose anchor is nearer (in angle) its positive than its
    negative; ``vectors`` are L2-normalised rows of the items. NaN with no triplets."""
    if not len(triplets):
        return math.nan
    v = torch.as_tensor(np.asarray(vectors, np.float32)) if not isinstance(
        vectors, torch.Tensor) else vectors
    t = torch.from_numpy(triplets)
    a, p, n = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    return float(((a * p).sum(1) > (a * n).sum(1)).float().mean())


def principal_basis(sample: NDArray[np.floating], reduced: int) -> torch.Tensor:
    """The top ``reduced`` right singular vectors of the (uncentred) sample, as rows; padded
    with further orthonormal directions when the sample has fewer."""
    x = torch.from_numpy(np.asarray(sample, np.float32))
    dim = x.shape[1]
    reduced = min(reduced, dim)
    if min(x.shape) > 2 * reduced:  # randomised: seconds less than a full SVD at 2048-d
        torch.manual_seed(0)
        _, _, v = torch.svd_lowrank(x, q=reduced + 16, niter=3)
        basis = v.t()[:reduced]
    else:
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        basis = vh[:reduced]
    if len(basis) < reduced:  # complete with directions orthogonal to those found
        extra = torch.randn(reduced - len(basis), dim, generator=torch.Generator().manual_seed(0))
        full = torch.cat([basis, extra])
        basis = torch.linalg.qr(full.t()).Q.t()[:reduced]
    return basis.contiguous()


def fit(data: TripletData, vectors: NDArray[np.floating], basis: torch.Tensor, *,
        kind: str = "linear", loss: str = "auto", cancel: threading.Event | None = None,
        seed: int = 0, margin: float = MARGIN, max_epochs: int = MAX_EPOCHS) -> Job[Fitted]:
    """Train a projection on ``data`` (``vectors``: the items' embeddings, in item order).

    Raises ValueError when there are no training triplets.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if not len(data.train):
        raise ValueError("no training triplets")
    start = time.perf_counter()
    x = torch.from_numpy(np.ascontiguousarray(vectors, np.float32))
    x = F.normalize(x, dim=1)
    held = data.held_out if len(data.held_out) else data.train
    before = ordering(x, held)
    losses = ("triplet", "binary") if loss == "auto" else (loss,)
    results = []
    for n, name in enumerate(losses):
        with _one_thread():
            steps = _fit_one(data, x, basis, kind, name, cancel, seed, margin, max_epochs, n,
                             len(losses))
            while True:
                try:
                    progress = next(steps)
                except StopIteration as stop:
                    results.append((name, *stop.value))
                    break
                yield progress
    # the better by held-out ordering, then held-out loss (lower); triplet first on a tie
    best = max(results, key=lambda r: (r[3], -r[4]))
    name, projection, epochs, after, _, curve = best
    projection.eval()
    with torch.no_grad():
        projected = projection(x)
    return Fitted(projection, name, epochs, before, after, ordering(x, data.train),
                  ordering(projected, data.train), len(data.held_out), len(data.train),
                  time.perf_counter() - start, tuple(curve), {r[0]: r[3] for r in results})


def _fit_one(data: TripletData, x: torch.Tensor, basis: torch.Tensor, kind: str, loss: str,
             cancel: threading.Event | None, seed: int, margin: float, max_epochs: int,
             part: int, parts: int
             ) -> Job[tuple[Projection, int, float, float, list[float]]]:
    generator = torch.Generator().manual_seed(seed)
    model = Projection(x.shape[1], len(basis), kind)
    model.basis.copy_(basis)
    if kind == "mlp":
        for layer in (model.up,):
            nn.init.kaiming_uniform_(layer.weight, generator=generator)  # type: ignore[union-attr]
    with torch.no_grad():
        reduced = model.reduce(x)
    relation = None if data.relation is None else torch.from_numpy(data.relation < 0)
    train = torch.from_numpy(data.train)
    held = torch.from_numpy(data.held_out if len(data.held_out) else data.train)
    pairs = torch.from_numpy(data.pairs)
    if loss == "binary" and len(pairs):  # start the logistic at the pairs' spread of cosines
        with torch.no_grad():
            z = model.project_reduced(reduced)
            cos = (z[pairs[:, 0]] * z[pairs[:, 1]]).sum(1)
            model.scale.fill_(float((2 / cos.std().clamp(min=1e-3)).clamp(1, 1000)))
            model.bias.fill_(float(-model.scale * cos.mean()))
    params = [p for name, p in model.named_parameters()
              if loss == "binary" or name not in ("scale", "bias")]
    optimiser = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    rows = pairs if loss == "binary" else train
    batch_size = max(32, min(BATCH, math.ceil(min(len(rows), EPOCH_ROWS) / 8)))  # 8+ steps
    with torch.no_grad():  # epoch 0, the base similarity: what training has to beat
        z = model.project_reduced(reduced)
        best = (ordering(z, held.numpy()), float(_hinge(z, held, margin).mean()), 0,
                copy.deepcopy(model.state_dict()))
    curve: list[float] = []
    for epoch in range(1, max_epochs + 1):
        check_cancel(cancel)
        model.train()
        order = torch.randperm(len(rows), generator=generator)[:EPOCH_ROWS]
        total, batches = 0.0, 0
        for begin in range(0, len(order), batch_size):
            batch = rows[order[begin:begin + batch_size]]
            if loss == "binary":
                value = _binary_loss(model, reduced, batch)
            else:
                value = _triplet_loss(model, reduced, batch, relation, margin)
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
            total, batches = total + float(value.detach()), batches + 1
        curve.append(total / max(1, batches))
        model.eval()
        with torch.no_grad():
            z = model.project_reduced(reduced)
            score = ordering(z, held.numpy())
            held_loss = float(_hinge(z, held, margin).mean())
        if score > best[0] or (score == best[0] and held_loss < 0.99 * best[1] - 1e-4):
            best = (score, held_loss, epoch, copy.deepcopy(model.state_dict()))
        yield Progress("training", part * max_epochs + epoch, parts * max_epochs,
                       f"{loss} epoch {epoch}: held-out ordered {score:.1%}")
        if epoch - best[2] >= PATIENCE and epoch >= MIN_EPOCHS:
            break
    model.load_state_dict(best[3])
    model.eval()
    return model, best[2], best[0], best[1], curve


@contextmanager
def _one_thread() -> Iterator[None]:
    """Small steps run on one torch thread: with two, each step waits for the slower thread
    (and much longer when another process holds a core); see core.labels.training."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.acos(((a * b).sum(-1)).clamp(-1 + 1e-6, 1 - 1e-6))


def _hinge(z: torch.Tensor, triplets: torch.Tensor, margin: float) -> torch.Tensor:
    a, p, n = z[triplets[:, 0]], z[triplets[:, 1]], z[triplets[:, 2]]
    return torch.relu(margin + _angles(a, p) - _angles(a, n))


def _triplet_loss(model: Projection, reduced: torch.Tensor, batch: torch.Tensor,
                  relation: torch.Tensor | None, margin: float) -> torch.Tensor:
    """The batch's own triplets, plus each anchor against its hardest in-batch negative."""
    items, inverse = torch.unique(batch.flatten(), return_inverse=True)
    z = model.project_reduced(reduced[items])
    local = inverse.view(-1, 3)
    own = _hinge(z, local, margin)
    if relation is None:
        return own.mean()
    a = z[local[:, 0]]
    positive = _angles(a, z[local[:, 1]])
    # (batch, items): the known negatives of each anchor; the hardest is the nearest one
    negatives = torch.unique(local[:, 2])  # candidates: the batch's negatives
    unlike = relation.index_select(0, batch[:, 0]).index_select(1, items[negatives])
    with torch.no_grad():
        nearest = (a @ z[negatives].t()).masked_fill(~unlike, -2.0).argmax(1)
    hardest = _angles(a, z[negatives[nearest]])  # its own H- at least
    mined = torch.relu(margin + positive - hardest)
    return 0.5 * (own.mean() + mined.mean())


def _binary_loss(model: Projection, reduced: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    items, inverse = torch.unique(batch[:, :2].flatten(), return_inverse=True)
    z = model.project_reduced(reduced[items])
    local = inverse.view(-1, 2)
    cos = (z[local[:, 0]] * z[local[:, 1]]).sum(1)
    logits = model.scale * cos + model.bias
    return F.binary_cross_entropy_with_logits(logits, batch[:, 2].float())


def project(projection: Projection, vectors: NDArray[np.floating],
            block: int = 4096) -> NDArray[np.float32]:
    """Project embeddings (float16 or float32 rows) to L2-normalised float32 vectors."""
    out = np.empty((len(vectors), projection.reduced), np.float32)
    projection.eval()
    with torch.inference_mode():
        for begin in range(0, len(vectors), block):
            x = torch.from_numpy(np.asarray(vectors[begin:begin + block], np.float32))
            out[begin:begin + len(x)] = projection(x).numpy()
    return out
