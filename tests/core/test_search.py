"""The searcher answers at once while its approximate index is built in the background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.catalog import Catalog, PhotoMeta
from core.index import APPROXIMATE, ExactIndex, IvfIndex, make_index
from core.index import registry as core_index
from core.jobs import run
from core.scan import scan
from core.search import Searcher

MODEL = "test@random0"
APPROXIMATE_INDEX = type(make_index(APPROXIMATE))  # the default approximate backend


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """600 photos with clustered 64-d embeddings; "large" from 200 photos on."""
    monkeypatch.setattr(core_index, "EXACT_THRESHOLD", 200)
    root = tmp_path / "photos"
    root.mkdir()
    for k in range(600):
        (root / f"{k:04d}.jpg").write_bytes(b"never decoded here")
    cat = Catalog.open(root, tmp_path / "catalog.sqlite")
    run(scan(cat))
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(12, 64))
    vectors = centres[np.arange(600) % 12] + 0.3 * rng.normal(size=(600, 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [(int(pid), PhotoMeta(f"h{n}", 64, 48, None, None), vectors[n].astype(np.float32))
            for n, pid in enumerate(cat.photo_ids())]
    cat.store_results(MODEL, rows, [])
    return cat


def test_exact_answers_while_the_approximate_index_builds(catalog: Catalog) -> None:
    searcher = Searcher(catalog, MODEL)
    assert isinstance(searcher.index(), ExactIndex)  # at once, without waiting for the build
    query = int(catalog.photo_ids()[7])
    first = searcher.similar([query], k=10)
    assert searcher.build_pending
    assert run(searcher.build_index())
    assert not searcher.build_pending
    assert isinstance(searcher.index(), APPROXIMATE_INDEX)
    approximate = searcher.similar([query], k=10)
    assert len({h.photo_id for h in first} & {h.photo_id for h in approximate}) >= 8
    assert searcher.index_path.exists()
    # A new searcher (the app started again) loads the saved index instead of building.
    assert isinstance(Searcher(catalog, MODEL).index(), APPROXIMATE_INDEX)


def test_a_chosen_backend_is_built_before_the_query(catalog: Catalog) -> None:
    searcher = Searcher(catalog, MODEL, kind="ivf")
    assert not searcher.build_pending
    assert isinstance(searcher.index(), IvfIndex)


def test_the_build_job_runs_before_any_query_and_the_first_query_uses_it(
        catalog: Catalog) -> None:
    searcher = Searcher(catalog, MODEL)
    phases = []
    assert run(searcher.build_index(), phases.append)  # as the app's worker runs it
    assert [p.done for p in phases] == [0, 1, 2] and phases[-1].text == "Search index ready"
    assert searcher.index_path.exists()
    assert isinstance(searcher.index(), APPROXIMATE_INDEX)  # no exact stand-in, no second build
    assert not run(searcher.build_index())  # nothing to do: the saved index matches


def test_a_query_during_the_background_build_is_answered_exactly(catalog: Catalog) -> None:
    query = int(catalog.photo_ids()[3])
    expected = [h.photo_id for h in Searcher(catalog, MODEL, kind="exact").similar([query], k=10)]
    searcher = Searcher(catalog, MODEL)
    job = searcher.build_index()
    next(job)  # the build has started (reading the embeddings) and holds the generation
    assert not searcher.build_pending  # a second build would not start
    during = [h.photo_id for h in searcher.similar([query], k=10)]  # the exact stand-in
    assert isinstance(searcher.index(), ExactIndex)
    assert run(job)
    assert len(set(during) & set(expected)) >= 8
    assert isinstance(searcher.index(), APPROXIMATE_INDEX)


def test_a_large_library_builds_its_index_from_the_catalog_a_block_at_a_time(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above EXACT_STAND_IN_MAX no exact search stands in: the index is built straight
    from the catalog's blocks into its files and answers from its memory-mapped vectors."""
    import core.search
    import core.video.search

    monkeypatch.setattr(core.search, "EXACT_STAND_IN_MAX", 300)
    monkeypatch.setattr(core.search.Searcher, "_read", lambda self: pytest.fail(
        "the whole library's vectors were read into memory"))
    blocks = []
    real = core.video.search.search_blocks

    def counted(*args: object) -> object:
        for block in real(*args):  # type: ignore[arg-type]
            blocks.append(len(block[0]))
            yield block

    monkeypatch.setattr(core.search, "search_blocks", counted)
    searcher = Searcher(catalog, MODEL)
    assert searcher.build_pending  # built in the background, as the app runs the job
    assert run(searcher.build_index())
    assert sum(blocks) == 600 and not searcher.build_pending
    query = int(catalog.photo_ids()[7])
    hits = searcher.similar([query], k=10)
    index = searcher.index()
    assert isinstance(index, APPROXIMATE_INDEX)
    assert not index._vectors.flags.writeable  # the vectors file, mapped read-only
    exact = ExactIndex()
    exact.build(*catalog.stored_embeddings(MODEL))
    exact = exact.query(searcher.vectors([query])[0], 10, exclude={query})
    assert len({h.photo_id for h in hits} & {h.photo_id for h in exact}) >= 8
    # Saved with its stamp: a new searcher loads it instead of building again.
    blocks.clear()
    assert isinstance(Searcher(catalog, MODEL).index(), APPROXIMATE_INDEX) and not blocks
    # Without the job, the first query builds it (from blocks too) and waits for it.
    for path in searcher.index_path.parent.glob(searcher.index_path.name + "*"):
        path.unlink()
    fresh = Searcher(catalog, MODEL)
    assert [h.photo_id for h in fresh.similar([query], k=10)] == [h.photo_id for h in hits]
    assert sum(blocks) == 600
