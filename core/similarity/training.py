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

A few judgements are easily memorised, so training is held to the base similarity
(:data:`RESTRAINTS`): ``W`` decays towards the identity (not towards zero), ``V`` towards
zero, and the cosines of random pairs of library photos (most of which nobody judged) are
kept near their base values. Only when the restrained projection cannot beat the base
similarity on the held-out triplets is a free one tried (a notion of "alike" far from the
base one, e.g. colour against black and white).

The searched similarity blends the two: ``(1 - b) cos(x, x') + b cos(Wx, Wx')``, as the unit
vector ``[sqrt(1 - b) x, sqrt(b) W x]`` (so the same index code searches it), with ``b``
chosen on the held-out triplets.

Both stop early on the held-out triplets (split by photo: they hold photos the training
never saw): the fraction ordered correctly (angle to H+ below the angle to H-), with the
held-out loss breaking ties. The untrained projection (the base similarity, epoch 0) is the
first candidate: training that orders the held-out triplets no better keeps the plain
ranking (``b = 0``).
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
# How strongly training is held to the base similarity, tried in this order, the next one
# kept only if it orders the held-out triplets strictly better: (weight decay of the linear
# layer towards the identity, weight of keeping the cosines of random library pairs).
RESTRAINTS = ((0.03, 10.0), (0.0, 0.0))
KEEP_SAMPLE = 128  # library photos a step whose cosines are kept
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)  # weights of the learnt cosine against the base one


class Projection(nn.Module):
    """Embedding -> L2-normalised projected vector (see the module docstring)."""

    basis: torch.Tensor

    def __init__(self, dim: int, reduced: int, kind: str = "linear",
                 hidden: int = HIDDEN, blend: float = 1.0) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown projection {kind!r}: choose one of {', '.join(KINDS)}")
        self.kind, self.dim, self.reduced, self.hidden = kind, dim, reduced, hidden
        self.blend = blend  # weight of the learnt cosine against the base one
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

    @property
    def out_dim(self) -> int:
        return self.reduced if self.blend >= 1 else self.dim + self.reduced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.project_reduced(self.reduce(x))
        if self.blend >= 1:
            return z
        # [sqrt(1-b) x/|x|, sqrt(b) z]: unit vectors whose cosine is (1-b) base + b learnt
        return torch.cat([math.sqrt(1 - self.blend) * F.normalize(x, dim=-1),
                          math.sqrt(self.blend) * z], -1)

    def architecture(self) -> dict[str, object]:
        return {"kind": self.kind, "dim": self.dim, "reduced": self.reduced,
                "hidden": self.hidden, "blend": self.blend}


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
        seed: int = 0, margin: float = MARGIN, max_epochs: int = MAX_EPOCHS,
        library: NDArray[np.floating] | None = None) -> Job[Fitted]:
    """Train a projection on ``data`` (``vectors``: the items' embeddings, in item order;
    ``library``: a sample of the library's embeddings whose cosines training keeps).

    Raises ValueError when there are no training triplets.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if not len(data.train):
        raise ValueError("no training triplets")
    start = time.perf_counter()
    x = torch.from_numpy(np.ascontiguousarray(vectors, np.float32))
    x = F.normalize(x, dim=1)
    lib = None if library is None or not len(library) else F.normalize(
        torch.from_numpy(np.ascontiguousarray(library, np.float32)), dim=1)
    held = data.held_out if len(data.held_out) else data.train
    before = ordering(x, held)
    losses = ("triplet", "binary") if loss == "auto" else (loss,)
    tries = [(name, r) for r in RESTRAINTS for name in losses]
    results: list[tuple[str, tuple[float, float], Projection, int, float, float,
                        list[float]]] = []
    for n, (name, restraint) in enumerate(tries):
        if restraint != RESTRAINTS[0] and any(r[3] for r in results):
            break  # a more restrained projection already beats the base similarity
        with _one_thread():
            steps = _fit_one(data, x, lib, basis, kind, name, restraint, cancel, seed, margin,
                             max_epochs, n, len(tries))
            while True:
                try:
                    progress = next(steps)
                except StopIteration as stop:
                    results.append((name, restraint, *stop.value))
                    break
                yield progress
    # the better formulation by held-out ordering (then held-out loss) under the first
    # restraint where training beats the base similarity at all; none: the base itself
    for restraint in RESTRAINTS:
        best = max((r for r in results if r[1] == restraint), key=lambda r: (r[4], -r[5]))
        if best[3]:
            break
    name, _, projection, epochs, after, _, curve = best
    others = {r[0] if r[1] == RESTRAINTS[0] else f"{r[0]} unrestrained": r[4]
              for r in results}
    projection.eval()
    with torch.no_grad():
        projected = projection(x)
    return Fitted(projection, name, epochs, before, after, ordering(x, data.train),
                  ordering(projected, data.train), len(data.held_out), len(data.train),
                  time.perf_counter() - start, tuple(curve), others)


def _fit_one(data: TripletData, x: torch.Tensor, lib: torch.Tensor | None, basis: torch.Tensor,
             kind: str, loss: str, restraint: tuple[float, float],
             cancel: threading.Event | None, seed: int, margin: float, max_epochs: int,
             part: int, parts: int) -> Job[tuple[Projection, int, float, float, list[float]]]:
    generator = torch.Generator().manual_seed(seed)
    model = Projection(x.shape[1], len(basis), kind)
    model.basis.copy_(basis)
    if kind == "mlp":
        for layer in (model.up,):
            nn.init.kaiming_uniform_(layer.weight, generator=generator)  # type: ignore[union-attr]
    with torch.no_grad():
        reduced = model.reduce(x)
        lib_reduced = None if lib is None else model.reduce(lib)
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
    eye = torch.eye(model.reduced)
    base_cos = _pair_cosines(x, held)
    decay, keep = restraint
    with torch.no_grad():  # epoch 0, the base similarity: what training has to beat
        z = model.project_reduced(reduced)
        score, blend, held_loss = _choose_blend(z, held, base_cos, (0.0,), margin)
        best = (score, held_loss, 0, copy.deepcopy(model.state_dict()), blend)
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
            total, batches = total + float(value.detach()), batches + 1  # the ranking loss
            if decay:
                value = value + decay * _pull(model, eye)
            if lib_reduced is not None and keep:
                value = value + keep * _keep_loss(model, lib_reduced, generator)
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
        curve.append(total / max(1, batches))
        model.eval()
        with torch.no_grad():
            z = model.project_reduced(reduced)
            score, blend, held_loss = _choose_blend(z, held, base_cos, BLENDS, margin)
        if score > best[0] or (score == best[0] and held_loss < 0.99 * best[1] - 1e-4):
            best = (score, held_loss, epoch, copy.deepcopy(model.state_dict()), blend)
        yield Progress("training", part * max_epochs + epoch, parts * max_epochs,
                       f"{loss} epoch {epoch}: held-out ordered {score:.1%}")
        if epoch - best[2] >= PATIENCE and epoch >= MIN_EPOCHS:
            break
    model.load_state_dict(best[3])
    model.blend = best[4] if best[2] else 0.0  # untrained: the base similarity itself
    model.eval()
    return model, best[2], best[0], best[1], curve


def _pair_cosines(x: torch.Tensor, triplets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = x[triplets[:, 0]]
    return (a * x[triplets[:, 1]]).sum(1), (a * x[triplets[:, 2]]).sum(1)


def _choose_blend(z: torch.Tensor, held: torch.Tensor,
                  base: tuple[torch.Tensor, torch.Tensor], blends: tuple[float, ...],
                  margin: float) -> tuple[float, float, float]:
    """The weight of the learnt cosine (against the base one) that orders the held-out
    triplets best, the smaller on a tie: (fraction ordered, weight, held-out hinge)."""
    learnt = _pair_cosines(z, held)
    best = (-1.0, 0.0, math.inf)
    for b in blends:
        pos = (1 - b) * base[0] + b * learnt[0]
        neg = (1 - b) * base[1] + b * learnt[1]
        score = float((pos > neg).float().mean())
        hinge = float(torch.relu(margin + neg - pos).mean())
        if score > best[0]:
            best = (score, b, hinge)
    return best


def _pull(model: Projection, eye: torch.Tensor) -> torch.Tensor:
    """Weight decay towards the base similarity: the linear layer to the identity, the second
    layer of the mlp to zero."""
    out = ((model.linear.weight - eye) ** 2).sum()
    if model.down is not None:
        out = out + (model.down.weight ** 2).sum()
    return out


def _keep_loss(model: Projection, lib: torch.Tensor, generator: torch.Generator
               ) -> torch.Tensor:
    """How far the projection moves the cosines of random pairs of library photos."""
    n = min(KEEP_SAMPLE, len(lib))
    rows = torch.randint(len(lib), (n,), generator=generator)
    r = lib[rows]
    z = model.project_reduced(r)
    base = F.normalize(r, dim=-1)
    return ((z @ z.t() - base @ base.t()) ** 2).mean()


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
    out = np.empty((len(vectors), projection.out_dim), np.float32)
    projection.eval()
    with torch.inference_mode():
        for begin in range(0, len(vectors), block):
            x = torch.from_numpy(np.asarray(vectors[begin:begin + block], np.float32))
            out[begin:begin + len(x)] = projection(x).numpy()
    return out
