"""A library remembers the model and weights it was indexed with: the commands after
``lookalike index FOLDER --model M --weights W`` use them unless told otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import synthetic
from cli import main
from core.library import Library

MODEL = "mobilenet_v3_small"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    base = tmp_path_factory.mktemp("remembered")
    root = base / "photos"
    scenes = synthetic.write_library(root, 3, n_variants=1, seed=5)
    catalog = base / "catalog.sqlite"
    assert main(["index", str(root), "--model", MODEL, "--weights", "none",
                 "--catalog", str(catalog), "-q"]) == 0
    return root, catalog, sum(len(p) for p in scenes.values())


def test_status_reports_the_indexed_model_and_its_embeddings(indexed, capsys) -> None:
    root, catalog, n = indexed
    assert main(["status", str(root), "--catalog", str(catalog), "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["model"] == f"{MODEL}@random0"
    assert state["embedded"] == state["photos"] == n
    assert state["embeddings"] == {f"{MODEL}@random0": n}
    assert main(["status", str(root), "--catalog", str(catalog)]) == 0
    text = capsys.readouterr().out
    assert f"({n} embedded with {MODEL}@random0, 0 with keywords)" in text
    assert f"{n:>9} embeddings from {MODEL}@random0" in text


def test_the_other_commands_use_the_remembered_model(indexed, capsys) -> None:
    root, catalog, _n = indexed
    lib = [str(root), "--catalog", str(catalog)]
    photo = sorted(root.glob("*/orig.jpg"))[0]
    assert main(["similar", *lib, str(photo), "-k", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["label", *lib, "--set", "kind", "--add", "a", str(photo)]) == 0
    capsys.readouterr()
    with Library(root, catalog_path=catalog) as library:
        assert (library.model_name, library.weights) == (MODEL, "none")
    # told otherwise: another model, whose weights default to its own pretrained ones
    with Library(root, catalog_path=catalog, model="resnet50") as library:
        assert library.model_key == "resnet50@IMAGENET1K_V2"
        assert library.catalog.embedded_count(library.model_key) == 0


def test_a_catalog_from_before_uses_the_model_of_its_embeddings(indexed, tmp_path,
                                                                 capsys) -> None:
    """Catalogs written before the model was remembered: the model most embeddings are from."""
    root, catalog, n = indexed
    old = tmp_path / "old.sqlite"
    shutil.copy2(catalog, old)
    with Library(root, catalog_path=old) as library, library.catalog.transaction() as tx:
        tx.execute("DELETE FROM meta WHERE key IN ('model', 'weights')")
    assert main(["status", str(root), "--catalog", str(old), "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert (state["model"], state["embedded"]) == (f"{MODEL}@random0", n)
