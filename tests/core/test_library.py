"""The whole engine on generated scenes: scan, embed, re-scan, resume, search."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import synthetic
from core import thumbnails
from core.embed.cnn import Embedder
from core.errors import Cancelled
from core.jobs import run
from core.library import Library
from core.search import Searcher
from tests.core.conftest import IndexedLibrary


def _precision_at_variants(lib: IndexedLibrary, library: Library) -> float:
    """Mean fraction of each original's nearest (len(variants)) photos from its own scene."""
    scores = []
    for scene, paths in lib.scenes.items():
        query = library.photo_at(paths[0])
        assert query is not None
        hits = library.similar([query.id], k=len(paths) - 1)
        hit_paths = [p.path for p in library.catalog.photos([h.photo_id for h in hits])]
        scores.append(np.mean([lib.scene_of(p) == scene for p in hit_paths]))
    return float(np.mean(scores))


def test_index_embeds_every_generated_photo(scenes_library: IndexedLibrary) -> None:
    with scenes_library.open() as library:
        n_files = sum(len(p) for p in scenes_library.scenes.values())
        assert library.catalog.photo_count() == n_files
        assert library.catalog.embedded_count(library.model_key) == n_files
        _ids, vectors = library.catalog.embeddings(library.model_key)
        assert vectors.shape == (n_files, 2048)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
        photo = library.catalog.photos()[0]
        assert photo.content_hash and photo.width and photo.height
        assert thumbnails.thumbnail_path(photo.content_hash).is_file()


def test_variants_of_a_scene_rank_first(scenes_library: IndexedLibrary) -> None:
    with scenes_library.open() as library:
        assert _precision_at_variants(scenes_library, library) >= 0.9


def test_scores_are_sorted_and_exclude_the_query(scenes_library: IndexedLibrary) -> None:
    with scenes_library.open() as library:
        query = library.catalog.photos()[0]
        hits = library.similar([query.id], k=10)
        assert len(hits) == 10
        assert query.id not in [h.photo_id for h in hits]
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_same_file_gives_the_same_vector(scenes_library: IndexedLibrary) -> None:
    path = next(iter(scenes_library.scenes.values()))[0]
    first = Embedder("resnet50", weights="none", device="cpu").embed_file(path)
    second = Embedder("resnet50", weights="none", device="cpu").embed_file(path)
    np.testing.assert_allclose(first, second, atol=1e-5)
    with scenes_library.open() as library:
        stored = library.searcher.vectors([library.photo_at(path).id])[0]
    np.testing.assert_allclose(stored, first, atol=2e-3)  # float16 storage


def test_annoy_agrees_with_exact(scenes_library: IndexedLibrary) -> None:
    with scenes_library.open() as library:
        exact = Searcher(library.catalog, library.model_key, kind="exact")
        annoy = Searcher(library.catalog, library.model_key, kind="annoy")
        recalls = []
        for photo in library.catalog.photos():
            want = {h.photo_id for h in exact.similar([photo.id], k=10)}
            got = {h.photo_id for h in annoy.similar([photo.id], k=10)}
            recalls.append(len(want & got) / len(want))
        assert np.mean(recalls) >= 0.95
        assert annoy.index_path.exists()


def test_query_by_an_image_outside_the_library(scenes_library: IndexedLibrary,
                                               tmp_path: Path) -> None:
    scene = sorted(scenes_library.scenes)[3]
    outside = tmp_path / "outside.jpg"
    src = scenes_library.scenes[scene][0]
    with Image.open(src) as im:
        cropped = im.convert("RGB").crop((20, 15, im.width - 20, im.height - 15))
    synthetic.write_jpeg(outside, cropped, quality=80)
    with scenes_library.open() as library:
        _, hits = library.similar_to_file(outside, k=3)
        top = library.catalog.photos([h.photo_id for h in hits])
        assert all(scenes_library.scene_of(p.path) == scene for p in top)


def test_negative_examples_push_a_scene_down(scenes_library: IndexedLibrary) -> None:
    with scenes_library.open() as library:
        photos = library.catalog.photos()
        query = photos[0]
        plain = library.similar([query.id], k=len(photos) - 1)
        # The first result from another scene becomes a negative example.
        scene = scenes_library.scene_of(query.path)
        by_id = {p.id: p for p in photos}
        other = next(h.photo_id for h in plain
                     if scenes_library.scene_of(by_id[h.photo_id].path) != scene)
        other_scene = scenes_library.scene_of(by_id[other].path)
        refined = library.similar([query.id], negatives=[other], k=len(photos) - 2)

        def mean_rank(hits: list) -> float:
            ranks = [i for i, h in enumerate(hits)
                     if scenes_library.scene_of(by_id[h.photo_id].path) == other_scene]
            return float(np.mean(ranks))

        assert other not in [h.photo_id for h in refined]
        assert mean_rank(refined) > mean_rank(plain)


def test_rescan_of_an_unchanged_library_embeds_nothing(library_copy: IndexedLibrary) -> None:
    with library_copy.open() as library:
        result = run(library.index())
    assert (result.scan.new, result.scan.changed, result.scan.removed) == (0, 0, 0)
    assert result.embed.embedded == 0


def test_rescan_adds_changes_removes_and_moves(library_copy: IndexedLibrary) -> None:
    scenes = list(library_copy.scenes.values())
    added = library_copy.root / "new" / "added.jpg"
    added.parent.mkdir()
    synthetic.write_jpeg(added, synthetic.scene(seed=999))
    changed = scenes[0][1]
    synthetic.write_jpeg(changed, synthetic.scene(seed=998))
    os.utime(changed, ns=(1, 10**18))
    removed = scenes[1][1]
    removed.unlink()
    moved_from = scenes[2][0]
    moved_to = library_copy.root / "renamed" / "moved.jpg"
    moved_to.parent.mkdir()
    with library_copy.open() as library:
        before = library.photo_at(moved_from)
        shutil.move(moved_from, moved_to)
        result = run(library.index())
        after = library.photo_at(moved_to)
        assert after is not None and after.id == before.id
        assert library.photo_at(removed) is None
        assert library.photo_at(added) is not None
    assert (result.scan.new, result.scan.changed, result.scan.removed, result.scan.moved) == (
        1, 1, 1, 1)
    assert result.embed.embedded == 2  # the new and the changed file; the moved one kept its


def test_cancelled_embedding_resumes_without_redoing_work(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    synthetic.write_library(root, 6, n_variants=3, seed=5)
    cancel = threading.Event()
    with Library(root, catalog_path=tmp_path / "c.sqlite", model="resnet50",
                 weights="none") as library:
        run(library.scan())
        total = library.catalog.photo_count()
        job = library.embed(cancel, batch_size=4)
        with pytest.raises(Cancelled):
            for progress in job:
                if progress.done >= 4:
                    cancel.set()
        done_first = library.catalog.embedded_count(library.model_key)
        assert 4 <= done_first < total
        result = run(library.embed())
        assert result.embedded == total - done_first
        assert library.catalog.embedded_count(library.model_key) == total


def test_bad_files_become_problems_and_the_scan_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    synthetic.write_library(root, 3, n_variants=1, seed=7)
    good = synthetic.scene(seed=3)
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a photo\n")
    synthetic.write_jpeg(root / "truncated.jpg", good)
    data = (root / "truncated.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    vanishing = root / "vanishing.jpg"
    synthetic.write_jpeg(vanishing, good)
    (root / "broken-link.jpg").symlink_to(root / "nowhere.jpg")
    (root / "loop").symlink_to(root)
    with Library(root, catalog_path=tmp_path / "c.sqlite", model="resnet50",
                 weights="none") as library:
        run(library.scan())
        vanishing.unlink()  # deleted between listing and reading
        result = run(library.embed())
        reasons = {p.path.name: p.reason for p in library.catalog.problems()}
        assert set(reasons) == {"zero.jpg", "text.jpg", "truncated.jpg", "vanishing.jpg",
                                "broken-link.jpg"}
        assert all(len(r) > 5 for r in reasons.values())
        assert result.embedded == 6 and result.failed == 4
        assert library.catalog.embedded_count(library.model_key) == 6
        # An unchanged bad file is not retried; a fixed one is picked up.
        synthetic.write_jpeg(root / "text.jpg", good)
        again = run(library.index())
        assert again.embed.embedded == 1
        assert "text.jpg" not in {p.path.name for p in library.catalog.problems()}


def test_nothing_is_written_inside_the_photo_folder(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    synthetic.write_library(root, 2, n_variants=1, seed=9)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with Library(root, model="resnet50", weights="none") as library:  # default catalog location
        run(library.index())
        assert root not in library.catalog.path.parents
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
