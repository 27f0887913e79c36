"""Which layer describes a library's photos: ``semantic`` (the pooled final features, the
default) or ``visual`` (an earlier stage, pooled, from the same forward pass), each its own
embedding set in the catalog, chosen with ``--layer`` and remembered by the library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import synthetic
from cli import main
from core import decode
from core.embed.cnn import Embedder
from core.embed.models import MODELS, key_layer, model_key
from core.jobs import run
from core.library import Library

SEMANTIC_KEY = "efficientnet_lite0@imagenet"
VISUAL_KEY = "efficientnet_lite0@imagenet:visual"


@pytest.fixture(scope="module")
def visual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[Path]]]:
    """4 generated scenes × (original + 3 edited copies), indexed with ``--layer visual``
    (the default model, its real weights, under ONNX Runtime as the product runs it)."""
    base = tmp_path_factory.mktemp("layer")
    root = base / "photos"
    scenes = synthetic.write_library(root, 4, n_variants=3, seed=8)
    catalog = base / "catalog.sqlite"
    assert main(["index", str(root), "--layer", "visual", "--catalog", str(catalog), "-q"]) == 0
    return root, catalog, scenes


def _status(root: Path, catalog: Path, capsys: pytest.CaptureFixture[str], *extra: str
            ) -> dict[str, object]:
    assert main(["status", str(root), "--catalog", str(catalog), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_a_visual_index_stores_its_own_embedding_set(visual, capsys) -> None:
    root, catalog, _scenes = visual
    state = _status(root, catalog, capsys)
    assert (state["model"], state["layer"]) == (VISUAL_KEY, "visual")
    assert state["embeddings"] == {VISUAL_KEY: 16}  # no semantic vectors were made
    assert state["keywords"] == 16  # the classifier ran in the same pass
    with Library(root, catalog_path=catalog) as library:
        vectors = library.searcher.vectors([p.id for p in library.catalog.photos()])
        assert vectors.shape == (16, MODELS["efficientnet_lite0"].visual_dim) == (16, 192)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert main(["status", str(root), "--catalog", str(catalog)]) == 0
    assert f"16 embeddings from {SEMANTIC_KEY}, visual layer (in use)" in capsys.readouterr().out


def test_similar_searches_the_visual_set(visual, capsys) -> None:
    root, catalog, scenes = visual
    query = scenes["scene_001"][0]
    assert main(["similar", str(root), str(query), "--catalog", str(catalog), "-k", "5",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    with Library(root, catalog_path=catalog) as library:
        assert library.layer == "visual" and library.model_key == VISUAL_KEY
        ids = {p.path: p.id for p in library.catalog.photos()}
        q = library.searcher.vectors([ids[query]])[0]
        found = library.searcher.vectors([ids[Path(h["path"])] for h in hits])
    # the scores are the cosines of the visual vectors (192 values), best first
    np.testing.assert_allclose([h["score"] for h in hits], found @ q, atol=1e-3)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_near_duplicates_rank_first_with_the_visual_layer(visual) -> None:
    root, catalog, scenes = visual
    with Library(root, catalog_path=catalog) as library:
        ids = {p.path: p.id for p in library.catalog.photos()}
        for paths in scenes.values():
            copies = {ids[p] for p in paths[1:]}
            hits = library.similar([ids[paths[0]]], k=len(copies))
            assert {h.photo_id for h in hits} == copies, paths[0]


def test_the_layers_give_different_vectors_of_the_documented_dims(shared_photos: Path
                                                                  ) -> None:
    jpg = shared_photos / "exif-samples" / "jpg"
    arrays = [decode.model_input(decode.decode_file(jpg / n).image, 224)
              for n in ("Canon_40D.jpg", "gps/DSCN0025.jpg")]
    semantic = Embedder(device="cpu").run_arrays(arrays, maps=True)
    fast = Embedder(device="cpu", layer="visual")
    plain = Embedder(device="cpu", layer="visual", engine="torch")
    assert (fast.engine, plain.engine, fast.key, fast.dim) == ("onnxruntime", "torch",
                                                               VISUAL_KEY, 192)
    a, b = fast.run_arrays(arrays, maps=True), plain.run_arrays(arrays, maps=True)
    assert semantic.vectors.shape == (2, 1280) and a.vectors.shape == (2, 192)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-4)  # ONNX = PyTorch
    # one forward pass: the vector is the mean of the stage's map handed out with it (the
    # regions are pooled from that map), and the classifier still names the same classes
    assert a.maps is not None and a.maps.shape == (2, 192, 7, 7)
    mean = a.maps.mean(axis=(2, 3))
    np.testing.assert_allclose(a.vectors, mean / np.linalg.norm(mean, axis=1, keepdims=True),
                               atol=1e-5)
    np.testing.assert_array_equal(a.classes, semantic.classes)
    # another description of the same two photos: how alike they are differs
    assert abs(float(a.vectors[0] @ a.vectors[1])
               - float(semantic.vectors[0] @ semantic.vectors[1])) > 0.05


@pytest.mark.parametrize("name", [n for n in MODELS if not n.startswith("efficientnet")])
def test_each_torchvision_backbone_has_a_visual_stage(name: str) -> None:
    spec = MODELS[name]
    embedder = Embedder(name, "none", device="cpu", layer="visual")
    pixels = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    out = embedder.run_arrays([pixels], maps=True)
    assert out.vectors.shape == (1, spec.visual_dim) and 0 < spec.visual_dim < spec.dim
    assert out.maps is not None and out.maps.shape[2] >= 7  # an earlier, finer stage
    assert embedder.key == f"{name}@random0:visual" == model_key(name, "none", layer="visual")


def test_the_library_remembers_its_layer(visual, tmp_path, capsys) -> None:
    root, catalog, scenes = visual
    copy = tmp_path / "catalog.sqlite"
    with Library(root, catalog_path=catalog) as library:
        library.catalog.conn.execute("VACUUM INTO ?", (str(copy),))
    # told otherwise for one command: the semantic set (empty here); nothing is remembered
    state = _status(root, copy, capsys, "--layer", "semantic")
    assert (state["model"], state["embedded"]) == (SEMANTIC_KEY, 0)
    assert _status(root, copy, capsys)["layer"] == "visual"
    # indexing with the other layer adds its own set beside the first, and is remembered
    assert main(["index", str(root), "--layer", "semantic", "--catalog", str(copy), "-q"]) == 0
    capsys.readouterr()
    state = _status(root, copy, capsys)
    assert state["layer"] == "semantic"
    assert state["embeddings"] == {SEMANTIC_KEY: 16, VISUAL_KEY: 16}
    # both sets stay usable: the same query ranks by other vectors
    query = str(scenes["scene_002"][0])
    lib = [str(root), str(query), "--catalog", str(copy), "-k", "3", "--json"]
    assert main(["similar", *lib, "--layer", "visual"]) == 0
    by_visual = json.loads(capsys.readouterr().out)
    assert main(["similar", *lib]) == 0
    by_semantic = json.loads(capsys.readouterr().out)
    assert [h["score"] for h in by_visual] != [h["score"] for h in by_semantic]
    # a catalog from before layers (no "layer" in its meta) uses the semantic layer
    with Library(root, catalog_path=copy) as library, library.catalog.transaction() as tx:
        tx.execute("DELETE FROM meta WHERE key = 'layer'")
    with Library(root, catalog_path=copy) as library:
        assert (library.layer, library.model_key) == ("semantic", SEMANTIC_KEY)
    with pytest.raises(SystemExit):
        main(["status", str(root), "--catalog", str(copy), "--layer", "middle"])
    assert "invalid choice: 'middle'" in capsys.readouterr().err


def test_embed_layer_switches_a_library_and_keeps_the_old_vectors(visual, tmp_path) -> None:
    root, catalog, scenes = visual
    copy = tmp_path / "catalog.sqlite"
    with Library(root, catalog_path=catalog) as library:
        library.catalog.conn.execute("VACUUM INTO ?", (str(copy),))
    with Library(root, catalog_path=copy) as library:
        assert library.layer == "visual"
        result = run(library.embed_layer("semantic"))
        assert result.embedded == 16
        assert library.model_key == VISUAL_KEY  # this one searches on as it was opened
        counts = library.catalog.embedding_counts()
    assert counts == {SEMANTIC_KEY: 16, VISUAL_KEY: 16}
    with Library(root, catalog_path=copy) as library:  # opened again: the new layer
        assert (library.layer, key_layer(library.model_key)) == ("semantic",
                                                                 (SEMANTIC_KEY, "semantic"))
        # and its regions, for search by a part of a photo, are the semantic map's
        photo = scenes["scene_000"][0]
        _own, hits = library.similar_to_region(photo, (0.25, 0.25, 0.5, 0.5), k=3, refine=0)
        assert hits and all(h.box is not None for h in hits)


def test_region_search_works_on_a_visual_library(visual) -> None:
    root, catalog, scenes = visual
    with Library(root, catalog_path=catalog) as library:
        photo = scenes["scene_003"][0]
        own, hits = library.similar_to_region(photo, (0.2, 0.2, 0.6, 0.6), k=3, refine=0)
        ids = {p.path: p.id for p in library.catalog.photos()}
        assert own == ids[photo]
        scene = {ids[p] for p in scenes["scene_003"]}
        assert hits[0].photo_id in scene and hits[0].box is not None


def test_a_rebuilt_catalog_keeps_the_layer_and_both_sets(visual, tmp_path, capsys) -> None:
    root, catalog, _scenes = visual
    copy = tmp_path / "catalog.sqlite"
    with Library(root, catalog_path=catalog) as library:
        library.catalog.conn.execute("VACUUM INTO ?", (str(copy),))
    assert main(["index", str(root), "--catalog", str(copy), "--rebuild", "-q"]) == 0
    assert "Embedded 0 in" in capsys.readouterr().out  # the visual vectors were recovered
    state = _status(root, copy, capsys)
    assert (state["layer"], state["embeddings"]) == ("visual", {VISUAL_KEY: 16})
