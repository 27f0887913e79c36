"""Similarity queries over a library's embeddings.

A :class:`Searcher` keeps one search index per model: exact numpy search for small
libraries, an approximate one (inverted lists over PCA-reduced vectors with exact re-rank, see
:func:`core.index.choose_index`; saved beside the catalog, rebuilt when the embeddings change)
for large ones. Queries: by one or several photos ("more like these"), with negative
examples ("less like those", Rocchio), or by a vector (an image from outside the library).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.index import Hit, Index, choose_index, make_index, rocchio

log = logging.getLogger(__name__)


class Searcher:
    """Nearest-neighbour search over the embeddings of one model in one catalog."""

    def __init__(self, catalog: Catalog, model: str, kind: str | None = None) -> None:
        self.catalog = catalog
        self.model = model
        self.kind = kind  # force a backend of core.index.INDEXES; None chooses by library size
        self._index: Index | None = None
        self._generation = -1
        self._lock = threading.Lock()

    @property
    def index_path(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model)
        return self.catalog.path.parent / f"index-{slug}.ann"

    def index(self) -> Index:
        """The current index, (re)built or loaded if the embeddings changed since."""
        with self._lock:
            generation = self.catalog.generation(self.model)
            if self._index is None or generation != self._generation:
                self._index = self._load_or_build(generation)
                self._generation = generation
            return self._index

    def _load_or_build(self, generation: int) -> Index:
        kind = self.kind or choose_index(self.catalog.embedded_count(self.model))
        stamp = self.index_path.with_suffix(".json")
        if kind != "exact" and self.index_path.exists() and stamp.exists():
            try:
                saved = json.loads(stamp.read_text())
                if saved == {"generation": generation, "kind": kind}:
                    return type(make_index(kind)).load(self.index_path)
            except (OSError, ValueError) as exc:
                log.warning("rebuilding the search index: %s", exc)
        ids, vectors = self.catalog.embeddings(self.model)
        index = make_index(kind)
        if len(ids):
            index.build(ids, vectors)
        if kind != "exact" and len(ids):
            try:
                index.save(self.index_path)
                stamp.write_text(json.dumps({"generation": generation, "kind": kind}))
            except OSError as exc:
                log.warning("could not save the search index: %s", exc)
        return index

    def vectors(self, ids: Sequence[int]) -> NDArray[np.float32]:
        """The embeddings of ``ids`` (in that order); KeyError names a missing one."""
        got_ids, got = self.catalog.embeddings(self.model, ids)
        pos = {int(i): n for n, i in enumerate(got_ids)}
        missing = [i for i in ids if i not in pos]
        if missing:
            raise KeyError(f"photo {missing[0]} has no embedding for {self.model} yet")
        return got[[pos[i] for i in ids]]

    def similar(
        self,
        positives: Sequence[int],
        negatives: Sequence[int] = (),
        k: int = 20,
    ) -> list[Hit]:
        """Photos most like ``positives`` and least like ``negatives``; queries excluded."""
        query = rocchio(
            self.vectors(positives), self.vectors(negatives) if negatives else None
        )
        return self.by_vector(query, k, exclude=set(positives) | set(negatives))

    def by_vector(self, vector: NDArray[np.float32], k: int = 20,
                  exclude: Collection[int] = ()) -> list[Hit]:
        """Photos nearest to an embedding vector (e.g. of an image outside the library)."""
        return self.index().query(np.asarray(vector, dtype=np.float32), k, exclude=exclude)
