"""Labels out and in: CSV and JSON, XMP sidecars, and the label/train/predict commands."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from cli import main
from core.jobs import run
from core.labels import SOURCE_ACCEPTED, LabelStore
from core.labels.export import (
    export_json,
    export_labels_csv,
    import_labels_csv,
    read_sidecar,
    sidecar_path,
    write_sidecars,
)
from core.library import Library

from .conftest import IndexedLibrary


def _label_two_sets(library: Library, lib: IndexedLibrary) -> LabelStore:
    store = LabelStore(library.catalog)
    scene = store.create_set("Scene")
    content = store.create_set("Content", multi=True)
    for n, (name, paths) in enumerate(sorted(lib.scenes.items())[:3]):
        ids = [library.photo_at(p).id for p in paths[:2]]
        store.assign(store.ensure_label(scene.id, name).id, ids)
        store.assign(store.ensure_label(content.id, "sky").id, ids, source=SOURCE_ACCEPTED)
        if n == 0:
            store.reject(store.ensure_label(content.id, "sea").id, ids[:1])
    return store


def _decisions(store: LabelStore) -> set[tuple]:
    out = set()
    for label_set in store.sets():
        names = {label.id: label.name for label in store.labels(label_set.id)}
        out |= {(label_set.name, label_set.multi, names[a.label_id], a.content_hash, a.positive,
                 a.source, int(a.created_at)) for a in store.assignments(label_set.id)}
    return out


def test_labels_csv_round_trip(library_copy: IndexedLibrary, tmp_path: Path) -> None:
    with library_copy.open() as library:
        store = _label_two_sets(library, library_copy)
        before = _decisions(store)
        path = tmp_path / "labels.csv"
        assert export_labels_csv(library.catalog, path) == len(before) == 13
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["path", "content_hash", "set", "kind", "label", "value",
                                 "source", "created_at"]
        assert {r["value"] for r in rows} == {"yes", "no"}
        for label_set in store.sets():
            store.delete_set(label_set.id)
        result = import_labels_csv(library.catalog, path)
        assert (result.imported, result.unknown) == (13, 0)
        assert _decisions(store) == before


def test_a_hand_written_csv_is_matched_by_path(library_copy: IndexedLibrary,
                                               tmp_path: Path) -> None:
    paths = library_copy.scenes["scene_004"]
    path = tmp_path / "mine.csv"
    path.write_text("path,set,label\n"
                    f"{paths[0].relative_to(library_copy.root)},Mood,calm\n"
                    f"{paths[1]},Mood,calm\n"
                    "no/such/photo.jpg,Mood,calm\n", encoding="utf-8")
    with library_copy.open() as library:
        result = import_labels_csv(library.catalog, path)
        assert (result.imported, result.unknown) == (2, 1)
        store = LabelStore(library.catalog)
        mood = store.get_set("Mood")
        assert not mood.multi and [(label.name, label.count)
                                   for label in store.labels(mood.id)] == [("calm", 2)]


def test_json_export_has_sets_labels_and_decisions(library_copy: IndexedLibrary,
                                                   tmp_path: Path) -> None:
    with library_copy.open() as library:
        _label_two_sets(library, library_copy)
        export_json(library.catalog, tmp_path / "labels.json", library.model_key)
    document = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    sets = {s["name"]: s for s in document["sets"]}
    assert sets["Content"]["kind"] == "multi-label"
    assert [label["name"] for label in sets["Content"]["labels"]] == ["sky", "sea"]
    assert len(sets["Scene"]["assignments"]) == 6
    assert all(Path(a["path"]).is_file() for a in sets["Scene"]["assignments"])


def _digests(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.suffix != ".xmp"}


def test_xmp_sidecars_merge_keywords_and_leave_photos_alone(
        library_copy: IndexedLibrary) -> None:
    photo = library_copy.scenes["scene_000"][0]
    sidecar = sidecar_path(photo)
    assert sidecar == photo.with_suffix(".xmp")
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="4"><dc:subject><rdf:Bag>'
        "<rdf:li>holiday</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF>"
        "</x:xmpmeta>", encoding="utf-8")
    before = _digests(library_copy.root)
    with library_copy.open() as library:
        store = _label_two_sets(library, library_copy)
        result = run(write_sidecars(library.catalog))
        assert (result.written, result.failed) == (6, ())
        subjects, hierarchy = read_sidecar(sidecar)
        assert subjects == ["holiday", "scene_000", "sky"]
        assert sorted(hierarchy) == ["Content|sky", "Scene|scene_000"]
        assert 'Rating>4<' in sidecar.read_text(encoding="utf-8")
        # Relabelled: the keyword Lookalike wrote goes, the user's stays.
        scene = store.get_set("Scene")
        store.assign(store.ensure_label(scene.id, "dunes").id, [library.photo_at(photo).id])
        run(write_sidecars(library.catalog, [scene.id]))
        subjects, hierarchy = read_sidecar(sidecar)
        assert subjects == ["holiday", "sky", "dunes"]
        assert sorted(hierarchy) == ["Content|sky", "Scene|dunes"]
    assert _digests(library_copy.root) == before
    assert len(list(library_copy.root.rglob("*.xmp"))) == 6


def test_cli_labels_trains_and_writes_the_predictions_csv(library_copy: IndexedLibrary,
                                                          tmp_path: Path, capsys) -> None:
    common = ["--model", "resnet50", "--weights", "none",
              "--catalog", str(library_copy.catalog_path)]
    for name, paths in sorted(library_copy.scenes.items())[:4]:
        assert main(["label", str(library_copy.root), "--set", "Scene", "--add", name,
                     *map(str, paths[:2]), *common]) == 0
    assert "scene_003 added to 2 photos" in capsys.readouterr().out
    assert main(["train", str(library_copy.root), "--set", "Scene", "--head", "linear", "-q",
                 *common]) == 0
    out = capsys.readouterr().out
    assert "cross-validation" in out and "precision" in out and "scene_000" in out
    csv_path = tmp_path / "out.csv"
    assert main(["predict", str(library_copy.root), "--set", "Scene", "--csv", str(csv_path),
                 "-q", *common]) == 0
    with csv_path.open(newline="") as f:
        rows = list(csv.reader(f))
    labels = ["scene_000", "scene_001", "scene_002", "scene_003"]
    assert rows[0] == ["path", "predicted", "confidence", *labels]
    assert len(rows) - 1 == sum(len(p) for p in library_copy.scenes.values())
    by_path = {Path(r[0]): r for r in rows[1:]}
    unlabelled = library_copy.scenes["scene_002"][2]
    assert by_path[unlabelled][1] == "scene_002"
    probs = [float(p) for p in by_path[unlabelled][3:]]
    assert abs(sum(probs) - 1) < 1e-3 and float(by_path[unlabelled][2]) == max(probs)
    assert main(["label", str(library_copy.root), "--set", "Scene", "--remove", "scene_000",
                 str(library_copy.scenes["scene_000"][0]), *common]) == 0
    assert "scene_000 removed from 1 photos" in capsys.readouterr().out
