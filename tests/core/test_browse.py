"""Listings, folder filters and the folder tree the app's grid is built from."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePath

import pytest
from PIL import Image

from benchmarks import synthetic
from core import browse, thumbnails
from core.catalog import Catalog, schema
from core.jobs import run
from core.library import Library


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    """3 scenes × 3 photos, plus look-alike folder names that must not match a filter."""
    base = tmp_path_factory.mktemp("browse")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(base / "data"))
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        root = base / "photos"
        scenes = synthetic.write_library(root, 3, n_variants=2, size=(160, 120), seed=3)
        original = scenes["scene_001"][0]
        for extra in ("scene_001/sub/b.jpg", "scene_0010/a.jpg", "scene_001 b/c.jpg"):
            (root / extra).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(original, root / extra)
        lib = Library(root, catalog_path=base / "catalog.sqlite", model="mobilenet_v3_small",
                      weights="none")
        run(lib.scan())
        yield lib
        lib.close()


def _names(library: Library, ids: object) -> list[str]:
    photos = library.catalog.photos([int(i) for i in ids])  # type: ignore[attr-defined]
    return [p.path.relative_to(library.root).as_posix() for p in photos]


def test_listing_by_folder_groups_folders_then_names(library: Library) -> None:
    names = _names(library, browse.list_photos(library.catalog, "folder"))
    assert names[:4] == ["scene_000/crop.jpg", "scene_000/exposure.jpg", "scene_000/orig.jpg",
                         "scene_001/crop.jpg"]
    assert len(names) == library.catalog.photo_count() == 12


def test_listing_by_name_ignores_folders(library: Library) -> None:
    names = _names(library, browse.list_photos(library.catalog, "name"))
    assert [n.rsplit("/", 1)[1] for n in names[:5]] == ["a.jpg", "b.jpg", "c.jpg", "crop.jpg",
                                                       "crop.jpg"]


def test_folder_filter_includes_subfolders_but_not_lookalike_names(library: Library) -> None:
    names = _names(library, browse.list_photos(library.catalog, "folder", PurePath("scene_001")))
    assert names == ["scene_001/crop.jpg", "scene_001/exposure.jpg", "scene_001/orig.jpg",
                     "scene_001/sub/b.jpg"]
    assert len(browse.list_photos(library.catalog, "date", PurePath("."))) == 12
    ids = browse.list_photos(library.catalog, "name")
    kept = browse.in_folder(library.catalog, ids, PurePath("scene_001/sub"))
    assert _names(library, kept) == ["scene_001/sub/b.jpg"]


def test_unknown_sort_is_refused(library: Library) -> None:
    with pytest.raises(ValueError, match="date"):
        browse.list_photos(library.catalog, "size")


def test_photos_after_returns_only_newer_ids(library: Library) -> None:
    ids = sorted(browse.list_photos(library.catalog, "folder").tolist())
    last = browse.last_photo_id(library.catalog)
    assert last == ids[-1]
    assert browse.photos_after(library.catalog, ids[8]).tolist() == ids[9:]
    assert browse.photos_after(library.catalog, last).tolist() == []
    inside = browse.photos_after(library.catalog, 0, PurePath("scene_0010"))
    assert _names(library, inside) == ["scene_0010/a.jpg"]


def test_folder_tree_counts_photos(library: Library) -> None:
    tree = browse.folder_tree(library.catalog)
    assert tree.total == 12 and tree.count == 0
    assert [c.name for c in tree.children] == ["scene_000", "scene_001", "scene_001 b",
                                                "scene_0010", "scene_002"]
    node = tree.find(PurePath("scene_001"))
    assert node is not None and (node.count, node.total) == (3, 4)
    sub = tree.find(PurePath("scene_001/sub"))
    assert sub is not None and sub.path == PurePath("scene_001/sub") and sub.total == 1
    assert tree.find(PurePath("nope")) is None


def test_dates_thumbnails_and_details_appear_once_embedded(library: Library) -> None:
    ids = browse.list_photos(library.catalog, "date").tolist()
    run(library.embed())
    tiles = browse.tiles(library.catalog, ids)
    assert all(t.thumbnail is not None and t.thumbnail.is_file() for t in tiles.values())
    assert {t.name for t in tiles.values()} >= {"orig.jpg", "crop.jpg", "a.jpg"}
    # An emptied thumbnail cache is refilled from the photo.
    gone = tiles[ids[0]].thumbnail
    assert gone is not None
    gone.unlink()
    again = browse.tiles(library.catalog, [ids[0]])[ids[0]].thumbnail
    assert again == gone and gone.is_file()
    by_date = _names(library, browse.list_photos(library.catalog, "date"))
    # Scene i was taken i hours after scene 0; copies keep their scene's date.
    assert by_date.index("scene_000/orig.jpg") < by_date.index("scene_001/orig.jpg")
    assert by_date.index("scene_001/orig.jpg") < by_date.index("scene_002/orig.jpg")
    photo = library.catalog.photos([ids[0]])[0]
    details = dict(browse.photo_details(photo, library.root))
    assert details["File"] == photo.path.name
    assert details["Folder"].startswith("photos/scene_")
    assert details["Dimensions"].startswith(f"{photo.width} × {photo.height}")
    assert details["Camera"] == "Lookalike Synthetic Camera"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", details["Taken"])


def test_a_photo_not_analysed_yet_gets_its_thumbnail_at_once(tmp_path: Path) -> None:
    """The grid shows photos as soon as they are listed; the analysis reuses the thumbnail."""
    root = tmp_path / "photos"
    synthetic.write_library(root, 1, n_variants=0, size=(640, 480))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    with Catalog.open(root, tmp_path / "c.sqlite") as catalog:
        from core.scan import scan

        run(scan(catalog))
        shown = browse.tiles(catalog, catalog.photo_ids())
        by_name = {tile.name: tile for tile in shown.values()}
        assert by_name["broken.jpg"].thumbnail is None  # unreadable: no thumbnail, no error
        thumb = by_name["orig.jpg"].thumbnail
        assert thumb is not None and thumb.is_file()
        with Image.open(thumb) as image:
            assert max(image.size) == thumbnails.THUMBNAIL_SIZE
        made = thumb.stat().st_mtime_ns
        with Library(root, catalog_path=tmp_path / "c.sqlite", model="mobilenet_v3_small",
                     weights="none") as library:
            run(library.embed())
            (photo,) = [p for p in library.catalog.photos(library.catalog.photo_ids())
                        if p.path.name == "orig.jpg"]
        assert thumbnails.thumbnail_path(photo.content_hash or "") == thumb
        assert thumb.stat().st_mtime_ns == made  # found, not made again


def test_small_helpers() -> None:
    assert browse.is_photo_file("x/IMG_1.JPG") and browse.is_photo_file(Path("a.cr2"))
    assert not browse.is_photo_file("notes.txt")
    assert browse.format_size(999) == "999 bytes"
    assert browse.format_size(840_000) == "840 KB"
    assert browse.format_size(12_345_678) == "12.3 MB"


def test_similar_to_file_leaves_out_the_file_and_the_negatives(library: Library,
                                                               tmp_path: Path) -> None:
    run(library.embed())
    inside = library.root / "scene_002" / "orig.jpg"
    own = library.photo_at(inside)
    assert own is not None
    found, hits = library.similar_to_file(inside, k=50)
    assert found == own.id and own.id not in [h.photo_id for h in hits]
    assert len(hits) == library.catalog.photo_count() - 1
    outside = tmp_path / "query.jpg"
    shutil.copy(inside, outside)
    negative = hits[0].photo_id
    found, hits = library.similar_to_file(outside, negatives=[negative], k=50)
    assert found is None and negative not in [h.photo_id for h in hits]
    assert hits[0].photo_id == own.id  # the same pixels: the closest photo of all
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_folder_tree_splits_names_that_are_not_utf8(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders are counted by SQLite as text; broken UTF-8 next to a '/' must not fool it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    root = tmp_path / "photos"
    photo = synthetic.write_library(tmp_path / "src", 1, n_variants=0, size=(64, 48))
    source = next(iter(photo.values()))[0]
    names = [b"top.jpg", b"Et\xc3\xa9/a.jpg", b"caf\xe9/x\xff.jpg", b"x/\xc3/\xa9.jpg",
             b"x/\xc3/b.jpg", b"x/\xc3/sub/c.jpg"]
    for name in names:
        target = Path(os.fsdecode(os.path.join(os.fsencode(root), name)))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    with Library(root, model="mobilenet_v3_small", weights="none") as lib:
        run(lib.scan())
        tree = browse.folder_tree(lib.catalog)
    broken = tree.find(PurePath("x", os.fsdecode(b"\xc3")))
    assert broken is not None and (broken.count, broken.total) == (2, 3)
    assert tree.find(PurePath(os.fsdecode(b"caf\xe9"))).count == 1  # type: ignore[union-attr]
    assert tree.find(PurePath("Eté")).count == 1  # type: ignore[union-attr]
    assert (tree.count, tree.total) == (1, 6)


def test_folder_order_comes_from_an_index_and_matches_the_views_keys(tmp_path: Path) -> None:
    """SQLite lists folder order along an index (a million photos without sorting), in
    the order the grid's keys give photos that arrive later: folder, then the name with
    its letters' case folded, folders' own files before their subfolders'."""
    names = ["top.jpg", "a/zeta.jpg", "a/B.jpg", "a/b/x.jpg", "a b/c.jpg", "a/apple.JPG",
             "é/Z.jpg", "é/a.jpg"]
    root = tmp_path / "photos"
    catalog = Catalog.open(root, tmp_path / "catalog.sqlite")
    with catalog, catalog.conn:
        catalog.conn.executemany(
            "INSERT INTO photos (path, size, mtime_ns, added_at) VALUES (?, 1, 1, 0)",
            [(catalog.encode_path(root / n),) for n in names])
    with catalog:
        ids = browse.list_photos(catalog, "folder").tolist()
        keys = browse.sort_keys(catalog, "folder")
        plan = " ".join(str(r) for r in catalog.conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM photos ORDER BY "
            + ", ".join(schema.FOLDER_ORDER)))
        listed = [os.fsdecode(catalog.conn.execute(
            "SELECT path FROM photos WHERE id = ?", (i,)).fetchone()[0]) for i in ids]
    assert listed == ["top.jpg", "a/apple.JPG", "a/B.jpg", "a/zeta.jpg", "a b/c.jpg",
                      "a/b/x.jpg", "é/a.jpg", "é/Z.jpg"]
    assert ids == sorted(keys, key=keys.__getitem__)
    assert "COVERING INDEX photos_folder_order" in plan
