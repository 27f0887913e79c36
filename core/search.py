"""Similarity queries over a library's embeddings.

A :class:`Searcher` keeps one search index per model: exact numpy search for small
libraries, an approximate one (annoy over PCA-reduced vectors with exact re-rank, see
:func:`core.index.choose_index`; saved beside the catalog, rebuilt when the embeddings change)
for large ones. Building that one takes seconds to a minute, so while it is missing or stale
a query is answered by exact search (tens of milliseconds at 100k photos) and the
approximate index is built in a background thread, then used once it is current.
Queries: by one or several photos ("more like these"), with negative examples ("less like
those", Rocchio), or by a vector (an image from outside the library).
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
from core.jobs import lower_thread_priority
from core.video.search import expand_exclude, query_collapsed, search_data

log = logging.getLogger(__name__)

# Up to this many photos a stale approximate index is stood in for by exact search while it
# is rebuilt in the background (exact holds float32 vectors: 0.8 GB at 100k); above, the
# query waits for the build.
EXACT_STAND_IN_MAX = 200_000


class Searcher:
    """Nearest-neighbour search over the embeddings of one model in one catalog."""

    def __init__(self, catalog: Catalog, model: str, kind: str | None = None) -> None:
        self.catalog = catalog
        self.model = model
        self.kind = kind  # force a backend of core.index.INDEXES; None chooses by library size
        self._index: Index | None = None
        self._generation = -1
        self._exact: bool = False  # self._index is exact search standing in for the real one
        self._building: int | None = None  # the generation being built in the background
        self._thread: threading.Thread | None = None
        # The vectors a background build has read (its generation, ids, vectors): a query
        # that comes meanwhile stands in with exact search over them instead of reading again.
        self._shared: tuple[int, NDArray[np.int64], NDArray[np.float16]] | None = None
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
                self._index, self._exact = self._current(generation)
                self._generation = generation
            return self._index

    def wait_built(self, timeout: float | None = None) -> bool:
        """Wait for a background build to finish (True when none is running)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _current(self, generation: int) -> tuple[Index, bool]:
        """The index for ``generation``, and whether it is exact search standing in."""
        n = self.catalog.embedded_count(self.model)
        kind = self.kind or choose_index(n)
        if kind == "exact":
            return self._build(kind), False
        saved = self._load_saved(kind, generation)
        if saved is not None:
            return saved, False
        if self.kind is not None or n > EXACT_STAND_IN_MAX:  # a chosen backend: wait for it
            return self._build_and_save(kind, generation), False
        shared = self._shared
        if shared is not None and shared[0] == generation:
            data = shared[1], shared[2]
        else:
            data = self._read()  # read once, for both
        if self._thread is None or not self._thread.is_alive():
            self._start_build(kind, generation, data)
        return self._build("exact", data), True

    def prepare(self) -> None:
        """Start building the approximate index in a background thread if the library needs
        one and none is saved for its current embeddings (right after indexing, say), so that
        the first query does not have to. Returns at once."""
        if self.kind is not None:
            return
        n = self.catalog.embedded_count(self.model)
        kind = choose_index(n)
        if kind == "exact" or n > EXACT_STAND_IN_MAX:
            return
        generation = self.catalog.generation(self.model)
        if self._stamp_matches(kind, generation):
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._start_build(kind, generation, None)

    def _start_build(self, kind: str, generation: int,
                     data: tuple[NDArray[np.int64], NDArray[np.float16]] | None) -> None:
        self._building = generation
        self._thread = threading.Thread(
            target=self._build_in_background, args=(kind, generation, data),
            name="lookalike-search-index", daemon=True)
        self._thread.start()

    def _build_in_background(self, kind: str, generation: int,
                             data: tuple[NDArray[np.int64], NDArray[np.float16]] | None) -> None:
        lower_thread_priority()
        try:
            if data is None:
                data = self._read()
                with self._lock:
                    self._shared = (generation, *data)
            index = self._build_and_save(kind, generation, data)
            current = self.catalog.generation(self.model)
        except Exception:  # the exact stand-in keeps answering; the next query retries
            log.exception("building the %s search index failed", kind)
            with self._lock:
                self._building = None
                self._shared = None
            return
        finally:
            self.catalog.close_thread_connection()
        with self._lock:
            self._shared = None
            if self._building == generation:
                self._building = None
            if current == generation and (self._index is None or self._exact):
                self._index, self._exact, self._generation = index, False, generation

    def _stamp_matches(self, kind: str, generation: int) -> bool:
        stamp = self.index_path.with_suffix(".json")
        try:
            saved = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return False
        return bool(saved == {"generation": generation, "kind": kind}
                    and self.index_path.exists())

    def _load_saved(self, kind: str, generation: int) -> Index | None:
        if not self._stamp_matches(kind, generation):
            return None
        try:
            return type(make_index(kind)).load(self.index_path)
        except (OSError, ValueError) as exc:
            log.warning("rebuilding the search index: %s", exc)
            return None

    def _read(self) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
        """What the index holds: photos' embeddings and clips' kept frames (core.video)."""
        return search_data(self.catalog, self.model)

    def _build(self, kind: str,
               data: tuple[NDArray[np.int64], NDArray[np.float16]] | None = None) -> Index:
        ids, vectors = data or self._read()
        index = make_index(kind)
        if len(ids):
            index.build(ids, vectors)
        return index

    def _build_and_save(self, kind: str, generation: int,
                        data: tuple[NDArray[np.int64], NDArray[np.float16]] | None = None) -> Index:
        index = self._build(kind, data)
        if len(index):
            stamp = self.index_path.with_suffix(".json")
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
        """Photos nearest to an embedding vector (e.g. of an image outside the library); a
        clip is ranked by its best kept frame, whose time its hit carries."""
        index = self.index()
        q = np.asarray(vector, dtype=np.float32)
        excluded = expand_exclude(self.catalog, self.model, exclude) if exclude else set()
        return query_collapsed(self.catalog, lambda n: index.query(q, n, exclude=excluded),
                               k, len(index))
