"""One test suite for every nearest-neighbour backend; annoy meets a recall bar against exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from core.index import (
    EXACT_THRESHOLD,
    INDEXES,
    AnnoyIndex,
    ExactIndex,
    FaissIndex,
    Hit,
    Index,
    IvfIndex,
    PcaIndex,
    choose_index,
    make_index,
    rocchio,
)

N, DIM, K = 3000, 256, 10

# Every backend in INDEXES; the approximate ones also with their PCA projection switched on
# (annoy's and ivf's default, 256-d, keeps these 256-d vectors whole; pca's is 128-d).
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("exact", {}),
    ("annoy", {}),
    ("annoy", {"reduced_dim": 32}),
    ("pca", {}),
    ("pca", {"reduced_dim": 32}),
    ("ivf", {}),
    ("ivf", {"reduced_dim": 32}),
    ("faiss", {}),
    ("faiss", {"reduced_dim": 32}),
]
CONFIG_IDS = ["exact", "annoy", "annoy-pca32", "pca", "pca-pca32", "ivf", "ivf-pca32", "faiss",
              "faiss-pca32"]


def clustered(n: int, dim: int, n_clusters: int = 30, seed: int = 0
              ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """L2-normalised vectors around random unit centres, and each one's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_clusters, n)
    x = centres[labels] + rng.standard_normal((n, dim)).astype(np.float32) * (0.8 / np.sqrt(dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.fixture(scope="module")
def data() -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]:
    vectors, labels = clustered(N, DIM)
    ids = np.arange(N, dtype=np.int64) * 5 + 1000  # photo ids are not positions
    return ids, vectors, labels


@pytest.fixture(scope="module", params=CONFIGS, ids=CONFIG_IDS)
def config(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param


@pytest.fixture(scope="module")
def built(config: tuple[str, dict[str, Any]], data: Any) -> Index:
    name, kwargs = config
    index = make_index(name, **kwargs)
    index.build(data[0], data[1])
    return index


def hit_ids(hits: list[Hit]) -> list[int]:
    return [h.photo_id for h in hits]


def test_every_backend_is_tested() -> None:
    assert {name for name, _ in CONFIGS} == set(INDEXES)


def test_top1_of_a_stored_vector_is_itself(built: Index, data: Any) -> None:
    ids, vectors, _ = data
    assert len(built) == N
    for pos in (0, 17, N - 1):
        (hit,) = built.query(vectors[pos], 1)
        assert hit.photo_id == ids[pos]
        assert hit.score == pytest.approx(1.0, abs=1e-3)


def test_results_sorted_with_true_cosine_scores(built: Index, data: Any) -> None:
    ids, vectors, _ = data
    hits = built.query(vectors[42], 25)
    assert len(hits) == 25
    scores = np.array([h.score for h in hits])
    assert np.all(np.diff(scores) <= 0)
    by_id = dict(zip(ids.tolist(), range(N), strict=True))
    expected = [float(vectors[by_id[h.photo_id]] @ vectors[42]) for h in hits]
    np.testing.assert_allclose(scores, expected, atol=2e-3)


def test_exclude(built: Index, data: Any) -> None:
    ids, vectors, _ = data
    first = built.query(vectors[7], K)
    excluded = set(hit_ids(first[:5]))
    hits = built.query(vectors[7], K, exclude=excluded | {-1})  # unknown ids are fine
    assert len(hits) == K
    assert not excluded & set(hit_ids(hits))
    assert int(ids[7]) not in hit_ids(built.query(vectors[7], K, exclude=[int(ids[7])]))


def test_k_larger_than_n(config: tuple[str, dict[str, Any]], data: Any) -> None:
    ids, vectors, _ = data
    index = make_index(config[0], **config[1])
    index.build(ids[:50], vectors[:50])
    assert sorted(hit_ids(index.query(vectors[0], 1000))) == sorted(ids[:50].tolist())
    hits = index.query(vectors[0], 1000, exclude=ids[:3].tolist())
    assert len(hits) == 47 and not set(ids[:3].tolist()) & set(hit_ids(hits))


def test_save_load_round_trip(built: Index, data: Any, tmp_path: Path) -> None:
    _, vectors, _ = data
    path = tmp_path / "library.index"
    built.save(path)
    loaded = type(built).load(path)
    assert len(loaded) == len(built)
    for pos in (3, 300, 2999):
        before, after = built.query(vectors[pos], K), loaded.query(vectors[pos], K)
        assert hit_ids(before) == hit_ids(after)
        np.testing.assert_allclose([h.score for h in before], [h.score for h in after],
                                   atol=1e-6)
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporary files


def test_recall_at_10_against_exact(built: Index, data: Any) -> None:
    ids, vectors, _ = data
    exact = ExactIndex()
    exact.build(ids, vectors)
    queries = np.random.default_rng(99).choice(N, 100, replace=False)
    found = 0
    for pos in queries:
        exclude = [int(ids[pos])]
        truth = set(hit_ids(exact.query(vectors[pos], K, exclude=exclude)))
        found += len(truth & set(hit_ids(built.query(vectors[pos], K, exclude=exclude))))
    assert found / (K * len(queries)) >= 0.95


def test_rocchio_negative_moves_away_from_its_cluster(built: Index, data: Any) -> None:
    _, vectors, labels = data
    a, b = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    positives = vectors[[a[0], b[0]]]
    by_cluster = dict(zip(data[0].tolist(), labels.tolist(), strict=True))

    def from_b(query: NDArray[np.float32]) -> int:
        return sum(by_cluster[h.photo_id] == 1 for h in built.query(query, 20))

    assert from_b(rocchio(positives)) > 0
    assert from_b(rocchio(positives, vectors[b[1:4]])) == 0


def test_empty_index(config: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    name, kwargs = config
    never_built = make_index(name, **kwargs)
    assert len(never_built) == 0 and never_built.query(np.ones(8, np.float32), 5) == []
    index = make_index(name, **kwargs)
    index.build(np.empty(0, np.int64), np.empty((0, 8), np.float32))
    assert len(index) == 0 and index.query(np.ones(8, np.float32), 5) == []
    index.save(tmp_path / "empty")
    assert type(index).load(tmp_path / "empty").query(np.ones(8, np.float32), 5) == []


def test_bad_input_raises(config: tuple[str, dict[str, Any]], data: Any) -> None:
    ids, vectors, _ = data
    index = make_index(config[0], **config[1])
    with pytest.raises(ValueError, match="ids"):
        index.build(ids[:10], vectors[:11])
    with pytest.raises(ValueError, match="unique"):
        index.build(np.zeros(10, np.int64), vectors[:10])
    with pytest.raises(ValueError, match="zero"):
        index.build(ids[:2], np.zeros((2, DIM), np.float32))
    index.build(ids[:20], vectors[:20])
    with pytest.raises(ValueError, match="k must be"):
        index.query(vectors[0], 0)
    with pytest.raises(ValueError, match="shape"):
        index.query(vectors[0][:100], 5)


def test_make_index_error_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown index 'hnsw'") as error:
        make_index("hnsw")
    assert all(name in str(error.value) for name in INDEXES)
    assert isinstance(make_index("annoy", n_trees=3), AnnoyIndex)


def test_choose_index() -> None:
    assert choose_index(0) == choose_index(EXACT_THRESHOLD - 1) == "exact"
    assert choose_index(EXACT_THRESHOLD) == choose_index(10**6) == "faiss"


def test_exact_query_many_matches_query(data: Any) -> None:
    ids, vectors, _ = data
    index = ExactIndex()
    index.build(ids, vectors)
    batch = index.query_many(vectors[:5], K)
    assert [hit_ids(h) for h in batch] == [hit_ids(index.query(v, K)) for v in vectors[:5]]


def test_ivf_probing_few_lists_still_returns_k(data: Any) -> None:
    ids, vectors, _ = data
    index = IvfIndex(n_lists=64, nprobe=1)  # ~47 rows a list
    index.build(ids, vectors)
    hits = index.query(vectors[5], 150, exclude=ids[:40].tolist())
    assert len(set(hit_ids(hits))) == 150 and not set(ids[:40].tolist()) & set(hit_ids(hits))
    every_list = IvfIndex(n_lists=64, nprobe=64)  # no projection at 256-d: exact candidates
    every_list.build(ids, vectors)
    exact = ExactIndex()
    exact.build(ids, vectors)
    for pos in (5, 1234):
        assert hit_ids(every_list.query(vectors[pos], K)) == hit_ids(exact.query(vectors[pos], K))


@pytest.mark.parametrize("cls", [AnnoyIndex, PcaIndex, IvfIndex, FaissIndex])
def test_load_rejects_mismatched_files(cls: type[Index], data: Any, tmp_path: Path) -> None:
    ids, vectors, _ = data
    small, large = cls(), cls()
    small.build(ids[:100], vectors[:100])
    large.build(ids[:200], vectors[:200])
    small.save(tmp_path / "a")
    large.save(tmp_path / "b")
    (tmp_path / "b").replace(tmp_path / "a")
    with pytest.raises(ValueError, match="rebuild"):
        cls.load(tmp_path / "a")


def test_rocchio() -> None:
    pos = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    np.testing.assert_allclose(rocchio(pos), [np.sqrt(0.5)] * 2, rtol=1e-6)
    moved = rocchio(pos, np.array([[0.0, 1.0]], np.float32))
    assert moved[0] > moved[1] and np.linalg.norm(moved) == pytest.approx(1.0)
    assert rocchio(pos[0], np.empty((0, 2), np.float32)) == pytest.approx([1.0, 0.0])
    with pytest.raises(ValueError, match="positive"):
        rocchio(np.empty((0, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        rocchio(pos, np.ones((1, 3), np.float32))


@pytest.mark.parametrize("name", ["faiss", "ivf", "pca", "annoy"])
def test_streamed_build_matches_the_in_memory_build(name: str, data: Any,
                                                    tmp_path: Path) -> None:
    """A build from blocks (the vectors written to disk as they come, never all in memory)
    gives the index an in-memory build of the same rows gives, saved and mmapped."""
    from core.index.reduced import ReRankedIndex

    ids, vectors, _ = data
    kwargs = {"reduced_dim": 32}
    memory = make_index(name, **kwargs)
    memory.build(ids, vectors)
    streamed = make_index(name, **kwargs)
    assert isinstance(streamed, ReRankedIndex)
    path = tmp_path / "streamed.index"
    streamed.build_streamed(((ids[s:s + 700], vectors[s:s + 700].astype(np.float16))
                             for s in range(0, len(ids), 700)), path)
    loaded = type(streamed).load(path)
    assert len(streamed) == len(loaded) == len(ids)
    assert streamed._settings() == memory._settings()  # the same tuned effort
    for pos in (0, 1234, len(ids) - 1):
        want = hit_ids(memory.query(vectors[pos], K))
        assert hit_ids(streamed.query(vectors[pos], K)) == want
        assert hit_ids(loaded.query(vectors[pos], K)) == want
    assert not list(tmp_path.glob("*.tmp"))


def test_streamed_build_rejects_bad_rows(data: Any, tmp_path: Path) -> None:
    ids, vectors, _ = data
    bad = vectors[:100].astype(np.float16)
    bad[5] = 0
    with pytest.raises(ValueError, match="zero"):
        make_index("faiss").build_streamed([(ids[:100], bad)], tmp_path / "x.index")
    with pytest.raises(ValueError, match="unique"):
        make_index("faiss").build_streamed(
            [(ids[:100], vectors[:100]), (ids[:100], vectors[:100])], tmp_path / "x.index")
    assert not list(tmp_path.iterdir())  # nothing half-written is left
