"""Nothing Lookalike does writes, moves, renames or deletes anything in a photo folder:
every command runs on a library whose tree is snapshotted (content hashes, sizes, times,
modes, folder times) before and compared after, and on one made read-only and run without
root's file privileges, where any attempt to write would fail."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks import synthetic
from benchmarks.clips import make_audio_only, make_clip, shot_photos
from core.jobs import run
from core.library import Library
from core.regions import region_count, region_vectors
from core.thumbnails import thumbnail_path
from tests.reliability.helpers import (
    MODEL,
    check_catalog,
    diff,
    embedded_figure,
    run_restricted_python,
    snapshot,
)
from tests.reliability.jobs import cli_runs, workload
from tests.reliability.ray_cluster import DAMAGED, RayCluster, catalog_records


@pytest.fixture
def small(photo_source: Path, tmp_path: Path) -> tuple[Path, Path]:
    """12 photos (a library this small gets a PCA map: no minute-long UMAP compile) and a
    query photo outside the library."""
    root = tmp_path / "photos"
    for scene in sorted(photo_source.iterdir())[:3]:
        shutil.copytree(scene, root / scene.name, copy_function=shutil.copy2)
    query = tmp_path / "out" / "query.jpg"
    synthetic.write_jpeg(query, synthetic.scene(8).crop((40, 30, 600, 450)))
    return root, query


def _run(cases: list[dict], tmp_path: Path, restricted: bool) -> list[dict]:
    spec, results = tmp_path / "spec.json", tmp_path / "results.json"
    spec.write_text(json.dumps(cases))
    if restricted:
        proc = run_restricted_python("-m", "tests.reliability.jobs", "cli_runs", spec, results)
        assert proc.returncode == 0, proc.stderr
    else:
        cli_runs(str(spec), str(results))
    outcomes = json.loads(results.read_text())
    for case, outcome in zip(cases, outcomes, strict=True):
        assert outcome["code"] == case.get("expect", 0), (case["argv"][:2], outcome["stderr"])
        assert "Traceback" not in outcome["stderr"]
    return outcomes


def test_every_command_leaves_the_photo_folder_as_it_was(small: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    root, query = small
    before = snapshot(root)
    cases = workload(root, None, query.parent, query)  # the default catalog location
    outcomes = _run(cases, tmp_path, restricted=False)
    assert diff(before, snapshot(root)) == []
    with Library(root, model=MODEL, weights="none") as library:
        catalog = library.catalog.path
    assert root not in catalog.parents
    assert json.loads(outcomes[3]["stdout"])["embedded"] == 12
    assert (query.parent / "map.png").stat().st_size > 0
    assert "first" in (query.parent / "labels.csv").read_text()
    predicted = (query.parent / "predictions.csv").read_text().splitlines()
    assert predicted[0].endswith("box_x,box_y,box_w,box_h,box_score") and len(predicted) == 13
    regions = json.loads(next(o["stdout"] for o in outcomes if '"box"' in o["stdout"]))
    assert len(regions) == 3 and all(len(hit["box"]) == 4 for hit in regions)
    people = json.loads(next(o["stdout"] for o in outcomes if '"people"' in o["stdout"]))
    assert people["people"] == [] and people["faces_in_no_person"] == 0  # scenes, no faces
    visual = next(o for c, o in zip(cases, outcomes, strict=True)
                  if c["argv"][0] == "similar" and "visual" in c["argv"])
    assert len(json.loads(visual["stdout"])) == 3  # searched in the visual layer's own set


def test_a_read_only_folder_is_indexed_labelled_and_mapped(small: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    """Without root's file privileges, on a read-only folder that also holds a file and a
    folder nobody may read: all commands succeed, those two are problems; asking for XMP
    sidecars there fails per photo, with the reason."""
    root, query = small
    secret = root / "secret.jpg"
    synthetic.write_jpeg(secret, synthetic.scene(21))
    hidden = root / "private"
    synthetic.write_jpeg(hidden / "inside.jpg", synthetic.scene(22))
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    secret.chmod(0)
    hidden.chmod(0)
    before = snapshot(root)
    catalog = tmp_path / "catalog.sqlite"
    cases = workload(root, catalog, query.parent, query)
    xmp = {"argv": ["labels", "export", *cases[0]["argv"][1:-1], "--xmp"], "expect": 1}
    try:
        outcomes = _run([*cases, xmp], tmp_path, restricted=True)
        assert diff(before, snapshot(root)) == []
    finally:
        for folder, _dirs, _files in os.walk(root):
            os.chmod(folder, 0o755)
        hidden.chmod(0o755)  # so that pytest can clean up
    problems = {Path(p["path"]).name: p["reason"]
                for p in json.loads(outcomes[3]["stdout"])["problems"]}
    assert problems == {
        "secret.jpg": "permission denied",
        "private": "permission denied: Lookalike may not read this folder",
    }
    assert "Moved the old catalog" in outcomes[-2]["stdout"]
    # Sidecars, the one opt-in write into the folder, fail photo by photo, in words.
    assert outcomes[-1]["stdout"].count("not written: ") == 4, outcomes[-1]["stdout"]
    state = check_catalog(catalog)
    assert state.photos == state.embedded == 12


def test_clips_in_a_read_only_folder_are_indexed_and_found(shared_photos: Path,
                                                           tmp_path: Path) -> None:
    """Video clips too: without root's file privileges, on a read-only folder with a clip,
    an audio-only file and a photo, index, search and status succeed, the folder is left
    as it was, the clip is found with its moment and the audio-only file is a problem."""
    a, b, c, d = shot_photos(shared_photos)
    root = tmp_path / "photos"
    root.mkdir()
    make_clip(root / "walk.mp4", [a, b, c], 2.0)
    make_audio_only(root / "voice.mp4")
    shutil.copy2(d, root / "church.jpg")
    for n, photo in enumerate((a, b, c)):
        shutil.copy2(photo, root / f"photo{n}.jpg")
    query = tmp_path / "out" / "b.jpg"
    query.parent.mkdir()
    shutil.copy2(b, query)
    for path in root.iterdir():
        path.chmod(0o444)
    root.chmod(0o555)
    before = snapshot(root)
    lib = [str(root), "--weights", "none", "--model", MODEL,
           "--catalog", str(tmp_path / "catalog.sqlite")]
    cases = [{"argv": argv} for argv in (
        ["index", *lib, "-q"],
        ["similar", *lib, str(query), "--json"],
        ["status", *lib, "--json"],
        ["label", *lib, "--set", "s", "--add", "walk", str(root / "walk.mp4"),
         str(root / "photo0.jpg"), "--add", "still", str(root / "church.jpg"),
         str(root / "photo1.jpg"), str(root / "photo2.jpg")],
        ["train", *lib, "--set", "s", "-q"],
    )]
    # the clip's labels into its XMP sidecar: the one opt-in write, refused here in words
    cases.append({"argv": ["predict", *lib, "--set", "s", "--clip-ranges",
                           str(tmp_path / "out" / "ranges.csv"), "--clip-xmp", "-q"],
                  "expect": 1})
    try:
        outcomes = _run(cases, tmp_path, restricted=True)
        assert diff(before, snapshot(root)) == []
    finally:
        root.chmod(0o755)
    assert "walk.xmp: permission denied" in outcomes[-1]["stdout"]
    assert "walk.mp4" in (tmp_path / "out" / "ranges.csv").read_text()
    hits = {Path(h["path"]).name: h for h in json.loads(outcomes[1]["stdout"])}
    assert {"walk.mp4", "church.jpg"} <= set(hits)
    assert isinstance(hits["walk.mp4"]["time"], float) and "time" not in hits["church.jpg"]
    problems = {Path(p["path"]).name: p["reason"]
                for p in json.loads(outcomes[2]["stdout"])["problems"]}
    assert problems == {"voice.mp4": "no video track (an audio-only file?)"}


def test_a_read_only_folder_is_indexed_on_a_ray_cluster_as_here(
        camera_photos: Path, ray_cluster: RayCluster, tmp_path: Path) -> None:
    """``index --ray``: without root's file privileges, on a read-only folder of real camera
    files, the driver scans and writes its catalog while the cluster's two workers read the
    photos; the folder is left as it was, and the catalog holds what the local pipeline's
    holds: metadata, embeddings (to a float16 step), keywords, thumbnails and the damaged
    file as a problem."""
    for folder, _dirs, files in os.walk(camera_photos):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    before = snapshot(camera_photos)
    on_ray, here = tmp_path / "ray.sqlite", tmp_path / "here.sqlite"
    cases = [{"argv": ["index", str(camera_photos), "--catalog", str(on_ray), "--ray",
                       ray_cluster.address, "-q"]}]
    try:
        outcome = _run(cases, tmp_path, restricted=True)[0]
        assert diff(before, snapshot(camera_photos)) == []
    finally:
        for folder, _dirs, _files in os.walk(camera_photos):
            os.chmod(folder, 0o755)
    assert embedded_figure(outcome["stdout"]) == 70
    with Library(camera_photos, catalog_path=here) as library:
        run(library.index())
    remote, local = catalog_records(on_ray), catalog_records(here)
    assert remote["problems"] == local["problems"] == DAMAGED
    assert remote["unembedded"] == local["unembedded"] == 0
    assert remote.keys() == local.keys() and len(remote) == 70 + 2
    for rel in set(local) - {"problems", "unembedded"}:
        a, b = remote[rel], local[rel]
        assert a["meta"] == b["meta"], rel
        assert a["classes"] == b["classes"] and len(a["classes"]) == 5, rel
        va, vb = a["vector"], b["vector"]
        assert va @ vb / np.linalg.norm(va) / np.linalg.norm(vb) > 1 - 1e-5, rel
        assert np.abs(va - vb).max() <= 2.5e-4, rel  # at most a float16 step
        assert thumbnail_path(a["meta"][0]).stat().st_size > 0
    # the workers' region descriptors, reduced and stored by the driver, are the local ones
    photos = sorted(set(local) - {"problems", "unembedded"})
    regions = []
    for catalog in (on_ray, here):
        with Library(camera_photos, catalog_path=catalog) as library:
            assert region_count(library.catalog, library.model_key) == len(photos)
            regions.append([region_vectors(library.catalog,
                                           library.catalog.photo_by_path(camera_photos / rel).id,
                                           library.model_key) for rel in photos])
    for rel, (boxes_a, vectors_a), (boxes_b, vectors_b) in zip(photos, *regions, strict=True):
        np.testing.assert_allclose(boxes_a, boxes_b, atol=1e-3, err_msg=rel)
        assert np.einsum("ij,ij->i", vectors_a, vectors_b).min() > 0.99, rel
