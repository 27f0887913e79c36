"""People combined with labels and "similar": `lookalike similar --person/--label`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks import face_photos
from cli import main
from core.faces import FaceStore, find_faces
from core.faces.filter import combined_filter, rank_within
from core.jobs import run
from core.labels import LabelStore
from core.library import Library

MODEL = "mobilenet_v3_small"  # random weights: fast, and ranks the same in both ways
OPTIONS = ["--model", MODEL, "--weights", "none"]


@pytest.fixture(scope="module")
def named(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """3 photos each of 3 people, embedded, faces found, two named ("Dee", "Dud"), and one
    photo of Dee labelled Kind:favourite by hand."""
    base = tmp_path_factory.mktemp("combined")
    root, catalog_path = base / "photos", base / "catalog.sqlite"
    face_photos.write_set(shared_photos, root, ["devil", "dudley", "orange"], count=3)
    with Library(root, catalog_path=catalog_path, model=MODEL, weights="none") as library:
        run(library.index())
        run(find_faces(library.catalog, workers=0))
        catalog = library.catalog
        store = FaceStore(catalog)
        for prefix, name in (("devil_", "Dee"), ("dudley_", "Dud")):
            person = {f.person_id for p in catalog.photos() if p.path.name.startswith(prefix)
                      for f in store.faces(content_hash=p.content_hash)}
            assert len(person) == 1
            store.name(person.pop(), name)
        labels = LabelStore(catalog)
        favourite = labels.add_label(labels.create_set("Kind", multi=True).id, "favourite")
        labels.assign(favourite.id, [catalog.photo_by_path(root / "devil_2.jpg").id])
    return root, catalog_path


def _similar(capsys: pytest.CaptureFixture[str], root: Path, catalog: Path, photo: str,
             *extra: str) -> list[str]:
    assert main(["similar", str(root), str(root / photo), "-k", "10", "--json",
                 "--catalog", str(catalog), *OPTIONS, *extra]) == 0
    return [Path(row["path"]).name for row in json.loads(capsys.readouterr().out)]


def test_similar_among_a_persons_photos_and_labels(named: tuple[Path, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, catalog = named
    everyone = _similar(capsys, root, catalog, "dudley_0.jpg")
    assert len(everyone) == 8  # the whole library but the query
    dee = _similar(capsys, root, catalog, "dudley_0.jpg", "--person", "dee")  # any case
    assert sorted(dee) == ["devil_0.jpg", "devil_1.jpg", "devil_2.jpg"]
    assert dee == [name for name in everyone if name.startswith("devil_")]  # same order
    by_label = _similar(capsys, root, catalog, "devil_0.jpg", "--label", "People:Dee")
    assert sorted(by_label) == ["devil_1.jpg", "devil_2.jpg"]  # a person is a label
    assert _similar(capsys, root, catalog, "orange_1.jpg", "--person", "Dee", "--label",
                    "Kind:favourite") == ["devil_2.jpg"]


def test_unknown_person_or_label_is_a_clear_error(named: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root, catalog = named
    for extra, words in ((["--person", "Nobody"], ["Nobody", "Dee"]),
                         (["--label", "Kind"], ["SET:LABEL"]),
                         (["--label", "Kind:nope"], ["nope", "favourite"])):
        assert main(["similar", str(root), str(root / "devil_0.jpg"), "--catalog",
                     str(catalog), *OPTIONS, *extra]) != 0
        err = capsys.readouterr().err
        assert all(word in err for word in words), err
        assert "Traceback" not in err


def test_rank_within_orders_by_the_query_like_the_whole_library(
        named: tuple[Path, Path]) -> None:
    root, catalog_path = named
    with Library(root, catalog_path=catalog_path, model=MODEL, weights="none") as library:
        catalog = library.catalog
        within = combined_filter(catalog, ["Dee"])
        assert combined_filter(catalog) is None
        query = catalog.photo_by_path(root / "orange_0.jpg")
        vector = library.searcher.vectors([query.id])[0]
        hits = rank_within(catalog, library.model_key, vector, within, k=2)
        whole = library.similar([query.id], k=8)
        assert [h.photo_id for h in hits] == [h.photo_id for h in whole
                                              if h.photo_id in within][:2]
        assert hits[0].score == pytest.approx(next(h.score for h in whole
                                                   if h.photo_id == hits[0].photo_id), abs=1e-3)
        assert rank_within(catalog, library.model_key, vector, within, k=5,
                           exclude=within) == []


def test_a_head_learns_the_people_set_like_any_label_set(
        named: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, catalog = named
    options = ["--catalog", str(catalog), *OPTIONS, "-q"]
    assert main(["train", str(root), "--set", "People", *options]) == 0
    assert main(["predict", str(root), "--set", "People", "--csv", str(tmp_path / "p.csv"),
                 *options]) == 0
    capsys.readouterr()
    with (tmp_path / "p.csv").open(newline="") as file:
        predicted = {Path(row["path"]).name: row["predicted"] for row in csv.DictReader(file)}
    assert len(predicted) == 9  # every photo, the unnamed person's too
    assert [predicted[f"devil_{i}.jpg"] for i in range(3)] == ["Dee"] * 3
    assert [predicted[f"dudley_{i}.jpg"] for i in range(3)] == ["Dud"] * 3
