"""Label sets, labels and assignments: single-choice and multi-label, negatives, survival."""

from __future__ import annotations

import shutil

import pytest

from core.jobs import run
from core.labels import SOURCE_ACCEPTED, SOURCE_USER, LabelError, LabelStore
from core.library import Library

from .conftest import IndexedLibrary


def _ids(library: Library, lib: IndexedLibrary, scene: int, *variants: int) -> list[int]:
    paths = lib.scenes[f"scene_{scene:03d}"]
    return [library.photo_at(paths[v]).id for v in variants]


def test_sets_and_labels_are_created_renamed_and_deleted(library_copy: IndexedLibrary) -> None:
    with library_copy.open() as library:
        store = LabelStore(library.catalog)
        scene = store.ensure_set("Scene")
        assert store.ensure_set("Scene") == scene and not scene.multi
        content = store.create_set("Content", multi=True)
        assert [s.name for s in store.sets()] == ["Content", "Scene"]
        with pytest.raises(LabelError, match="already"):
            store.create_set("Scene")
        with pytest.raises(LabelError, match="needs a name"):
            store.create_set("  ")
        indoor = store.ensure_label(scene.id, "indoor")
        store.ensure_label(scene.id, "outdoor")
        assert store.ensure_label(scene.id, "indoor").id == indoor.id
        store.rename_label(indoor.id, "interior")
        assert [label.name for label in store.labels(scene.id)] == ["interior", "outdoor"]
        assert store.rename_set(content.id, "Things").name == "Things"
        store.delete_set(content.id)
        with pytest.raises(LabelError, match="No label set 'Things'"):
            store.get_set("Things")
        store.delete_label(indoor.id)
        assert [label.name for label in store.labels(scene.id)] == ["outdoor"]


def test_single_choice_replaces_and_multi_label_adds(library_copy: IndexedLibrary) -> None:
    with library_copy.open() as library:
        store = LabelStore(library.catalog)
        scene = store.create_set("Scene")
        a, b = store.add_label(scene.id, "a"), store.add_label(scene.id, "b")
        photos = _ids(library, library_copy, 0, 0, 1)
        assert store.assign(a.id, photos) == 2
        store.assign(b.id, photos[:1], source=SOURCE_ACCEPTED)
        assert store.photo_labels(scene.id) == {photos[0]: [b.id], photos[1]: [a.id]}
        assert [(label.name, label.count) for label in store.labels(scene.id)] == [
            ("a", 1), ("b", 1)]
        sources = {x.label_id: x.source for x in store.assignments(scene.id)}
        assert sources == {a.id: SOURCE_USER, b.id: SOURCE_ACCEPTED}

        content = store.create_set("Content", multi=True)
        x, y = store.add_label(content.id, "x"), store.add_label(content.id, "y")
        store.assign(x.id, photos)
        store.assign(y.id, photos[:1])
        assert store.photo_labels(content.id) == {photos[0]: [x.id, y.id], photos[1]: [x.id]}
        store.unassign(x.id, photos[:1])
        assert store.photos_with(x.id) == [photos[1]]


def test_rejections_are_negatives_and_a_label_replaces_them(
        library_copy: IndexedLibrary) -> None:
    with library_copy.open() as library:
        store = LabelStore(library.catalog)
        scene = store.create_set("Scene")
        a, b = store.add_label(scene.id, "a"), store.add_label(scene.id, "b")
        photo = _ids(library, library_copy, 1, 0)
        revision = store.get_set(scene.id).revision
        store.reject(a.id, photo)
        assert store.get_set(scene.id).revision > revision
        assert store.photos_with(a.id, positive=False) == photo
        assert store.labels(scene.id)[0].negatives == 1
        examples = store.examples(scene.id)
        assert examples.photo_ids == tuple(photo)
        assert examples.positives == (frozenset(),)
        assert examples.negatives == (frozenset({a.id}),)
        store.assign(b.id, photo)
        store.assign(a.id, photo)  # a positive replaces the negative (and b: single-choice)
        assert store.photo_labels(scene.id) == {photo[0]: [a.id]}
        assert store.photos_with(a.id, positive=False) == []


def test_labels_survive_a_move_and_a_file_that_leaves_and_returns(
        library_copy: IndexedLibrary) -> None:
    paths = library_copy.scenes["scene_002"]
    with library_copy.open() as library:
        store = LabelStore(library.catalog)
        scene = store.create_set("Scene")
        label = store.add_label(scene.id, "mountains")
        store.assign(label.id, _ids(library, library_copy, 2, 0, 1))
        moved = library_copy.root / "elsewhere" / "renamed.jpg"
        moved.parent.mkdir()
        shutil.move(paths[0], moved)
        away = library_copy.root.parent / "away.jpg"
        shutil.move(paths[1], away)
        run(library.scan())
        assert [p.path for p in library.catalog.photos(store.photos_with(label.id))] == [moved]
        assert store.labels(scene.id)[0].count == 1
        shutil.move(away, paths[1])  # back: a new photo record, the same content
        run(library.index())
        labelled = {p.path for p in library.catalog.photos(store.photos_with(label.id))}
        assert labelled == {moved, paths[1]}
        assert store.labels(scene.id)[0].count == 2


def test_photos_not_read_yet_are_not_labelled(library_copy: IndexedLibrary) -> None:
    new = library_copy.root / "new.jpg"
    shutil.copy(library_copy.scenes["scene_003"][0], new)
    with library_copy.open() as library:
        run(library.scan())
        photo = library.photo_at(new)
        assert photo is not None and photo.content_hash is None
        store = LabelStore(library.catalog)
        label = store.add_label(store.create_set("Scene").id, "x")
        assert store.assign(label.id, [photo.id]) == 0
