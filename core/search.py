"""Similarity queries over a library's embeddings.

A :class:`Searcher` keeps one search index per model: exact numpy search for small
libraries, an approximate one (annoy over PCA-reduced vectors with exact re-rank, see
:func:`core.index.choose_index`; saved beside the catalog, rebuilt when the embeddings change)
for large ones. Building that one takes seconds to a minute, so while it is missing or stale
a query is answered by exact search (tens of milliseconds at 100k photos) and the
approximate index is built by :meth:`Searcher.build_index`, a job that the app runs in a
worker and the CLI after indexing, then used once it is current (it owns no thread itself).
Above :data:`EXACT_STAND_IN_MAX` photos no exact search stands in (it would hold every
vector in memory): the index is built from the catalog a block at a time, straight into its
files, and a query waits for that build.
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
from core.index.reduced import ReRankedIndex
from core.jobs import Job, Progress, check_cancel
from core.video.search import expand_exclude, query_collapsed, search_blocks, search_data

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
        self._building: int | None = None  # the generation a build_index job is building
        # The vectors a background build has read (its generation, ids, vectors): a query
        # that comes meanwhile stands in with exact search over them instead of reading again.
        self._shared: tuple[int, NDArray[np.int64], NDArray[np.float16]] | None = None
        self._lock = threading.Lock()
        self._build_ended = threading.Condition(self._lock)  # a build_index job ended

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

    @property
    def build_pending(self) -> bool:
        """Whether an approximate index is wanted for the current embeddings and none is
        saved or being built: run :meth:`build_index` (queries are answered meanwhile)."""
        kind = self._wanted_kind()
        if kind is None:
            return False
        generation = self.catalog.generation(self.model)
        with self._lock:
            if self._building == generation:
                return False
        return not self._stamp_matches(kind, generation)

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
            while self._building == generation:  # built in the background: wait for that one
                self._build_ended.wait()
            saved = self._load_saved(kind, generation)
            if saved is not None:
                return saved, False
            return self._build_and_save(kind, generation), False
        shared = self._shared
        if shared is not None and shared[0] == generation:
            data = shared[1], shared[2]
        else:
            data = self._read()  # read once, for both
        self._shared = (generation, *data)  # build_index reuses what was read
        return self._build("exact", data), True

    def _wanted_kind(self) -> str | None:
        """The approximate backend this library wants built in the background, or None."""
        if self.kind is not None:
            return None
        kind = choose_index(self.catalog.embedded_count(self.model))
        return None if kind == "exact" else kind

    def build_index(self, cancel: threading.Event | None = None) -> Job[bool]:
        """Build and save the approximate index of the current embeddings if the library
        needs one and none is saved, then answer queries from it. A job: the GUI runs it in a
        worker after indexing (or when a query had to stand in), the CLI after ``index``.
        Returns whether it built one; another build of the same embeddings makes it a no-op.
        """
        kind = self._wanted_kind()
        if kind is None:
            return False
        generation = self.catalog.generation(self.model)
        with self._lock:
            if self._building == generation or self._stamp_matches(kind, generation):
                return False
            self._building = generation
        try:
            n = self.catalog.embedded_count(self.model)
            yield Progress("search index", 0, 2, f"Reading {n:,} embeddings")
            with self._lock:
                shared = self._shared
            data: tuple[NDArray[np.int64], NDArray[np.float16]] | None = None
            if shared is not None and shared[0] == generation:
                data = shared[1], shared[2]
            elif n <= EXACT_STAND_IN_MAX:  # read once: exact search stands in meanwhile
                data = self._read()
                with self._lock:
                    self._shared = (generation, *data)
            # else built from the catalog a block at a time (no exact stand-in to share with)
            check_cancel(cancel)
            yield Progress("search index", 1, 2, f"Building the search index of {n:,} photos")
            index = self._build_and_save(kind, generation, data)
            current = self.catalog.generation(self.model)
        finally:
            with self._lock:
                self._shared = None
                if self._building == generation:
                    self._building = None
                self._build_ended.notify_all()
        with self._lock:
            if current == generation and (self._index is None or self._exact):
                self._index, self._exact, self._generation = index, False, generation
        yield Progress("search index", 2, 2, "Search index ready")
        return True

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
        """Build ``kind`` and save it beside the catalog. Without ``data`` (no exact search
        stands in, above :data:`EXACT_STAND_IN_MAX`) an approximate index is built from the
        catalog a block at a time into its files: the vectors are never all in memory."""
        stamp = self.index_path.with_suffix(".json")
        index = make_index(kind)
        if data is None and isinstance(index, ReRankedIndex):
            stamp.unlink(missing_ok=True)
            try:
                index.build_streamed(search_blocks(self.catalog, self.model), self.index_path)
            except OSError as exc:  # e.g. a full disk: build it in memory, unsaved
                log.warning("could not save the search index: %s", exc)
                return self._build(kind, data)
        else:
            index = self._build(kind, data)
            if not len(index):
                return index
            try:
                index.save(self.index_path)
            except OSError as exc:
                log.warning("could not save the search index: %s", exc)
                return index
        if len(index):
            stamp.write_text(json.dumps({"generation": generation, "kind": kind}))
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
