"""The default model with its packaged ImageNet weights (EfficientNet-Lite0, installed with
Lookalike): real semantics on real photos, and keywords from its classifier.

The photos are real camera files of ../shared/photos, checked by eye: two dogs, three
lizards, four streets and squares of one old town; and an edited copy of one of them.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from cli import main
from core import decode
from core.catalog.rebuild import rebuild
from core.embed.cnn import Embedder
from core.embed.models import surely_cpu
from core.jobs import run
from core.keywords import photo_keywords, search_keywords
from core.labels.export import read_sidecar, sidecar_path
from core.library import Library

GROUPS = {
    "dog": ["exif-org/fujifilm-finepix40i.jpg", "exif-org/kodak-dc240.jpg"],
    "lizard": ["Canon_40D.jpg", "Canon_40D_photoshop_import.jpg", "Kodak_CX7530.jpg"],
    "town": ["gps/DSCN0025.jpg", "gps/DSCN0027.jpg", "gps/DSCN0038.jpg", "gps/DSCN0040.jpg"],
}
EDITED_FROM = "town/DSCN0027.jpg"


@dataclass
class Pretrained:
    root: Path
    catalog: Path

    def open(self) -> Library:
        return Library(self.root, catalog_path=self.catalog)  # the default model and weights

    def ids(self, library: Library) -> dict[str, int]:
        """Relative path -> photo id."""
        return {p.path.relative_to(self.root).as_posix(): p.id
                for p in library.catalog.photos()}


def _edit(source: Path, target: Path) -> None:
    """A copy as an editor would make it: cropped, smaller, brighter, recompressed."""
    with Image.open(source) as im:
        im = im.convert("RGB")
        w, h = im.size
        im = im.crop((w // 8, h // 10, w - w // 10, h - h // 8)).resize((w // 2, h // 2))
        im = ImageEnhance.Brightness(im).enhance(1.25)
        target.parent.mkdir(parents=True, exist_ok=True)
        im.save(target, quality=45)


@pytest.fixture(scope="module")
def pretrained(shared_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Pretrained:
    """The grouped photos and the edited copy, indexed once with the default model."""
    base = tmp_path_factory.mktemp("pretrained")
    root = base / "photos"
    jpg = shared_photos / "exif-samples" / "jpg"
    for group, names in GROUPS.items():
        for name in names:
            (root / group).mkdir(parents=True, exist_ok=True)
            shutil.copy2(jpg / name, root / group / Path(name).name)
    _edit(root / EDITED_FROM, root / "edited" / "copy.jpg")
    made = Pretrained(root, base / "catalog.sqlite")
    with made.open() as library:
        assert library.model_key == "efficientnet_lite0@imagenet"
        result = run(library.index())
    assert result.embed.embedded == 10 and result.embed.failed == 0
    return made


def test_onnx_runtime_and_pytorch_give_the_same_outputs(shared_photos: Path) -> None:
    paths = [shared_photos / "exif-samples" / "jpg" / n for n in GROUPS["dog"] + GROUPS["town"]]
    arrays = [decode.model_input(decode.decode_file(p).image, 224) for p in paths]
    fast = Embedder(device="cpu")
    plain = Embedder(device="cpu", engine="torch")
    assert (fast.engine, plain.engine) == ("onnxruntime", "torch")
    a, b = fast.run_arrays(arrays), plain.run_arrays(arrays)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-4)
    np.testing.assert_array_equal(a.classes[:, 0], b.classes[:, 0])
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)


def test_the_visual_map_under_onnx_runtime_equals_pytorchs(shared_photos: Path) -> None:
    """Region refining's maps of whole photos of any size (one exported graph with dynamic
    height and width; TF "same" padding must follow the size) equal PyTorch's."""
    fast = Embedder(device="cpu")
    plain = Embedder(device="cpu", engine="torch")
    photo = decode.decode_file(shared_photos / "exif-samples" / "jpg" / GROUPS["dog"][0]).image
    for size in [(448, 336), (335, 447), (597, 336), (224, 224)]:
        image = photo.resize(size)
        a, b = fast.visual_of(image), plain.visual_of(image)
        assert a.shape == b.shape == (112, -(-size[1] // 16), -(-size[0] // 16))
        np.testing.assert_allclose(a, b, atol=1e-3)
        for x, y in zip(fast.maps_of(image), plain.maps_of(image), strict=True):
            np.testing.assert_allclose(x, y, atol=1e-3)  # the last map and the visual one
        np.testing.assert_allclose(fast.maps_of(image)[1], a, atol=1e-5)
    assert (fast.engine, plain.engine) == ("onnxruntime", "torch")
    assert fast._maps_onnx["visual"] is not None and fast._maps_onnx["both"] is not None
    assert plain._maps_onnx == {"visual": None, "both": None}


_CLI = """
import sys
from cli import main
code = main(sys.argv[1:])
print("torch loaded:", "torch" in sys.modules)
sys.exit(code)
"""


def test_queries_run_from_the_cached_export_without_loading_torch(
        pretrained: Pretrained, shared_photos: Path, tmp_path: Path) -> None:
    """Once the network is exported (by indexing, with region search's maps), a query by an
    outside photo, or by a region of it, runs in ONNX Runtime alone: no import of torch,
    seconds of a command's start."""
    outside = tmp_path / "outside.jpg"
    _edit(shared_photos / "exif-samples" / "jpg" / GROUPS["dog"][0], outside)
    lib = ["--catalog", str(pretrained.catalog), "--json", "-k", "3"]
    cpu = surely_cpu()  # elsewhere torch finds the GPU

    def similar(*extra: str) -> tuple[list[dict], bool]:
        done = subprocess.run([sys.executable, "-c", _CLI, "similar", str(pretrained.root),
                               str(outside), *lib, *extra],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        listing, loaded = done.stdout.rsplit("torch loaded:", 1)
        return json.loads(listing), loaded.strip() == "True"

    hits, loaded = similar()
    assert Path(hits[0]["path"]).name == Path(GROUPS["dog"][0]).name
    assert loaded is not cpu
    first, loaded = similar("--region", "0.2,0.2,0.6,0.6")
    assert loaded is not cpu
    again, _loaded = similar("--region", "0.2,0.2,0.6,0.6")
    assert [h["path"] for h in again] == [h["path"] for h in first]
    assert [h["score"] for h in again] == pytest.approx([h["score"] for h in first], abs=1e-4)


def test_dog_photos_have_the_keyword_dog(pretrained: Pretrained) -> None:
    with pretrained.open() as library:
        for photo in library.catalog.photos():
            group = photo.path.parent.name
            found = photo_keywords(library.catalog, photo.content_hash, library.model_key)
            assert len(found.classes) == 5  # the top ImageNet classes, stored
            words = found.confident_words()
            if group == "dog":
                assert "dog" in words and "animal" in words, (photo.path.name, found)
            else:
                assert "dog" not in words, (photo.path.name, found)
            if group == "lizard":
                assert "lizard" in words, (photo.path.name, found)


def test_searching_dog_finds_every_dog_and_only_dogs(pretrained: Pretrained) -> None:
    with pretrained.open() as library:
        ids = pretrained.ids(library)
        dogs = {ids[f"dog/{Path(n).name}"] for n in GROUPS["dog"]}
        assert set(search_keywords(library.catalog, library.model_key, " Dog ")) == dogs
        # a breed name finds the photo the classifier saw it in
        found = search_keywords(library.catalog, library.model_key, "dingo")
        assert set(found) <= dogs and found
        assert search_keywords(library.catalog, library.model_key, "zebra") == []


def test_an_edited_copy_ranks_its_original_first(pretrained: Pretrained) -> None:
    with pretrained.open() as library:
        ids = pretrained.ids(library)
        hits = library.similar([ids["edited/copy.jpg"]], k=3)
        assert hits[0].photo_id == ids[EDITED_FROM]


def test_photos_of_one_group_rank_each_other_above_other_groups(pretrained: Pretrained) -> None:
    with pretrained.open() as library:
        ids = pretrained.ids(library)
        group_of = {pid: path.split("/")[0] for path, pid in ids.items()
                    if not path.startswith("edited/")}
        for pid, group in group_of.items():
            hits = [h.photo_id for h in library.similar([pid], k=10) if h.photo_id in group_of]
            same = sum(1 for g in group_of.values() if g == group) - 1
            assert {group_of[h] for h in hits[:same]} == {group}, (group, hits)


def test_keywords_survive_a_rescan_and_a_move(pretrained: Pretrained, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    shutil.copytree(pretrained.root, root, copy_function=shutil.copy2)
    catalog = tmp_path / "catalog.sqlite"
    shutil.copy2(pretrained.catalog, catalog)
    moved = root / "elsewhere" / "dog.jpg"
    moved.parent.mkdir()
    (root / "dog" / "kodak-dc240.jpg").rename(moved)
    with Library(root, catalog_path=catalog) as library:
        result = run(library.index())
        assert result.scan.moved == 1 and result.embed.embedded == 0
        ids = set(search_keywords(library.catalog, library.model_key, "dog"))
        photo = library.catalog.photo_by_path(moved)
        assert photo is not None and photo.id in ids and len(ids) == 2


def test_cli_keywords_lists_finds_and_exports(pretrained: Pretrained, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    lib = [str(pretrained.root), "--catalog", str(pretrained.catalog)]
    assert main(["keywords", *lib]) == 0
    listing = capsys.readouterr().out
    assert "kodak-dc240.jpg: " in listing and "dog" in listing.split("kodak-dc240.jpg: ")[1]
    assert main(["keywords", *lib, "--find", "dog"]) == 0
    found = capsys.readouterr().out.splitlines()
    assert sorted(Path(line).name for line in found[:-1]) == [
        "fujifilm-finepix40i.jpg", "kodak-dc240.jpg"]
    assert found[-1] == "2 photos with 'dog'"
    out = tmp_path / "keywords.csv"
    assert main(["keywords", *lib, "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 10
    by_name = {Path(r["path"]).name: r for r in rows}
    assert "dog" in by_name["kodak-dc240.jpg"]["keywords"].split("; ")
    assert "lizard" in by_name["Kodak_CX7530.jpg"]["keywords"].split("; ")


def test_keywords_go_to_xmp_under_their_own_hierarchy(pretrained: Pretrained,
                                                      tmp_path: Path) -> None:
    """Opt-in: ``Lookalike|dog`` in lr:hierarchicalSubject; the user's keywords (flat and
    hierarchical) and the photos are left as they were."""
    root = tmp_path / "photos"
    shutil.copytree(pretrained.root, root, copy_function=shutil.copy2)
    catalog = tmp_path / "catalog.sqlite"
    shutil.copy2(pretrained.catalog, catalog)
    photo = root / "dog" / "kodak-dc240.jpg"
    sidecar = sidecar_path(photo)
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:lr="http://ns.adobe.com/lightroom/1.0/"><dc:subject><rdf:Bag>'
        "<rdf:li>dog</rdf:li><rdf:li>Rex</rdf:li></rdf:Bag></dc:subject><lr:hierarchicalSubject>"
        "<rdf:Bag><rdf:li>Pets|Rex</rdf:li></rdf:Bag></lr:hierarchicalSubject>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>", encoding="utf-8")
    before = {p: p.read_bytes() for p in root.rglob("*.jpg")}
    lib = [str(root), "--catalog", str(catalog)]
    assert main(["keywords", *lib, "--xmp"]) == 0
    subjects, hierarchy = read_sidecar(sidecar)
    assert subjects == ["dog", "Rex"]
    assert "Pets|Rex" in hierarchy and {"Lookalike|dog", "Lookalike|animal"} <= set(hierarchy)
    lizard, _ = read_sidecar(sidecar_path(root / "lizard" / "Kodak_CX7530.jpg"))
    assert lizard == []  # no flat keywords written: those are the user's
    # Stricter now: the words Lookalike no longer gives go; the user's "dog" stays.
    assert main(["keywords", *lib, "--xmp", "--min-score", "0.99"]) == 0
    subjects, hierarchy = read_sidecar(sidecar)
    assert (subjects, hierarchy) == (["dog", "Rex"], ["Pets|Rex"])
    assert {p: p.read_bytes() for p in root.rglob("*.jpg")} == before


def test_a_rebuilt_catalog_keeps_keywords_and_the_model(pretrained: Pretrained,
                                                       tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"
    shutil.copy2(pretrained.catalog, catalog)
    rebuilt = rebuild(pretrained.root, catalog)
    assert rebuilt.rows["keywords"] == 50 and not rebuilt.errors
    with Library(pretrained.root, catalog_path=catalog) as library:
        assert library.model_key == "efficientnet_lite0@imagenet"
        assert len(search_keywords(library.catalog, library.model_key, "dog")) == 2
