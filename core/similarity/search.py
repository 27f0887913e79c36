"""Searching with a learnt similarity ("my similarity") instead of the base embedding.

The query's base embeddings are projected on the fly (so any photo, or an image outside the
library, can be the query) and searched among the library's projected vectors with the same
:class:`core.search.Searcher` (exact or annoy) as the base vectors. Photos embedded since
the library was projected are projected before the query (a fraction of a second for a few
hundred). Switching back to the base embedding is just using the library's own searcher.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.index import Hit, rocchio
from core.jobs import run
from core.search import Searcher
from core.similarity.learnt import SimilarityError, get, load, project_library


class SimilaritySearch:
    """Queries over one catalog's vectors projected by the similarity ``name`` of ``model``."""

    def __init__(self, catalog: Catalog, model: str, name: str) -> None:
        get(catalog, name, model)  # SimilarityError names the similarities there are
        found = load(catalog, name, model)
        if found is None:
            raise SimilarityError(f"No similarity {name!r} for {model}.")
        self.catalog, self.model, self.name = catalog, model, name
        self.info, projection = found
        assert projection is not None
        self.projection = projection
        self._seen = -1  # the base generation last brought up to date
        self.searcher = Searcher(catalog, self.info.key)

    def catch_up(self) -> int:
        """Project the photos embedded since the last time (all of them the first time the
        library is projected); returns how many."""
        generation = self.catalog.generation(self.model)
        if generation == self._seen:
            return 0
        done = run(project_library(self.catalog, self.model, self.name))
        self._seen = generation
        return done

    def project(self, vectors: NDArray[np.floating]) -> NDArray[np.float32]:
        from core.similarity.training import project

        return project(self.projection, np.atleast_2d(vectors))

    def similar(self, positives: Sequence[int], negatives: Sequence[int] = (),
                k: int = 20) -> list[Hit]:
        """Like :meth:`core.search.Searcher.similar`, in the learnt similarity."""
        base = Searcher(self.catalog, self.model)
        pos = self.project(base.vectors(positives))
        neg = self.project(base.vectors(negatives)) if negatives else None
        return self.by_projected(rocchio(pos, neg), k, set(positives) | set(negatives))

    def by_vector(self, vector: NDArray[np.floating], k: int = 20,
                  exclude: Collection[int] = ()) -> list[Hit]:
        """Photos nearest to a base embedding (e.g. of an image outside the library)."""
        return self.by_projected(self.project(vector)[0], k, exclude)

    def by_projected(self, vector: NDArray[np.float32], k: int,
                     exclude: Collection[int] = ()) -> list[Hit]:
        self.catch_up()
        return self.searcher.by_vector(vector, k, exclude=exclude)


class SimilaritySearches:
    """The learnt similarities of one library's model, loaded once each (a new version is
    loaded when it has been trained and projected)."""

    def __init__(self, catalog: Catalog, model: str) -> None:
        self.catalog, self.model = catalog, model
        self._loaded: dict[str, SimilaritySearch] = {}

    def get(self, name: str) -> SimilaritySearch:
        """The search of similarity ``name``: SimilarityError if there is none."""
        found = get(self.catalog, name, self.model)
        current = self._loaded.get(name)
        if current is None or (current.info.version != found.version and (
                found.projected == found.key or current.info.key != found.projected)):
            current = SimilaritySearch(self.catalog, self.model, name)
            self._loaded[name] = current
        return current

    def similar(self, name: str, positives: Sequence[int], negatives: Sequence[int] = (),
                k: int = 20, vector: NDArray[np.floating] | None = None,
                exclude: Collection[int] = ()) -> list[Hit]:
        """Photos like ``positives`` (or the base embedding ``vector`` of an image) and not
        like ``negatives``, in the similarity ``name``."""
        search = self.get(name)
        if vector is None:
            return search.similar(positives, negatives, k)
        base = Searcher(self.catalog, self.model)
        neg = search.project(base.vectors(negatives)) if negatives else None
        query = rocchio(search.project(vector), neg)
        return search.by_projected(query, k, {*exclude, *negatives})
