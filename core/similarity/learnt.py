"""Learnt similarities in the catalog: train one, store it versioned, project the library.

A similarity has a name ("mine" by default) and is trained per embedding model key, like a
head. It is stored with its version, the judgements/labels revision it learnt from (so it
knows when it is out of date), and its figures. The library's vectors are projected once by
a background job (:func:`project_library`) into the embeddings table under their own key
(:func:`projected_key`): the ordinary :class:`core.search.Searcher` then indexes and searches
them like base vectors. A retrained version projects under a new key while the previous
one keeps answering, then replaces it in one transaction.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.catalog import Catalog
from core.embed import torch_loader
from core.errors import LookalikeError
from core.jobs import Job, RateMeter, check_cancel
from core.labels import LabelStore
from core.search import Searcher
from core.similarity.judgements import JudgementStore
from core.similarity.triplets import build, relations

if TYPE_CHECKING:
    from core.similarity.training import Projection

DEFAULT_NAME = "mine"
KINDS = ("linear", "mlp")  # the projection: one linear layer, or two layers
LOSSES = ("auto", "triplet", "binary")  # auto: train both, keep the better
MIN_TRIPLETS = 4
PROJECT_BATCH = 2048


class SimilarityError(LookalikeError):
    """No such similarity, too few judgements to train one, or a bad name."""


@dataclass(frozen=True)
class SimilarityInfo:
    """A stored similarity: what it learnt from and how much it improved the ordering."""

    name: str
    model: str
    version: int
    kind: str
    loss: str
    revision: str
    trained_at: float
    before: float  # held-out fraction of triplets ordered correctly, base embedding
    after: float  # ... with this similarity
    held_out: int
    trained_on: int
    epochs: int
    seconds: float
    projected: str | None  # the embeddings key of the projected library, once done

    @property
    def key(self) -> str:
        """The embeddings key this version projects the library under."""
        return projected_key(self.model, self.name, self.version)


def projected_key(model: str, name: str, version: int) -> str:
    """The embeddings key of a similarity's projected vectors, e.g. ``resnet50@X~mine.v2``."""
    return f"{model}~{name}.v{version}"


def current_revision(catalog: Catalog) -> str:
    """What a similarity learns from, as one string: changes with judgements and labels."""
    labels = sum(s.revision for s in LabelStore(catalog).sets())
    return f"j{JudgementStore(catalog).revision()}-l{labels}"


def names(catalog: Catalog, model: str) -> list[str]:
    """The similarities trained for ``model``, by name."""
    rows = catalog.conn.execute("SELECT name FROM similarities WHERE model = ? ORDER BY name",
                                (model,))
    return [r[0] for r in rows]


def info(catalog: Catalog, name: str, model: str) -> SimilarityInfo | None:
    found = load(catalog, name, model, with_state=False)
    return found[0] if found else None


def get(catalog: Catalog, name: str, model: str) -> SimilarityInfo:
    """The stored similarity; SimilarityError names the ones there are."""
    found = info(catalog, name, model)
    if found is None:
        known = ", ".join(names(catalog, model)) or "none yet"
        raise SimilarityError(f"No similarity {name!r} for {model} (trained: {known}). Train "
                              f"one with `lookalike learn FOLDER --name {name}`.")
    return found


def load(catalog: Catalog, name: str, model: str, *, with_state: bool = True
         ) -> tuple[SimilarityInfo, Projection | None] | None:
    row = catalog.conn.execute(
        "SELECT version, architecture, metrics, revision, trained_at, projected"
        f"{', state' if with_state else ''} FROM similarities WHERE name = ? AND model = ?",
        (name, model)).fetchone()
    if row is None:
        return None
    arch, m = json.loads(row[1]), json.loads(row[2])
    found = SimilarityInfo(name, model, row[0], arch["kind"], m["loss"], row[3], row[4],
                           m["before"], m["after"], m["held_out"], m["trained_on"],
                           m["epochs"], m["seconds"], row[5])
    if not with_state:
        return found, None
    torch_loader.ensure_torch()
    import torch

    from core.similarity.training import Projection

    projection = Projection(arch["dim"], arch["reduced"], arch["kind"], arch["hidden"],
                            arch.get("blend", 1.0))
    projection.load_state_dict(torch.load(io.BytesIO(row[6]), weights_only=True))
    projection.eval()
    return found, projection


def train(catalog: Catalog, model: str, name: str = DEFAULT_NAME, *, kind: str = "linear",
          loss: str = "auto", labels: bool = True, cancel: threading.Event | None = None,
          seed: int = 0) -> Job[SimilarityInfo]:
    """Train the similarity ``name`` on the judgements (and labels) and store it as a new
    version; the library is projected afterwards by :func:`project_library`.

    Raises SimilarityError (a message for the user) when there are too few judgements.
    """
    name = _clean(name)
    revision = current_revision(catalog)
    data = build(relations(catalog, label_sets=None if labels else ()), seed=seed)
    if len(data) < MIN_TRIPLETS or not len(data.train):
        counts = JudgementStore(catalog).counts()
        raise SimilarityError(
            f"Too few judgements to learn a similarity: it needs photos marked similar and "
            f"photos marked not similar to the same query (or two labels with 2+ photos "
            f"each); now {counts.similar} similar and {counts.not_similar} not similar "
            f"({len(data)} triplets).")
    torch_loader.ensure_torch()
    import torch

    from core.similarity.training import REDUCED, fit, principal_basis

    ids, vectors = catalog.embeddings(model, data.photo_ids.tolist())
    if len(ids) < len(data.photo_ids):
        raise SimilarityError(f"{len(data.photo_ids) - len(ids)} judged photos have no "
                              f"embedding for {model} yet: index the library first.")
    sample = _library_sample(catalog, model, vectors, seed)
    basis = principal_basis(sample, REDUCED)
    fitted = yield from fit(data, vectors, basis, kind=kind, loss=loss, cancel=cancel,
                            seed=seed, library=sample)
    check_cancel(cancel)
    buffer = io.BytesIO()
    torch.save(fitted.projection.state_dict(), buffer)
    metrics = {"loss": fitted.loss, "before": fitted.before, "after": fitted.after,
               "train_before": fitted.train_before, "train_after": fitted.train_after,
               "held_out": fitted.held_out, "trained_on": fitted.trained_on,
               "epochs": fitted.epochs, "seconds": fitted.seconds,
               "curve": list(fitted.losses), "formulations": fitted.others}
    now = time.time()
    with catalog.transaction() as tx:
        row = tx.execute("SELECT version, projected FROM similarities WHERE name = ? AND "
                         "model = ?", (name, model)).fetchone()
        version = (row[0] if row else 0) + 1
        tx.execute(
            "INSERT OR REPLACE INTO similarities (name, model, version, architecture, state, "
            "metrics, revision, trained_at, projected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, model, version, json.dumps(fitted.projection.architecture()),
             buffer.getvalue(), json.dumps(metrics), revision, now, row[1] if row else None))
    return get(catalog, name, model)


def is_stale(catalog: Catalog, found: SimilarityInfo) -> bool:
    """Whether judgements or labels changed since the similarity was trained."""
    return found.revision != current_revision(catalog)


def project_library(catalog: Catalog, model: str, name: str = DEFAULT_NAME, *,
                    cancel: threading.Event | None = None) -> Job[int]:
    """Project the library's embeddings with the current version of the similarity (those
    not projected yet: resumable), then make them the ones searched, and build their search
    index if the library is large enough to want one. Returns how many photos were
    projected."""
    found = load(catalog, name, model)
    if found is None:
        raise SimilarityError(f"No similarity {name!r} for {model}.")
    sim, projection = found
    assert projection is not None
    from core.similarity.training import project

    key = sim.key
    todo = catalog.conn.execute(
        "SELECT count(*) FROM embeddings e WHERE e.model = ? AND NOT EXISTS (SELECT 1 FROM "
        "embeddings f WHERE f.photo_id = e.photo_id AND f.model = ?)", (model, key)
    ).fetchone()[0]
    meter = RateMeter(todo)
    done = 0
    yield meter.progress("projecting", 0, f"projecting with {name} v{sim.version}")
    while True:
        check_cancel(cancel)
        rows = catalog.conn.execute(
            "SELECT e.photo_id, e.vector FROM embeddings e WHERE e.model = ? AND NOT EXISTS "
            "(SELECT 1 FROM embeddings f WHERE f.photo_id = e.photo_id AND f.model = ?) "
            "ORDER BY e.photo_id LIMIT ?", (model, key, PROJECT_BATCH)).fetchall()
        if not rows:
            break
        vectors = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
        projected = project(projection, vectors).astype(np.float16)
        with catalog.transaction() as tx:
            tx.executemany("INSERT OR REPLACE INTO embeddings (photo_id, model, vector) "
                           "VALUES (?, ?, ?)",
                           [(r[0], key, v.tobytes()) for r, v in zip(rows, projected,
                                                                       strict=True)])
            catalog.bump_generation(key, tx)
        done += len(rows)
        yield meter.progress("projecting", min(done, todo), f"{done} photos projected")
    if sim.projected != key:
        with catalog.transaction() as tx:
            tx.execute("UPDATE similarities SET projected = ? WHERE name = ? AND model = ? "
                       "AND version = ?", (key, name, model, sim.version))
            # every older version's vectors: the one searched until now, and any a killed
            # run had begun to project
            tx.execute("DELETE FROM embeddings WHERE model LIKE ? ESCAPE '\\' AND model != ?",
                       (_like(f"{model}~{name}.v") + "%", key))
    yield from Searcher(catalog, key).build_index(cancel)  # large libraries: annoy, as the base
    return done


def describe(sim: SimilarityInfo, stale: bool = False) -> list[str]:
    """The training figures as lines of text, for the CLI and the GUI."""
    lines = [
        f"similarity {sim.name!r} v{sim.version} ({sim.kind} projection, {sim.loss} loss) "
        f"on {sim.trained_on} triplets in {sim.seconds:.1f} s ({sim.epochs} epochs)",
        f"held-out triplets ordered correctly: {sim.before:.1%} before, {sim.after:.1%} "
        f"after (on {sim.held_out} held-out triplets)",
    ]
    if not sim.epochs:
        lines.append("training did not order photos it never saw better than the base "
                     "similarity: searching with it keeps the plain ranking")
    if stale:
        lines.append("judgements or labels changed since: retrain to use them")
    return lines


def delete(catalog: Catalog, name: str, model: str) -> None:
    """Forget a similarity and its projected vectors (the judgements stay)."""
    with catalog.transaction() as tx:
        tx.execute("DELETE FROM embeddings WHERE model LIKE ? ESCAPE '\\'",
                   (_like(f"{model}~{name}.v") + "%",))
        tx.execute("DELETE FROM similarities WHERE name = ? AND model = ?", (name, model))


def _library_sample(catalog: Catalog, model: str, judged: np.ndarray, seed: int) -> np.ndarray:
    """Up to BASIS_SAMPLE library vectors (with the judged ones) for the principal basis."""
    from core.similarity.training import BASIS_SAMPLE

    ids = catalog.conn.execute("SELECT photo_id FROM embeddings WHERE model = ?",
                               (model,)).fetchall()
    rng = np.random.default_rng(seed)
    chosen = [ids[i][0] for i in rng.permutation(len(ids))[:BASIS_SAMPLE]]
    _, sample = catalog.embeddings(model, chosen)
    return np.concatenate([sample, judged]) if len(sample) else judged


def _clean(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or not re.fullmatch(r"[\w .-]+", name):
        raise SimilarityError(f"A similarity needs a name of letters, digits, spaces, '.', '-' "
                              f"or '_' (got {name!r}).")
    return name


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = ["DEFAULT_NAME", "SimilarityError", "SimilarityInfo", "current_revision",
           "delete", "describe", "get", "info", "is_stale", "load", "names", "project_library",
           "projected_key", "train"]
