"""The faces pass and people, on real faces from ../shared/photos (dlib's real models)."""

from __future__ import annotations

import re
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageOps

from benchmarks import face_photos as faces_data
from benchmarks import synthetic
from core.catalog import Catalog
from core.catalog.rebuild import rebuild
from core.decode import file_hash
from core.errors import Cancelled
from core.faces import FaceStore, find_faces
from core.faces.grouping import THRESHOLD
from core.faces.xmp import import_face_regions, read_face_regions, write_face_regions
from core.jobs import run
from core.labels import LabelStore
from core.labels.export import export_labels_csv
from core.scan import scan

PEOPLE = ["best_man", "bride", "devil", "orange", "dudley"]
# The stored pixels for each EXIF orientation: Pillow's exif_transpose undoes them.
_STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
          6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_270}


def _pass(root: Path, catalog_path: Path, workers: int = 0) -> Catalog:
    catalog = Catalog.open(root, catalog_path)
    run(scan(catalog))
    run(find_faces(catalog, workers=workers))
    return catalog


@pytest.fixture(scope="module")
def people_library(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[Path, Path, dict[str, faces_data.Variant]]:
    """3 photos each of 5 people (edited copies of real faces), after one faces pass."""
    base = tmp_path_factory.mktemp("people")
    made = faces_data.write_set(shared_photos, base / "photos", PEOPLE, count=3)
    catalog = _pass(base / "photos", base / "catalog.sqlite")
    catalog.close()
    return base / "photos", base / "catalog.sqlite", made


def _copy(people_library: tuple[Path, Path, dict], tmp_path: Path) -> Catalog:
    """The library's folder and catalog, copied for a test that changes them."""
    root, catalog_path, _made = people_library
    shutil.copytree(root, tmp_path / "photos")
    shutil.copy(catalog_path, tmp_path / "catalog.sqlite")
    return Catalog.open(tmp_path / "photos", tmp_path / "catalog.sqlite")


def _truth(catalog: Catalog, made: dict[str, faces_data.Variant]) -> dict[int, str]:
    """Face id -> the known person it is (faces of unknown bystanders left out)."""
    store, out = FaceStore(catalog), {}
    for photo in catalog.photos():
        variant = made[photo.path.name]
        for face in store.faces(content_hash=photo.content_hash):
            name = faces_data.who(variant.file, *variant.source_centre(
                face.x, face.y, face.w, face.h))
            if name is not None:
                out[face.id] = name
    return out


def test_faces_of_each_person_are_grouped_together(people_library: tuple) -> None:
    root, catalog_path, made = people_library
    with Catalog.open(root, catalog_path) as catalog:
        truth = _truth(catalog, made)
        person_of = {f.id: f.person_id for f in FaceStore(catalog).faces()}
    assert set(PEOPLE) <= Counter(truth.values()).keys()
    assert all(Counter(truth.values())[name] >= 3 for name in PEOPLE)
    groups: dict[str, set[int | None]] = {}
    for face_id, name in truth.items():
        groups.setdefault(name, set()).add(person_of[face_id])
    for name, persons in groups.items():
        assert len(persons) == 1 and None not in persons, (name, persons)
    assert len({next(iter(p)) for p in groups.values()}) == len(groups)  # no two merged


def test_names_merges_and_moves_persist_and_survive_a_rescan(people_library: tuple,
                                                             tmp_path: Path) -> None:
    catalog = _copy(people_library, tmp_path)
    store = FaceStore(catalog)
    truth = _truth(catalog, people_library[2])
    person = {name: store.face(f).person_id for f, name in truth.items()}
    named = store.name(person["bride"], "Alice")
    assert store.name(person["devil"], " Zoé  Devil ") == person["devil"]
    store.merge(person["orange"], person["dudley"])  # the user says they are one
    moved = next(f for f, name in truth.items() if name == "best_man")
    store.move_face(moved, None)
    wrong = next(f for f, name in truth.items() if name == "dudley")
    store.not_a_face(wrong)
    # The photos move to a new folder and one is renamed; a new scan and faces pass.
    (catalog.root / "moved").mkdir()
    for path in sorted(catalog.root.glob("bride_*.jpg")):
        path.rename(catalog.root / "moved" / f"renamed_{path.name}")
    catalog.close()
    catalog = _pass(tmp_path / "photos", tmp_path / "catalog.sqlite")
    store = FaceStore(catalog)
    names = {p.name: p for p in store.persons()}
    with_bride = {made.path.name for made in catalog.photos()
                  if any(truth.get(f.id) == "bride"
                         for f in store.faces(content_hash=made.content_hash))}
    assert len(with_bride) == 6  # her 3 photos, and 3 of the best man where she is too
    assert names["Alice"].id == named and names["Alice"].photos == len(with_bride)
    assert "Zoé Devil" in names and store.names() == ["Alice", "Zoé Devil"]
    assert store.face(moved).person_id != person["best_man"]  # it did not come back
    assert store.face(wrong).person_id is None
    assert wrong not in {f.id for f in store.faces()}
    merged = {store.face(f).person_id for f, n in truth.items() if n in ("orange", "dudley")
              and f != wrong}
    assert merged == {person["dudley"]}
    assert {p.path.name for p in catalog.photos(store.photo_ids(named))} == with_bride
    assert {p.path.parent.name for p in catalog.photos(store.photo_ids(named))
            if p.path.name.startswith("renamed_bride")} == {"moved"}
    # naming a person with a name already given merges the two
    assert store.name(person["best_man"], "alice".replace("a", "A", 1)) == named
    assert person["best_man"] not in {p.id for p in store.persons()}
    catalog.close()


def test_new_photos_join_the_named_person(people_library: tuple, shared_photos: Path,
                                         tmp_path: Path) -> None:
    catalog = _copy(people_library, tmp_path)
    store = FaceStore(catalog)
    truth = _truth(catalog, people_library[2])
    devil = next(store.face(f).person_id for f, n in truth.items() if n == "devil")
    store.name(devil, "Dee")
    before = {p.id for p in store.persons()}
    for i, variant in enumerate(faces_data.variants(shared_photos, "devil", 2, seed=7)):
        variant.image.save(catalog.root / f"new_devil_{i}.jpg", quality=90)
    run(scan(catalog))
    result = run(find_faces(catalog, workers=0))
    assert result.photos == 2 and result.grouping.joined >= 2
    assert result.grouping.new_persons == 0
    assert {p.id for p in store.persons()} == before
    assert store.person(devil).photos == 5 and store.person(devil).name == "Dee"
    catalog.close()


@pytest.fixture(scope="module")
def oriented(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The devil's face of kodak-dc210 stored with each of the 8 EXIF orientations, after
    one faces pass: (folder, catalog)."""
    upright = faces_data.source(shared_photos, "devil")[0]
    base = tmp_path_factory.mktemp("oriented")
    root = base / "photos"
    root.mkdir()
    for orientation, method in _STORE.items():
        stored = upright if method is None else upright.transpose(method)
        assert ImageOps.exif_transpose(_tagged(stored, orientation)).tobytes() == \
            upright.tobytes()
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored.save(root / f"o{orientation}.jpg", quality=95, exif=exif.tobytes())
    _pass(root, base / "catalog.sqlite").close()
    return root, base / "catalog.sqlite"


def test_boxes_are_in_place_on_every_exif_orientation(shared_photos: Path,
                                                     oriented: tuple[Path, Path]) -> None:
    """The box is found, relative to the upright photo, where the face is."""
    upright, (left, top, side) = faces_data.source(shared_photos, "devil")
    with Catalog.open(*oriented) as catalog:
        store = FaceStore(catalog)
        assert len(catalog.photos()) == 8
        for photo in catalog.photos():
            faces = store.faces(content_hash=photo.content_hash)
            near = [f for f in faces
                    if abs(f.x + f.w / 2 - (left + side / 2) / upright.width) < 0.02
                    and abs(f.y + f.h / 2 - (top + side / 2) / upright.height) < 0.02]
            assert len(near) == 1, (photo.path.name, faces)
            assert near[0].w == pytest.approx(side / upright.width, rel=0.25)


def _tagged(image: Image.Image, orientation: int) -> Image.Image:
    copy = image.copy()
    copy.getexif()[0x0112] = orientation
    return copy


def test_no_face_a_tiny_face_and_a_damaged_file_do_not_stop_the_pass(
        shared_photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    synthetic.write_jpeg(root / "landscape.jpg", synthetic.scene(3))
    face = faces_data.variants(shared_photos, "dudley", 1)[0].image
    tiny = Image.new("RGB", (2000, 1500), (90, 110, 80))
    tiny.paste(face.resize((60, 60)), (900, 700))  # a face of ~15 px: too small to find
    tiny.save(root / "tiny.jpg", quality=90)
    shutil.copy(shared_photos / "exif-samples/jpg/corrupted.jpg", root / "damaged.jpg")
    (root / "truncated.jpg").write_bytes((root / "landscape.jpg").read_bytes()[:3000])
    face.save(root / "zz_face.jpg", quality=90)
    catalog = Catalog.open(root, tmp_path / "catalog.sqlite")
    run(scan(catalog))
    result = run(find_faces(catalog, workers=0))
    assert result.photos == 5 and result.failed == 2 and result.faces == 1
    store = FaceStore(catalog)
    found = {p.path.name: len(store.faces(content_hash=p.content_hash))
             for p in catalog.photos() if p.content_hash}
    assert found == {"landscape.jpg": 0, "tiny.jpg": 0, "zz_face.jpg": 1}
    again = run(find_faces(catalog, workers=0))  # only the two bad files are tried again
    assert again.photos == 2 and again.failed == 2
    catalog.close()


def test_a_cancelled_pass_keeps_what_it_committed_and_resumes(people_library: tuple,
                                                             tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    photos = sorted(people_library[0].glob("*.jpg"))  # 15: the pass outlasts the cancel
    for path in photos:
        shutil.copy(path, root / path.name)
    catalog = Catalog.open(root, tmp_path / "catalog.sqlite")
    run(scan(catalog))
    cancel = threading.Event()
    job = find_faces(catalog, cancel, workers=1)  # the worker-process path
    with pytest.raises(Cancelled):
        for progress in job:
            if progress.phase == "faces" and progress.done >= 1:
                cancel.set()
    first = catalog.conn.execute("SELECT count(*) FROM face_scans").fetchone()[0]
    assert 1 <= first < len(photos)
    result = run(find_faces(catalog, workers=0))
    assert result.photos == len(photos) - first
    hashes = [p.content_hash for p in catalog.photos()]
    assert catalog.conn.execute("SELECT count(*) FROM face_scans").fetchone()[0] == len(photos)
    with Catalog.open(people_library[0], people_library[1]) as reference:
        expected = sum(len(FaceStore(reference).faces(content_hash=h)) for h in hashes)
    assert len(FaceStore(catalog).faces()) == expected
    catalog.close()


def test_threshold_separates_people_in_the_test_set(people_library: tuple) -> None:
    """The calibration behind THRESHOLD: same person closer, different people farther."""
    import numpy as np

    root, catalog_path, made = people_library
    with Catalog.open(root, catalog_path) as catalog:
        truth = _truth(catalog, made)
        ids, vectors = FaceStore(catalog).descriptors(truth)
    names = [truth[int(i)] for i in ids]
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    same = np.array([[a == b for b in names] for a in names]) & ~np.eye(len(names), dtype=bool)
    other = np.array([[a != b for b in names] for a in names])
    assert d[same].max() < THRESHOLD < d[other].min()


def test_a_named_person_is_a_label(people_library: tuple, tmp_path: Path) -> None:
    catalog = _copy(people_library, tmp_path)
    store, labels = FaceStore(catalog), LabelStore(catalog)
    truth = _truth(catalog, people_library[2])
    devil = next(store.face(f).person_id for f, n in truth.items() if n == "devil")
    store.name(devil, "Dee")
    people = labels.get_set("People")
    assert people.multi and [label.name for label in labels.labels(people.id)] == ["Dee"]
    dee = labels.get_label(people.id, "Dee")
    assert sorted(labels.photos_with(dee.id)) == store.photo_ids(devil)
    store.name(devil, "Deirdre")  # renamed: the label follows
    assert [label.name for label in labels.labels(people.id)] == ["Deirdre"]
    moved = next(f.id for f in store.faces(person_id=devil))
    store.move_face(moved, None)
    assert len(labels.photos_with(labels.get_label(people.id, "Deirdre").id)) == \
        len(store.photo_ids(devil))
    export_labels_csv(catalog, tmp_path / "labels.csv")
    rows = [r for r in (tmp_path / "labels.csv").read_text().splitlines() if ",People," in r]
    assert len(rows) == len(store.photo_ids(devil)), rows
    assert all(",People,multi-label,Deirdre,yes,person," in r for r in rows)
    catalog.close()


def test_face_regions_round_trip_through_xmp_sidecars(oriented: tuple[Path, Path],
                                                      shared_photos: Path,
                                                      tmp_path: Path) -> None:
    """Named faces go out as MWG regions relative to the image as stored, come back on the
    upright photo, and name the faces of a library that never ran the faces pass."""
    root = tmp_path / "photos"
    shutil.copytree(oriented[0], root)
    shutil.copy(oriented[1], tmp_path / "catalog.sqlite")
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    with Catalog.open(root, tmp_path / "catalog.sqlite") as catalog:
        store = FaceStore(catalog)
        big = [p for p in store.persons() if p.photos == 8]
        assert len(big) == 1  # the 8 orientations are one person
        store.name(big[0].id, "Dee")
        boxes = {p.path.name: [(f.x, f.y, f.w, f.h) for f in store.faces(
            content_hash=p.content_hash) if f.person_name == "Dee"] for p in catalog.photos()}
        result = run(write_face_regions(catalog))
    assert result.written == 8 and not result.failed
    assert all(root.joinpath(name).read_bytes() == data for name, data in before.items())
    upright, (left, top, side) = faces_data.source(shared_photos, "devil")
    mask = Image.new("L", upright.size)
    ImageDraw.Draw(mask).rectangle((left, top, left + side, top + side), fill=255)
    for orientation in (1, 3, 6, 8):
        name = f"o{orientation}.jpg"
        regions = read_face_regions(root / name)
        assert [r.name for r in regions] == ["Dee"]
        assert regions[0].box == pytest.approx(boxes[name][0], abs=1e-4)
        # as written, the region is where the face is in the stored (unrotated) pixels
        method = _STORE[orientation]
        stored = mask if method is None else mask.transpose(method)
        x0, y0, x1, y1 = stored.getbbox()
        text = (root / name).with_suffix(".xmp").read_text()
        x = float(re.search(r'stArea:x(?:="|>)([0-9.]+)', text).group(1))
        y = float(re.search(r'stArea:y(?:="|>)([0-9.]+)', text).group(1))
        assert (x, y) == pytest.approx(((x0 + x1) / 2 / stored.width,
                                        (y0 + y1) / 2 / stored.height), abs=0.03), name
    # a library that never ran the faces pass gets the names and boxes from the sidecars
    with Catalog.open(root, tmp_path / "fresh.sqlite") as fresh:
        run(scan(fresh))
        for photo in fresh.photos():  # read, as the embedding pass would
            fresh.conn.execute("UPDATE photos SET content_hash = ? WHERE id = ?",
                               (file_hash(photo.path), photo.id))
        assert run(import_face_regions(fresh)) == 8
        people = FaceStore(fresh).persons()
        assert [(p.name, p.photos) for p in people] == [("Dee", 8)]
        assert run(import_face_regions(fresh)) == 8  # again: the same faces, none added
        assert len(FaceStore(fresh).faces()) == 8
        assert "Dee" in [label.name for label in LabelStore(fresh).labels(
            LabelStore(fresh).get_set("People").id)]


# A sidecar as exiftool writes it (digiKam writes the same structure), in its layout.
_OTHER_TOOL_SIDECAR = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 13.10'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <rdf:Description rdf:about=''
  xmlns:mwg-rs='http://www.metadataworkinggroup.com/schemas/regions/'
  xmlns:stArea='http://ns.adobe.com/xmp/sType/Area#'
  xmlns:stDim='http://ns.adobe.com/xap/1.0/sType/Dimensions#'>
  <mwg-rs:Regions rdf:parseType='Resource'>
   <mwg-rs:AppliedToDimensions rdf:parseType='Resource'>
    <stDim:h>{height}</stDim:h><stDim:unit>pixel</stDim:unit><stDim:w>{width}</stDim:w>
   </mwg-rs:AppliedToDimensions>
   <mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType='Resource'>
    <mwg-rs:Area rdf:parseType='Resource'>
     <stArea:h>{h:.6f}</stArea:h><stArea:unit>normalized</stArea:unit>
     <stArea:w>{w:.6f}</stArea:w><stArea:x>{x:.6f}</stArea:x><stArea:y>{y:.6f}</stArea:y>
    </mwg-rs:Area>
    <mwg-rs:Name>Dee</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
   </rdf:li></rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"""


def test_regions_from_digikam_or_exiftool_land_on_the_faces(
        oriented: tuple[Path, Path], shared_photos: Path, tmp_path: Path) -> None:
    """MWG areas as the guidelines define them (centre and size, relative to the image *as
    stored*: "region metadata is applied to the stored image"), in ``IMG.jpg.xmp`` as
    digiKam names sidecars, come out on the upright photo over the detected face."""
    root = tmp_path / "photos"
    shutil.copytree(oriented[0], root)
    shutil.copy(oriented[1], tmp_path / "catalog.sqlite")
    upright, (left, top, side) = faces_data.source(shared_photos, "devil")
    mask = Image.new("L", upright.size)
    ImageDraw.Draw(mask).rectangle((left, top, left + side - 1, top + side - 1), fill=255)
    for orientation in (3, 5, 6, 8):
        method = _STORE[orientation]
        stored = mask.transpose(method) if method is not None else mask
        x0, y0, x1, y1 = stored.getbbox()
        (root / f"o{orientation}.jpg.xmp").write_text(_OTHER_TOOL_SIDECAR.format(
            width=stored.width, height=stored.height, w=(x1 - x0) / stored.width,
            h=(y1 - y0) / stored.height, x=(x0 + x1) / 2 / stored.width,
            y=(y0 + y1) / 2 / stored.height), encoding="utf-8")
        regions = read_face_regions(root / f"o{orientation}.jpg")
        assert [r.name for r in regions] == ["Dee"]
        assert regions[0].box == pytest.approx(
            (left / upright.width, top / upright.height, side / upright.width,
             side / upright.height), abs=1e-3), orientation
    with Catalog.open(root, tmp_path / "catalog.sqlite") as catalog:
        store = FaceStore(catalog)
        faces = len(store.faces())
        assert run(import_face_regions(catalog)) == 4
        assert len(store.faces()) == faces  # each region named a detected face: none added
        dee = store.find_person("Dee")
        assert sorted(p.path.name for p in catalog.photos(store.photo_ids(dee.id))) == \
            ["o3.jpg", "o5.jpg", "o6.jpg", "o8.jpg"]


def test_a_rebuilt_catalog_keeps_people_and_corrections(people_library: tuple,
                                                        tmp_path: Path) -> None:
    catalog = _copy(people_library, tmp_path)
    store = FaceStore(catalog)
    person = store.persons()[0].id
    store.name(person, "Kept")
    moved = store.faces(person_id=person)[0].id
    store.move_face(moved, None)
    before = [(f.id, f.person_id) for f in store.faces()]
    catalog.close()
    done = rebuild(tmp_path / "photos", tmp_path / "catalog.sqlite")
    assert "faces of" in done.summary() and done.rows["faces"] >= 15
    with Catalog.open(tmp_path / "photos", tmp_path / "catalog.sqlite") as rebuilt:
        store = FaceStore(rebuilt)
        assert [(f.id, f.person_id) for f in store.faces()] == before
        assert store.find_person("Kept") is not None
        assert run(find_faces(rebuilt, workers=0)).photos == 0  # nothing looked at again
        assert store.face(moved).person_id != person  # the correction holds
