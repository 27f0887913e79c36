"""Learning the user's similarity: judgements, triplets, training, projection and search."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageOps

from benchmarks import synthetic
from cli import main
from core.catalog.rebuild import rebuild
from core.errors import Cancelled
from core.jobs import run
from core.labels import LabelStore
from core.library import Library
from core.similarity import JudgementStore, learnt
from core.similarity.search import SimilaritySearch
from core.similarity.training import ordering, project
from core.similarity.triplets import Relations, build, relations
from tests.core.conftest import IndexedLibrary

MODEL = "mobilenet_v3_small"  # the fastest backbone, random weights
N_KINDS_SCENES = 16
TRAIN_SCENES = 10  # labelled; the other scenes are never seen in training


@dataclass
class KindsLibrary:
    """Generated scenes, each in colour and in black and white: the base embedding groups a
    scene's two versions together, the user means "colour" vs "black and white"."""

    root: Path
    catalog: Path
    kind: dict[Path, str]  # path -> "colour" / "mono"
    scene: dict[Path, int]

    def open(self) -> Library:
        return Library(self.root, catalog_path=self.catalog, model=MODEL, weights="none")


@pytest.fixture(scope="module")
def kinds_library(tmp_path_factory: pytest.TempPathFactory) -> KindsLibrary:
    base = tmp_path_factory.mktemp("kinds")
    root = base / "photos"
    kind, scene = {}, {}
    for s in range(N_KINDS_SCENES):
        image = synthetic.scene(700 + s, (256, 192))
        for name, version in (("colour", image), ("mono", ImageOps.grayscale(image))):
            path = root / f"scene{s:02d}" / f"{name}.jpg"
            synthetic.write_jpeg(path, version.convert("RGB"))
            kind[path], scene[path] = name, s
    lib = KindsLibrary(root, base / "catalog.sqlite", kind, scene)
    with lib.open() as library:
        run(library.index())
        store = LabelStore(library.catalog)
        look = store.ensure_set("look")
        for name in ("colour", "mono"):
            label = store.ensure_label(look.id, name)
            paths = [p for p in kind if kind[p] == name and scene[p] < TRAIN_SCENES]
            store.assign(label.id, [library.photo_at(p).id for p in paths])
    return lib


def _ids(library: Library, paths: list[Path]) -> list[int]:
    return [library.photo_at(p).id for p in paths]


def test_triplets_come_from_judgements_and_labels(library_copy: IndexedLibrary) -> None:
    with library_copy.open() as library:
        a, b = sorted(library_copy.scenes)[:2]
        sa, sb = library_copy.scenes[a], library_copy.scenes[b]
        store = JudgementStore(library.catalog)
        assert store.judge(_ids(library, sa[:1])[0], _ids(library, sa[1:3]),
                           _ids(library, sb[:1])) == 3
        rel = relations(library.catalog)
        data = build(rel, held_out=0.0)
        q, p1, p2, n = _ids(library, [sa[0], sa[1], sa[2], sb[0]])
        triplets = {tuple(int(data.photo_ids[i]) for i in t) for t in data.train}
        assert triplets == {(q, p1, n), (q, p2, n)}  # no labels yet
        label_set = LabelStore(library.catalog).ensure_set("scene")
        labels = LabelStore(library.catalog)
        for name, paths in ((a, sa), (b, sb)):
            labels.assign(labels.ensure_label(label_set.id, name).id, _ids(library, paths[:2]))
        data = build(relations(library.catalog), held_out=0.0)
        triplets = {tuple(int(data.photo_ids[i]) for i in t) for t in data.train}
        a0, a1, b0, b1 = _ids(library, [sa[0], sa[1], sb[0], sb[1]])
        # same label: alike; the other label: not alike, with either photo as the anchor
        assert {(a0, a1, b0), (a1, a0, b1), (b0, b1, a0), (b1, b0, a1)} <= triplets
        assert {(q, p1, n), (q, p2, n)} <= triplets
        for t in triplets:  # never a positive that was judged or labelled unlike
            assert t[1] != t[2] and t[0] not in t[1:]
        assert data.relation is not None
        index = {int(p): i for i, p in enumerate(data.photo_ids)}
        assert data.relation[index[q], index[n]] == -1 and data.relation[index[a0], index[a1]] == 1
        counts = store.counts()
        assert (counts.similar, counts.not_similar, counts.queries) == (2, 1, 1)


def test_judgements_survive_a_move_and_re_embedding(library_copy: IndexedLibrary) -> None:
    with library_copy.open() as library:
        scene, other = (library_copy.scenes[s] for s in sorted(library_copy.scenes)[:2])
        store = JudgementStore(library.catalog)
        store.judge(_ids(library, scene[:1])[0], _ids(library, scene[1:2]),
                    _ids(library, other[:1]))
        revision = store.revision()
        moved = library_copy.root / "elsewhere" / "moved.jpg"
        moved.parent.mkdir()
        shutil.move(scene[0], moved)  # the query photo moves
        result = run(library.index())
        assert result.scan.moved == 1 and result.embed.embedded == 0
        # re-embedding: the vectors of both judged photos are dropped and made again
        ids = _ids(library, [moved, other[0]])
        with library.catalog.transaction() as tx:
            tx.execute(f"DELETE FROM embeddings WHERE photo_id IN ({ids[0]}, {ids[1]})")
        assert run(library.embed()).embedded == 2
        judged = store.of_photo(library.photo_at(moved).id)
        assert judged == {library.photo_at(scene[1]).id: True, ids[1]: False}
        assert store.revision() == revision  # nothing about them changed
        before = store.judgements()
    rebuilt = rebuild(library_copy.root, library_copy.catalog_path)  # a damaged catalog
    assert rebuilt.rows["judgements"] == 2
    with library_copy.open() as library:
        assert JudgementStore(library.catalog).judgements() == before


def test_learning_orders_the_kinds_the_base_embedding_confuses(
        kinds_library: KindsLibrary) -> None:
    with kinds_library.open() as library:
        catalog, model = library.catalog, library.model_key
        sim = run(learnt.train(catalog, model, loss="triplet"))
        assert sim.version == 1 and sim.loss == "triplet"
        metrics = json.loads(catalog.conn.execute(
            "SELECT metrics FROM similarities").fetchone()[0])
        curve = metrics["curve"]
        assert curve[-1] < 0.5 * curve[0]  # the loss decreases
        # held-out triplets hold photos the training never saw (a fifth of the photos)
        assert sim.after > sim.before, (sim.before, sim.after)
        # on scenes it never saw: triplets "same kind nearer than the other kind"
        unseen = [p for p in kinds_library.kind if kinds_library.scene[p] >= TRAIN_SCENES]
        ids = np.array(_ids(library, unseen))
        kinds = np.array([kinds_library.kind[p] for p in unseen])
        groups = [(ids[kinds == k], ids[kinds != k]) for k in ("colour", "mono")]
        test = build(Relations([], [], groups), held_out=0.0)
        _, base = catalog.embeddings(model, test.photo_ids.tolist())
        loaded = learnt.load(catalog, "mine", model)
        assert loaded is not None and loaded[1] is not None
        before, after = ordering(base, test.train), ordering(project(loaded[1], base),
                                                             test.train)
        assert before < 0.75 and after > before + 0.1, (before, after)
        assert not learnt.is_stale(catalog, sim)


def test_my_similarity_changes_the_ranking_and_switching_back_is_instant(
        kinds_library: KindsLibrary, capsys: pytest.CaptureFixture[str]) -> None:
    with kinds_library.open() as library:
        catalog, model = library.catalog, library.model_key
        if learnt.info(catalog, "mine", model) is None:
            run(learnt.train(catalog, model))
        search = SimilaritySearch(catalog, model, "mine")
        assert search.catch_up() == catalog.embedded_count(model)  # the library, projected
        queries = [p for p in kinds_library.kind
                   if kinds_library.scene[p] >= TRAIN_SCENES]
        k = N_KINDS_SCENES - 1  # as many as there are other photos of the same kind

        def same_kind(hits: list, query: Path) -> float:
            paths = {p.id: p.path for p in catalog.photos([h.photo_id for h in hits])}
            return np.mean([kinds_library.kind[paths[h.photo_id]] == kinds_library.kind[query]
                            for h in hits])

        base = [same_kind(library.similar(_ids(library, [q]), k=k), q) for q in queries]
        mine = [same_kind(search.similar(_ids(library, [q]), k=k), q) for q in queries]
        assert np.mean(mine) > np.mean(base) + 0.15, (base, mine)
    query = next(p for p in queries if kinds_library.kind[p] == "mono")
    args = [str(kinds_library.root), str(query), "--model", MODEL, "--weights", "none",
            "--catalog", str(kinds_library.catalog), "-k", str(k), "--json"]
    assert main(["similar", *args]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["similar", *args, "--similarity", "mine"]) == 0
    learnt_rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in plain] != [r["path"] for r in learnt_rows]
    mono = [sum(r["path"].endswith("mono.jpg") for r in rows) for rows in (plain, learnt_rows)]
    assert mono[1] > mono[0]
    assert main(["similar", *args, "--similarity", "nope"]) == 1
    assert "No similarity 'nope'" in capsys.readouterr().err


def test_judge_and_learn_commands(kinds_library: KindsLibrary, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog.sqlite"
    shutil.copy(kinds_library.catalog, catalog)
    lib = [str(kinds_library.root), "--model", MODEL, "--weights", "none", "--catalog",
           str(catalog)]
    colour = sorted(p for p in kinds_library.kind if kinds_library.kind[p] == "colour")
    mono = sorted(p for p in kinds_library.kind if kinds_library.kind[p] == "mono")
    assert main(["judge", *lib, str(colour[0]), "--similar", *map(str, colour[1:3]),
                 "--not-similar", *map(str, mono[:2])]) == 0
    out = capsys.readouterr().out
    assert "Recorded 4 judgements" in out and "2 similar and 2 not similar" in out
    assert main(["learn", *lib, "--name", "look", "--projection", "mlp", "-q"]) == 0
    out = capsys.readouterr().out
    assert "held-out triplets ordered correctly" in out
    assert f"Projected {2 * N_KINDS_SCENES} photos" in out
    assert main(["learn", *lib, "--list"]) == 0
    assert "similarity 'look' v1 (mlp projection" in capsys.readouterr().out
    assert main(["judge", *lib, str(colour[0]), "--forget"]) == 0
    assert "Forgot 4 judgements" in capsys.readouterr().out
    assert main(["learn", *lib, "--list"]) == 0
    assert "judgements or labels changed since" in capsys.readouterr().out
    assert main(["judge", *lib, str(tmp_path / "missing.jpg"), "--similar",
                 str(colour[1])]) == 1
    assert "file not found" in capsys.readouterr().err


def test_too_few_judgements_and_cancel_lose_nothing(library_copy: IndexedLibrary,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with library_copy.open() as library:
        catalog, model = library.catalog, library.model_key
        with pytest.raises(learnt.SimilarityError, match="Too few judgements"):
            run(learnt.train(catalog, model))
        scenes = [library_copy.scenes[s] for s in sorted(library_copy.scenes)]
        store = JudgementStore(catalog)
        for k, paths in enumerate(scenes[:6]):
            store.judge(_ids(library, paths[:1])[0], _ids(library, paths[1:]),
                        _ids(library, scenes[(k + 1) % 6][:2]))
        judged = store.judgements()
        cancel = threading.Event()
        job = learnt.train(catalog, model, cancel=cancel)
        next(job)
        cancel.set()
        with pytest.raises(Cancelled):
            run(job)
        assert learnt.info(catalog, "mine", model) is None and store.judgements() == judged
        run(learnt.train(catalog, model))
        cancel = threading.Event()
        job = learnt.project_library(catalog, model, cancel=cancel)
        next(job)
        cancel.set()
        with pytest.raises(Cancelled):
            run(job)
        assert learnt.get(catalog, "mine", model).projected is None  # not searched yet
        assert run(learnt.project_library(catalog, model)) == catalog.embedded_count(model)
        sim = learnt.get(catalog, "mine", model)
        assert sim.projected == sim.key
        assert catalog.embedded_count(sim.key) == catalog.embedded_count(model)
        # retrained: a new version is projected under its own key, then replaces the old one
        sim2 = run(learnt.train(catalog, model))
        assert sim2.version == 2 and sim2.projected == sim.key  # the old one still searched
        run(learnt.project_library(catalog, model))
        assert learnt.get(catalog, "mine", model).projected == sim2.key
        assert catalog.embedded_count(sim.key) == 0
        # a version whose projection was stopped half way (a killed run), then retrained:
        # once the newest is projected, no older version's vectors are left behind
        sim3 = run(learnt.train(catalog, model))
        monkeypatch.setattr(learnt, "PROJECT_BATCH", 16)  # 40 photos: batches of 16
        job = learnt.project_library(catalog, model)
        next(job)
        next(job)  # one batch of sim3's vectors committed, then the run ends
        job.close()
        assert 0 < catalog.embedded_count(sim3.key) < catalog.embedded_count(model)
        sim4 = run(learnt.train(catalog, model))
        run(learnt.project_library(catalog, model))
        projected = [r[0] for r in catalog.conn.execute(
            "SELECT DISTINCT model FROM embeddings WHERE model LIKE ?", (f"{model}~%",))]
        assert projected == [sim4.key]


def test_finetuning_runs_on_the_cpu_resumes_after_a_cancel_and_makes_a_model(
        kinds_library: KindsLibrary, tmp_path: Path) -> None:
    from core.embed.cnn import Embedder
    from core.similarity.finetune import finetune

    catalog_path = tmp_path / "catalog.sqlite"
    shutil.copy(kinds_library.catalog, catalog_path)
    with Library(kinds_library.root, catalog_path=catalog_path, model=MODEL,
                 weights="none") as library:
        catalog = library.catalog

        def job(cancel: threading.Event | None = None):
            return finetune(catalog, MODEL, "none", steps=4, batch=2, device="cpu",
                            cancel=cancel)

        cancel = threading.Event()
        running = job(cancel)
        texts = [next(running).text for _ in range(3)]  # the start, then steps 1 and 2
        assert "step 2/4" in texts[-1] and "on cpu" in texts[-1]
        cancel.set()
        with pytest.raises(Cancelled):
            run(running)
        assert len(list((tmp_path / "models").glob("finetune-*.ckpt"))) == 1
        result = run(job())
        assert result.resumed_from == 2 and result.steps == 4
        assert not list((tmp_path / "models").glob("finetune-*.ckpt"))
        assert result.model_key.startswith(f"{MODEL}@file-") and result.weights.is_file()
        assert 0 <= result.before <= 1 and 0 <= result.after <= 1 and result.held_out > 0
        embedder = Embedder(MODEL, result.weights, "cpu")
        assert embedder.key == result.model_key != library.model_key
        photo = next(iter(kinds_library.kind))
        tuned, frozen = embedder.embed_file(photo), library.embedder.embed_file(photo)
        assert tuned.shape == frozen.shape and abs(np.linalg.norm(tuned) - 1) < 1e-4
        assert not np.allclose(tuned, frozen, atol=1e-4)  # the last stage has learnt


def test_held_out_triplets_hold_photos_the_training_never_saw() -> None:
    rng = np.random.default_rng(0)
    groups = [(np.arange(g * 10, g * 10 + 10), np.setdiff1d(np.arange(40), np.arange(
        g * 10, g * 10 + 10))) for g in range(4)]
    unlike = [(int(a), int(b)) for a, b in rng.integers(40, size=(30, 2)) if a // 10 != b // 10]
    data = build(Relations([(0, 1), (10, 11)], unlike, groups), seed=3)
    assert len(data.train) and len(data.held_out)
    seen = set(np.unique(data.train).tolist())
    unseen = set(np.unique(data.held_out).tolist()) - seen
    assert 4 <= len(unseen) <= 12  # about a fifth of the 40 photos
    assert all(set(t.tolist()) & unseen for t in data.held_out)
    assert not set(np.unique(data.pairs[:, :2]).tolist()) & unseen  # nor in the pairs


def test_blended_similarity_mixes_the_base_and_learnt_cosines() -> None:
    import torch

    from core.similarity.training import Projection

    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    projection = Projection(16, 8, "linear")
    with torch.no_grad():
        projection.basis.copy_(torch.from_numpy(np.linalg.qr(rng.standard_normal(
            (16, 8)))[0].T.astype(np.float32)))
        projection.linear.weight.add_(0.3 * torch.randn(8, 8))
    learnt_cos = project(projection, x) @ project(projection, x).T
    for blend in (0.0, 0.4):
        projection.blend = blend
        v = project(projection, x)
        assert v.shape == (30, 16 + 8) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
        assert np.allclose(v @ v.T, (1 - blend) * (x @ x.T) + blend * learnt_cos, atol=1e-5)
    projection.blend = 0.0  # the plain ranking, whatever the layer learnt
    v = project(projection, x)
    assert (np.argsort(-(v @ v.T), 1) == np.argsort(-(x @ x.T), 1)).all()
