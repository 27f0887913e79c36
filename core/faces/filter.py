"""People combined with the rest: the photos showing given persons and carrying given
labels, and "similar" ranked among those photos only.

A person filter is the set of photos showing *every* named person; a label filter adds
"and carries this label" (by hand, or a person's label of the "People" set). Ranking
within a filter is exact (the filtered photos' own embeddings against the query), so a
person's 30 photos come back ranked even when none of them is among the library's 1,000
nearest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.errors import BadArgument
from core.faces.store import FaceStore, PeopleError
from core.index import Hit, rocchio
from core.labels.store import LabelStore

if TYPE_CHECKING:
    from core.library import Library


def person_named(store: FaceStore, name: str) -> int:
    """The id of the person called ``name`` (case does not matter); PeopleError names the
    known people when there is none."""
    wanted = name.strip().casefold()
    for person in store.persons():
        if person.name is not None and person.name.casefold() == wanted:
            return person.id
    known = ", ".join(store.names()) or "none yet: `lookalike people name` names one"
    raise PeopleError(f"No person is called {name!r}. Named people: {known}.")


def photos_of_people(catalog: Catalog, names: Iterable[str]) -> set[int]:
    """The photos showing every person in ``names``."""
    store = FaceStore(catalog)
    found: set[int] | None = None
    for name in names:
        ids = set(store.photo_ids(person_named(store, name)))
        found = ids if found is None else found & ids
    return found if found is not None else set()


def photos_with_labels(catalog: Catalog, labels: Iterable[str]) -> set[int]:
    """The photos carrying every label, each given as ``SET:LABEL`` (e.g. ``People:Ann``,
    ``Kind:portrait``)."""
    store = LabelStore(catalog)
    found: set[int] | None = None
    for text in labels:
        set_name, sep, label_name = text.partition(":")
        if not sep or not set_name.strip() or not label_name.strip():
            raise BadArgument(f"{text!r}: give a label as SET:LABEL, e.g. People:Ann")
        label_set = store.get_set(set_name.strip())
        ids = set(store.photos_with(store.get_label(label_set.id, label_name.strip()).id))
        found = ids if found is None else found & ids
    return found if found is not None else set()


def combined_filter(catalog: Catalog, people: Sequence[str] = (),
                    labels: Sequence[str] = ()) -> set[int] | None:
    """The photos passing every person and label filter; None when there is none."""
    if not people and not labels:
        return None
    parts = ([photos_of_people(catalog, people)] if people else []) + (
        [photos_with_labels(catalog, labels)] if labels else [])
    return set.intersection(*parts)


def rank_within(catalog: Catalog, model: str, vector: NDArray[np.floating],
                ids: Collection[int], k: int, exclude: Collection[int] = ()) -> list[Hit]:
    """The ``k`` photos of ``ids`` most like ``vector`` (cosine, exact), best first;
    photos without an embedding for ``model`` yet are left out."""
    wanted = sorted(set(ids) - set(exclude))
    if not wanted or k < 1:
        return []
    got_ids, vectors = catalog.embeddings(model, wanted)
    if not len(got_ids):
        return []
    query = np.asarray(vector, np.float32).ravel()
    query = query / max(float(np.linalg.norm(query)), 1e-12)
    norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
    scores = (vectors @ query) / norms
    order = np.argsort(-scores, kind="stable")[:k]
    return [Hit(int(got_ids[i]), float(scores[i])) for i in order]


def similar_among(library: Library, within: Collection[int], positives: Sequence[int],
                  negatives: Sequence[int] = (), file: Path | None = None,
                  k: int = 20) -> tuple[int | None, list[Hit]]:
    """Like :meth:`Library.similar` / :meth:`Library.similar_to_file`, ranked among the
    photos ``within`` only: (the file's own photo id if it is a library photo, hits)."""
    own = library.photo_at(file) if file is not None else None
    with library.catalog.faults():
        searcher = library.searcher
        liked = (library.embed_file(file)[None, :] if file is not None
                 else searcher.vectors(list(positives)))
        unliked = searcher.vectors(list(negatives)) if negatives else None
        query = rocchio(liked, unliked)
        exclude = {*positives, *negatives, *([own.id] if own else [])}
        return (own.id if own else None), rank_within(library.catalog, library.model_key,
                                                      query, within, k, exclude)
