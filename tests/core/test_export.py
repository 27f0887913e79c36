"""Labels out and in: CSV and JSON, XMP sidecars, and the label/train/predict commands."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from cli import main
from core.errors import LookalikeError
from core.jobs import run
from core.labels import SOURCE_ACCEPTED, LabelStore
from core.labels.export import (
    export_json,
    export_labels_csv,
    import_labels_csv,
    write_sidecars,
)
from core.library import Library
from core.xmp import (
    HIERARCHY,
    RATING,
    SUBJECT,
    FaceRegion,
    merge_into_sidecar,
    read_sidecar,
    sidecar_path,
)

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
        record = read_sidecar(sidecar)
        subjects, hierarchy = list(record.keywords), list(record.hierarchy)
        assert subjects == ["holiday", "scene_000", "sky"] and record.rating == 4
        assert sorted(hierarchy) == ["Content|sky", "Scene|scene_000"]
        # Relabelled: the keyword Lookalike wrote goes, the user's stays.
        scene = store.get_set("Scene")
        store.assign(store.ensure_label(scene.id, "dunes").id, [library.photo_at(photo).id])
        run(write_sidecars(library.catalog, [scene.id]))
        record = read_sidecar(sidecar)
        subjects, hierarchy = list(record.keywords), list(record.hierarchy)
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


FOREIGN_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
 xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
 xmlns:acme="http://acme.example/ns/1.0/" crs:WhiteBalance="As Shot" xmp:Rating="3">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Sunset</rdf:li>
<rdf:li xml:lang="fr-FR">Coucher</rdf:li></rdf:Alt></dc:title>
<crs:ToneCurvePV2012><rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
</crs:ToneCurvePV2012>
<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag><rdf:li>
<rdf:Description mwg-rs:Name="Ann" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="0.5"
 stArea:y="0.4" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"/></rdf:Description>
</rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
<acme:Thing rdf:parseType="Resource"><acme:inner>deep</acme:inner></acme:Thing>
<dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def test_a_merge_keeps_every_foreign_property(tmp_path: Path) -> None:
    """Camera Raw settings, a title in two languages, an MWG face region and another
    program's namespace survive a merge (python-xmp-toolkit lost the French title)."""
    sidecar = tmp_path / "IMG_1.xmp"
    sidecar.write_text(FOREIGN_XMP, encoding="utf-8")
    before = read_sidecar(sidecar)
    hostile = 'Odd|=a,"b"\nc'
    assert merge_into_sidecar(sidecar, add_keywords=["Scene|Beach", hostile], rating=5)
    after = read_sidecar(sidecar)
    assert after.keywords == ("holiday", '=a,"b"\nc', "Beach")  # sorted: "=" < "B"
    assert after.hierarchy == ("Odd|=a,\"b\"\nc", "Scene|Beach") and after.rating == 5
    changed = {SUBJECT, RATING, HIERARCHY}
    assert {k: v for k, v in after.properties.items() if k not in changed} == {
        k: v for k, v in before.properties.items() if k not in changed}
    assert after.properties["Xmp.dc.title"] == 'lang="x-default" Sunset, lang="fr-FR" Coucher'
    assert after.regions == (FaceRegion("Ann", 0.5, 0.4, 0.1, 0.2),)
    assert not merge_into_sidecar(sidecar, add_keywords=["Scene|Beach"])  # nothing to do
    assert merge_into_sidecar(sidecar, remove_keywords=["Scene|Beach"],
                              face_regions=[FaceRegion("Bob", 0.2, 0.3, 0.1, 0.1)],
                              image_size=(640, 480))
    again = read_sidecar(sidecar)
    assert again.keywords == ("holiday", '=a,"b"\nc') and again.hierarchy == (hostile,)
    assert again.regions == (FaceRegion("Bob", 0.2, 0.3, 0.1, 0.1),)
    assert again.properties["Xmp.crs.WhiteBalance"] == "As Shot"
    assert [p.name for p in tmp_path.iterdir()] == ["IMG_1.xmp"]  # no temporary file left


def test_raw_and_jpeg_of_a_pair_get_their_own_sidecars(tmp_path: Path) -> None:
    names = ["IMG_1.CR2", "IMG_1.JPG", "IMG_2.jpg", "IMG_3.jpg", "IMG_3.png", "notes.txt"]
    assert sidecar_path(tmp_path / "IMG_1.CR2", names).name == "IMG_1.xmp"
    assert sidecar_path(tmp_path / "IMG_1.JPG", names).name == "IMG_1.JPG.xmp"
    assert sidecar_path(tmp_path / "IMG_2.jpg", names).name == "IMG_2.xmp"
    assert {sidecar_path(tmp_path / n, names).name for n in ("IMG_3.jpg", "IMG_3.png")} == {
        "IMG_3.jpg.xmp", "IMG_3.png.xmp"}


def test_sidecars_that_cannot_be_written_are_listed_and_the_rest_written(
        library_copy: IndexedLibrary) -> None:
    photos = library_copy.scenes["scene_000"]
    (photos[0].with_suffix(".xmp")).mkdir()  # a folder where the sidecar should go
    junk = photos[1].with_suffix(".xmp")
    junk.write_bytes(b"\x00\x01 not XMP at all")
    raw = photos[2].with_suffix(".CR2")  # makes photos[2] half of a RAW+JPEG pair
    raw.write_bytes(b"raw bytes")
    with library_copy.open() as library:
        store = LabelStore(library.catalog)
        label = store.ensure_label(store.ensure_set("Scene").id, "dunes")
        store.assign(label.id, [library.photo_at(p).id for p in photos[:3]])
        store.assign(label.id, [library.photo_at(library_copy.scenes["scene_001"][0]).id])
        result = run(write_sidecars(library.catalog))
    assert result.written == 2
    reasons = {path.name: reason for path, reason in result.failed}
    assert reasons[photos[0].with_suffix(".xmp").name] == "is a directory"
    assert reasons[junk.name] == "not an XMP sidecar"
    assert junk.read_bytes() == b"\x00\x01 not XMP at all"
    assert read_sidecar(photos[2].with_name(photos[2].name + ".xmp")).keywords == ("dunes",)
    assert not photos[2].with_suffix(".xmp").exists() and raw.read_bytes() == b"raw bytes"


HOSTILE_NAMES = ['=HYPERLINK("http://x","y")', "+1+2", "-2", "@SUM(A1)", "\tTab", "\rCR",
                 "'quoted", "''=twice", 'comma, "quote"', "two\nlines", "plain"]


def test_hostile_label_names_are_neutralised_and_read_back_exactly(
        library_copy: IndexedLibrary, tmp_path: Path) -> None:
    photos = [p for paths in library_copy.scenes.values() for p in paths]
    with library_copy.open() as library:
        store = LabelStore(library.catalog)
        for n, name in enumerate(HOSTILE_NAMES):
            label_set = store.ensure_set(f"={name}" if n % 2 else name, multi=n % 3 == 0)
            store.assign(store.ensure_label(label_set.id, name).id,
                         [library.photo_at(photos[n]).id])
        before = _decisions(store)
        path = tmp_path / "labels.csv"
        assert export_labels_csv(library.catalog, path) == len(HOSTILE_NAMES)
        with path.open(newline="", encoding="utf-8") as f:
            cells = [cell for row in csv.reader(f) for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert "'=HYPERLINK(\"http://x\",\"y\")" in cells and "'''=twice" in cells
        for label_set in store.sets():
            store.delete_set(label_set.id)
        assert import_labels_csv(library.catalog, path).imported == len(HOSTILE_NAMES)
        assert _decisions(store) == before


def test_a_file_that_is_not_a_label_csv_is_refused_with_the_columns_expected(
        library_copy: IndexedLibrary, tmp_path: Path) -> None:
    cases = {
        "binary.csv": (bytes(range(256)) * 8,
                       "is not a CSV file \\(it holds binary data\\): a label CSV needs"),
        "latin1.csv": ("path,set,label\ncaf\xe9.jpg,a,b\n".encode("latin-1"),
                       "Cannot read .*: it is not UTF-8 text"),
        "headerless.csv": (b"a.jpg,Scene,beach\nb.jpg,Scene,sea\n",
                           "is not a label CSV: it needs a header row with the columns set, "
                           "label and path \\(or content_hash\\).*first row is 'a.jpg,Scene"),
        "empty.csv": (b"", "is not a label CSV.*first row is 'nothing'"),
        "no-label.csv": (b"path,set,label\nscene_000/orig.jpg,Scene,\n",
                         "row 1: no set or no label.*nothing was imported"),
    }
    with library_copy.open() as library:
        for name, (data, message) in cases.items():
            (tmp_path / name).write_bytes(data)
            with pytest.raises(LookalikeError, match=message):
                import_labels_csv(library.catalog, tmp_path / name)
        assert LabelStore(library.catalog).sets() == []
