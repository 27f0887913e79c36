"""Duplicates: kinds of pairs, groups, best picks, decisions, XMP, the neighbour graph."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from benchmarks import synthetic
from core.decode import load_image
from core.duplicates import (
    BURST,
    EDIT,
    EXACT,
    REENCODE,
    REJECT,
    SCENE,
    Report,
    decide,
    find_groups,
    graph,
)
from core.duplicates import export as dup_export
from core.duplicates.kinds import RANDOM_WEIGHTS, Thresholds, may_be_rotated
from core.jobs import run
from core.library import Library

MODEL = "mobilenet_v3_small"
CAMERA = {"Make": "Canon", "Model": "Canon EOS 40D"}


def _exif(moment: str, subsec: str | None = None) -> dict[str | int, object]:
    tags: dict[str | int, object] = {**CAMERA, "DateTimeOriginal": moment}
    if subsec is not None:
        tags[0x9291] = subsec  # SubsecTimeOriginal
    return tags


def write_cases(root: Path, shared: Path | None) -> None:
    """One scene with its copies and edits, an exact copy, a generated and a real burst, a
    sharp photo and its blurred copy, an original and its re-encode, two distinct shots of
    one scene, unrelated photos, and a RAW with its JPEG."""
    synthetic.write_library(root / "scenes", 1, n_variants=5, seed=5)
    shutil.copy2(root / "scenes/scene_000/orig.jpg", root / "copy.jpg")
    big = synthetic.scene(77, (960, 720))
    for k, (dx, sub) in enumerate([(0, "10"), (8, "40"), (16, "70")]):
        synthetic.write_jpeg(root / "burst" / f"IMG_{k}.jpg",
                             big.crop((100 + dx, 80, 740 + dx, 560)),
                             exif=_exif("2021:05:01 10:00:00", sub))
    sharp = synthetic.scene(88)
    synthetic.write_jpeg(root / "pick/sharp.jpg", sharp, exif=_exif("2021:06:01 09:00:00"))
    synthetic.write_jpeg(root / "pick/blurred.jpg", sharp.filter(ImageFilter.GaussianBlur(3)),
                         exif=_exif("2021:06:02 09:00:00"))
    original = synthetic.scene(99, (800, 600))
    synthetic.write_jpeg(root / "orig/original.jpg", original, quality=95)
    synthetic.write_jpeg(root / "orig/reencoded.jpg", original, quality=35)
    view = synthetic.scene(66, (1000, 700))
    for k, dx in enumerate([0, 140]):
        synthetic.write_jpeg(root / "views" / f"view_{k}.jpg",
                             view.crop((150 + dx, 100 + 20 * k, 790 + dx, 580 + 20 * k)),
                             exif=_exif(f"2021:07:01 1{k}:00:00"))
    for seed in (200, 201):
        synthetic.write_jpeg(root / "other" / f"o{seed}.jpg", synthetic.scene(seed))
    if shared is not None:
        real = load_image(shared / "exif-samples/jpg/Canon_40D.jpg")
        w, h = real.size
        for k, sub in enumerate(["05", "55"]):
            synthetic.write_jpeg(root / "real_burst" / f"r{k}.jpg",
                                 real.crop((4 * k, 2 * k, w - 12 + 4 * k, h - 6 + 2 * k)),
                                 exif=_exif("2008:05:30 15:56:01", sub))
        raw = root / "raw"
        raw.mkdir()
        shutil.copy2(shared / "raw/RAW_KODAK_DC50_é.KDC", raw / "shot.KDC")
        load_image(raw / "shot.KDC").save(raw / "shot.jpg", quality=90)


@dataclass
class Found:
    root: Path
    catalog: Path
    report: Report

    def kind(self, a: str, b: str) -> str | None:
        for group in self.report.groups:
            names = {p.id: p.path.relative_to(self.root).as_posix() for p in group.photos}
            for pair in group.pairs:
                if {names[pair.a], names[pair.b]} == {a, b}:
                    return pair.kind
        return None

    def group_of(self, name: str) -> set[str] | None:
        for group in self.report.groups:
            names = {p.path.relative_to(self.root).as_posix() for p in group.photos}
            if name in names:
                return names
        return None


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Found:
    base = tmp_path_factory.mktemp("dups")
    shared = Path(__file__).resolve().parents[2].parent / "shared/photos"
    root = base / "photos"
    write_cases(root, shared if shared.is_dir() else None)
    catalog = base / "catalog.sqlite"
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        run(library.index())
        report = run(find_groups(library.catalog, library.model_key))
    return Found(root, catalog, report)


def test_each_pair_gets_its_kind(found: Found) -> None:
    s = "scenes/scene_000/"
    assert found.kind("copy.jpg", s + "orig.jpg") == EXACT
    for copy in ("reencode.jpg", "small.jpg", "rotated.jpg"):
        assert found.kind(s + "orig.jpg", s + copy) == REENCODE, copy
    for edit in ("crop.jpg", "exposure.jpg"):
        assert found.kind(s + "orig.jpg", s + edit) == EDIT, edit
    assert found.kind("burst/IMG_0.jpg", "burst/IMG_1.jpg") == BURST
    assert found.kind("burst/IMG_1.jpg", "burst/IMG_2.jpg") == BURST
    assert found.kind("views/view_0.jpg", "views/view_1.jpg") == SCENE
    assert found.kind("orig/original.jpg", "orig/reencoded.jpg") == REENCODE


def test_real_bursts_and_raw_plus_jpeg(found: Found) -> None:
    if not (found.root / "raw").exists():
        pytest.skip("../shared/photos not found (a user's own clone)")
    assert found.kind("real_burst/r0.jpg", "real_burst/r1.jpg") == BURST
    group = found.group_of("raw/shot.jpg") or set()
    assert "raw/shot.KDC" not in group  # one shot, one item: never a duplicate of itself


def test_unrelated_photos_stay_apart(found: Found) -> None:
    assert found.group_of("other/o200.jpg") is None
    assert found.group_of("other/o201.jpg") is None
    scene = found.group_of("scenes/scene_000/orig.jpg")
    assert scene is not None and not any(name.startswith("burst/") for name in scene)


def test_best_pick_prefers_sharp_and_original(found: Found) -> None:
    for pick, other in (("pick/sharp.jpg", "pick/blurred.jpg"),
                        ("orig/original.jpg", "orig/reencoded.jpg")):
        group = next(g for g in found.report.groups
                     if found.root / pick in {p.path for p in g.photos})
        chosen = next(p for p in group.photos if p.id == group.pick)
        assert chosen.path == found.root / pick, group.reasons
        assert group.reasons
        rejected = {p.path for p in group.rejects()}
        assert found.root / other in rejected


def _find(root: Path, catalog: Path) -> Report:
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        run(library.index())
        return run(find_groups(library.catalog, library.model_key, folder=root / "orig"))


def test_decisions_survive_rescan_and_move_until_a_photo_changes(found: Found,
                                                                 tmp_path: Path) -> None:
    root = tmp_path / "photos"
    shutil.copytree(found.root / "orig", root / "orig", copy_function=shutil.copy2)
    catalog = tmp_path / "catalog.sqlite"
    (group,) = _find(root, catalog).groups
    assert not group.decided
    keep = next(p for p in group.photos if p.path.name == "reencoded.jpg")  # overrule
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        decide(library.catalog, group.key, {p.content_hash: "pick" if p.id == keep.id
                                            else "reject" for p in group.photos})
    (again,) = _find(root, catalog).groups
    assert again.decided and again.pick == keep.id
    (root / "orig/reencoded.jpg").rename(root / "orig/moved.jpg")
    (moved,) = _find(root, catalog).groups
    assert moved.decided
    assert next(p for p in moved.photos if p.id == moved.pick).path.name == "moved.jpg"
    synthetic.write_jpeg(root / "orig/moved.jpg", synthetic.scene(99, (800, 600)), quality=50)
    (changed,) = _find(root, catalog).groups
    assert not changed.decided  # a photo changed: the group is proposed afresh
    assert next(p for p in changed.photos if p.id == changed.pick).path.name == "original.jpg"


def test_a_rebuilt_catalog_keeps_the_decisions(found: Found, tmp_path: Path) -> None:
    from core.catalog.rebuild import rebuild

    root = tmp_path / "photos"
    shutil.copytree(found.root / "orig", root / "orig", copy_function=shutil.copy2)
    catalog = tmp_path / "catalog.sqlite"
    (group,) = _find(root, catalog).groups
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        decide(library.catalog, group.key, {p.content_hash: "reject" for p in group.photos})
    rebuild(root, catalog)
    (again,) = _find(root, catalog).groups
    assert again.decided and all(d == REJECT for d in again.decisions.values())


def test_xmp_sidecars_carry_the_rating_and_keep_foreign_data(found: Found,
                                                             tmp_path: Path) -> None:
    from core.labels.export import read_sidecar

    root = tmp_path / "photos"
    shutil.copytree(found.root / "pick", root / "pick", copy_function=shutil.copy2)
    foreign = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
               '02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/'
               'dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3">'
               '<dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>'
               '</rdf:Description></rdf:RDF></x:xmpmeta>')
    (root / "pick/sharp.xmp").write_text(foreign)
    (root / "pick/blurred.xmp").write_text(foreign)
    before = {p: p.read_bytes() for p in root.rglob("*.jpg")}
    with Library(root, catalog_path=tmp_path / "c.sqlite", model=MODEL,
                 weights="none") as library:
        run(library.index())
        groups = run(find_groups(library.catalog, library.model_key)).groups
    result = run(dup_export.write_sidecars(groups))
    assert result.written == 2 and not result.failed
    assert dup_export.read_rating(root / "pick/blurred.xmp") == -1
    assert dup_export.read_rating(root / "pick/sharp.xmp") == 3  # a pick keeps its rating
    subjects, hierarchy = read_sidecar(root / "pick/blurred.xmp")
    assert "holiday" in subjects and "Duplicates|Reject" in hierarchy
    assert {p: p.read_bytes() for p in root.rglob("*.jpg")} == before
    rejects = tmp_path / "rejects.txt"
    assert dup_export.write_rejects(groups, rejects) == 1
    assert rejects.read_text().splitlines() == [str(root / "pick/blurred.jpg")]
    assert all(g.decisions[p.id] in ("pick", REJECT) for g in groups for p in g.photos)


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 4, dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.25 * rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float16)


def test_the_listed_graph_finds_the_pairs_brute_force_finds(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    vectors = _clustered(3000, 128, seed=1)
    exact = set(zip(*graph.radius_pairs(vectors, 0.9, max_per_row=1000)[:2], strict=True))
    monkeypatch.setattr(graph, "EXACT_MAX", 100)  # force the inverted lists
    monkeypatch.setattr(graph, "LIST_SIZE", 64)
    i, j, s = graph.radius_pairs(vectors, 0.9, max_per_row=1000)
    listed = set(zip(i.tolist(), j.tolist(), strict=True))
    assert len(exact) > 1000 and listed <= exact
    assert len(listed) / len(exact) >= 0.95
    assert np.all(np.diff(s) <= 0) and np.all(s >= 0.9)


def test_the_graph_read_block_by_block_equals_all_at_once(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Large libraries are read a block at a time (radius_pairs_streamed): however the blocks
    are cut, the pairs are those of the whole array, and the projected path (vectors wider
    than FINE_DIM) finds what brute force finds."""
    vectors = _clustered(3000, 384, seed=2)
    exact = set(zip(*graph.radius_pairs(vectors, 0.9, max_per_row=1000)[:2], strict=True))
    monkeypatch.setattr(graph, "EXACT_MAX", 100)  # force the inverted lists
    monkeypatch.setattr(graph, "LIST_SIZE", 64)
    whole = graph.radius_pairs(vectors, 0.9, max_per_row=1000, low=0.8)
    for size in (1, 777, 5000):
        blocks = (vectors[start:start + size] for start in range(0, len(vectors), size))
        streamed = graph.radius_pairs_streamed(
            len(vectors), vectors[graph.sample_positions(len(vectors))], blocks,
            lambda i, j: graph._rowwise_dots(vectors, i, j), 0.9, max_per_row=1000, low=0.8)
        for got, want in zip(streamed, whole, strict=True):
            np.testing.assert_array_equal(got, want)
    high = whole[2] >= 0.9
    listed = set(zip(whole[0][high].tolist(), whole[1][high].tolist(), strict=True))
    assert len(exact) > 1000 and listed <= exact and len(listed) / len(exact) >= 0.95


def test_grouping_a_library_block_by_block_finds_the_same_groups(
        found: Found, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced on the test library, the path of large libraries (vectors read a block at a
    time, pairs from the inverted lists, the candidates' vectors read again by id) makes
    the groups that holding every vector makes."""
    def groups(report: Report) -> list[tuple[tuple[str, ...], tuple[tuple[int, int, str], ...]]]:
        return sorted((tuple(sorted(str(p.path) for p in g.photos)),
                       tuple(sorted((x.a, x.b, x.kind) for x in g.pairs))) for g in report.groups)

    monkeypatch.setattr(graph, "EXACT_MAX", 2)
    with Library(found.root, catalog_path=found.catalog, model=MODEL,
                 weights="none") as library:
        report = run(find_groups(library.catalog, library.model_key))
    assert report.photos == found.report.photos
    assert groups(report) == groups(found.report) and len(report.groups) >= 5


def test_copies_rotated_in_their_pixels_are_found_below_the_radius(tmp_path: Path) -> None:
    """A copy turned by 90 or 180 degrees in its pixels, its EXIF dropped, is less alike to
    the CNN than the radius; the rotated radius proposes it and the 32-px check finds it."""
    root = tmp_path / "photos"
    original = synthetic.scene(31, (800, 600))
    synthetic.write_jpeg(root / "orig.jpg", original, exif=_exif("2021:08:01 12:00:00"))
    synthetic.write_jpeg(root / "turned.jpg", original.transpose(Image.Transpose.ROTATE_90))
    synthetic.write_jpeg(root / "upside.jpg", original.transpose(Image.Transpose.ROTATE_180))
    synthetic.write_jpeg(root / "other.jpg", synthetic.scene(32, (800, 600)))
    with Library(root, catalog_path=tmp_path / "c.sqlite", model=MODEL,
                 weights="none") as library:
        run(library.index())
        ids, vectors = library.catalog.embeddings(library.model_key)
        by_name = {library.catalog.photo(int(i)).path.name: v
                   for i, v in zip(ids, vectors, strict=True)}
        rotated = [float(by_name["orig.jpg"] @ by_name[n]) for n in ("turned.jpg", "upside.jpg")]
        th = replace(RANDOM_WEIGHTS, radius=max(rotated) + 1e-4, rotated_radius=min(rotated) - 1e-3)

        def kinds(thresholds: Thresholds) -> dict[str, str]:
            report = run(find_groups(library.catalog, library.model_key, thresholds=thresholds))
            out = {}
            for group in report.groups:
                names = {p.id: p.path.name for p in group.photos}
                for pair in group.pairs:
                    out.update({names[pair.a]: pair.kind, names[pair.b]: pair.kind})
            return out

        assert kinds(replace(th, rotated_radius=None)) == {}  # the radius alone misses both
        found = kinds(th)
    assert found == {"orig.jpg": EDIT, "turned.jpg": EDIT, "upside.jpg": EDIT}
    assert may_be_rotated(4 / 3, 3 / 4, "2021-08-01T12:00:00", None)
    assert may_be_rotated(4 / 3, 4 / 3, None, None) and not may_be_rotated(4 / 3, 1.0, None, None)
    assert not may_be_rotated(4 / 3, 3 / 4, "2021-08-01T12:00:00", "2021-08-01T12:00:05")


def test_groups_never_pass_the_cap() -> None:
    union = graph.CappedUnion(10, cap=4)
    for a in range(9):
        union.union(a, a + 1)
    sizes = [len(g) for g in union.groups()]
    assert max(sizes) == 4 and sum(sizes) <= 10


def test_image_files_are_not_written(found: Found) -> None:
    assert not list(found.root.rglob("*.xmp"))
    assert Image.open(found.root / "copy.jpg").size == (640, 480)


def test_two_shots_of_one_moment_are_one_scene_from_a_lower_similarity(
        shared_photos: Path, tmp_path: Path) -> None:
    """Two framings of one real photo, as a photographer recomposing shoots them: one camera
    a few seconds apart makes them "same scene" from the model's moment similarity; further
    apart, or from two cameras, they need the scene similarity."""
    from core.duplicates.kinds import PairFacts, classify, thresholds_for
    from core.duplicates.pixels import signature

    th = thresholds_for("efficientnet_lite0@imagenet")
    assert th.scene is not None and th.moment_scene is not None
    assert th.radius <= th.moment_scene < th.scene
    real = load_image(shared_photos / "exif-samples/jpg/Canon_40D.jpg")
    w, h = real.size
    paths = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for k, path in enumerate(paths):
        dx = int(w * 0.15) * k
        real.crop((dx, 0, dx + int(w * 0.8), int(h * 0.85))).save(path, quality=92)
    a, b = (signature(p) for p in paths)

    def kind(similarity: float, gap_s: float, same_camera: bool = True) -> str | None:
        return classify(PairFacts(False, similarity, same_camera), replace(a, taken=1e9),
                        replace(b, taken=1e9 + gap_s), th)

    between = (th.moment_scene + th.scene) / 2
    assert kind(between, 5) == SCENE
    assert kind(between, th.moment_s) == SCENE
    assert kind(between, th.moment_s + 1) is None  # later than a moment: the scene's own
    assert kind(between, 5, same_camera=False) is None  # two cameras: two photographers
    assert kind(th.moment_scene - 0.01, 5) is None
    assert kind(th.scene, 3600) == SCENE and kind(th.scene, 3600, same_camera=False) == SCENE
    assert kind(between, 1) == SCENE  # frames within the burst gap that do not align
    assert classify(PairFacts(False, between, True), replace(a, taken=1e9),  # those that do
                    replace(a, taken=1e9 + 1), th) == BURST
