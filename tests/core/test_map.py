"""The cluster map: deterministic, stored and reused, updated with transform, cancellable,
never half-written; clusters, colourings, selection geometry, the PNG and the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.map import clustered_embeddings
from cli import main
from core import map as core_map
from core.catalog import Catalog, PhotoMeta
from core.errors import Cancelled
from core.jobs import Progress, run
from core.labels import LabelStore
from core.labels.review import train_and_predict
from core.map import clusters as groups
from core.map.engine import MapEngine
from core.map.render import render_png
from core.scan import scan

MODEL = "synthetic@test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def warm_umap() -> None:
    """numba compiles umap once per process (~1 min on two shared cores): do it up front."""
    core_map.warm_up()


class SyntheticLibrary:
    """A real catalog over empty photo files, with clustered synthetic embeddings."""

    def __init__(self, base: Path, n_clusters: int = 8) -> None:
        self.root = base / "photos"
        self.root.mkdir(parents=True)
        self.catalog = Catalog.open(self.root, base / "catalog.sqlite")
        self.n_clusters = n_clusters
        self.vectors, self.labels = clustered_embeddings(2000, n_clusters, seed=3)
        self.used = 0
        self.cluster_of: dict[int, int] = {}

    def add(self, n: int, folder: str = "a") -> list[int]:
        """Add n photos (files + embeddings); returns their ids."""
        (self.root / folder).mkdir(exist_ok=True)
        names = [self.root / folder / f"{self.used + k:05d}.jpg" for k in range(n)]
        for path in names:
            path.write_bytes(b"not decoded by the scan")
        run(scan(self.catalog))
        ids = [self.catalog.photo_by_path(p).id for p in names]  # type: ignore[union-attr]
        rows = []
        for k, photo_id in enumerate(ids):
            j = self.used + k
            year = 2019 + j % 3
            meta = PhotoMeta(f"hash{j:05d}", 640, 480, f"{year}-06-01T12:00:00", None)
            rows.append((photo_id, meta, self.vectors[j]))
            self.cluster_of[photo_id] = int(self.labels[j])
        self.catalog.store_results(MODEL, rows, [])
        self.used += n
        return ids

    def compute(self, **options: object) -> core_map.MapResult:
        return run(core_map.compute_map(self.catalog, MODEL, **options))  # type: ignore[arg-type]


@pytest.fixture
def library(tmp_path: Path) -> SyntheticLibrary:
    lib = SyntheticLibrary(tmp_path)
    lib.add(240)
    yield lib
    lib.catalog.close()


def _nearest_agreement(result: core_map.MapResult, label_of: dict[int, object],
                       rows: np.ndarray | None = None, among: np.ndarray | None = None) -> float:
    """Share of points (``rows``) whose nearest other point (of ``among``) has their label."""
    rows = np.arange(len(result)) if rows is None else rows
    among = np.arange(len(result)) if among is None else among
    d = ((result.xy[rows, None, :] - result.xy[None, among, :]) ** 2).sum(axis=2)
    d[rows[:, None] == among[None, :]] = np.inf
    nearest = among[d.argmin(axis=1)]
    same = [label_of[int(result.ids[r])] == label_of[int(result.ids[n])]
            for r, n in zip(rows, nearest, strict=True)]
    return float(np.mean(same))


def test_map_is_deterministic_stored_and_reused(library: SyntheticLibrary) -> None:
    phases: list[str] = []
    first = run(core_map.compute_map(library.catalog, MODEL),
                lambda p: phases.append(p.phase))
    assert first.how == "fitted" and first.method == "umap" and len(first) == 240
    assert {"pca", "umap", "clusters"} <= set(phases)
    again = library.compute(recompute=True)
    assert again.how == "fitted"
    np.testing.assert_array_equal(first.xy, again.xy)  # same seed, same map
    cached = library.compute()
    assert cached.how == "cached" and cached.seconds < 1.0
    np.testing.assert_array_equal(cached.ids, first.ids)
    np.testing.assert_allclose(cached.xy, first.xy, rtol=1e-6)
    np.testing.assert_array_equal(cached.clusters, again.clusters)
    assert core_map.is_current(library.catalog, MODEL, cached)
    stored = core_map.load_map(library.catalog, MODEL)
    assert stored is not None and stored.params == core_map.MapParams()
    assert core_map.map_model_path(library.catalog, MODEL).is_file()
    other_seed = library.compute(seed=7)
    assert other_seed.how == "fitted" and not np.allclose(other_seed.xy, first.xy)


def test_similar_photos_sit_together_and_clusters_follow(library: SyntheticLibrary) -> None:
    result = library.compute()
    assert _nearest_agreement(result, library.cluster_of) >= 0.9
    assert 4 <= len(result.cluster_info) <= 40
    sizes = [c.size for c in result.cluster_info]
    assert sizes == sorted(sizes, reverse=True)
    assert sum(sizes) == int((result.clusters >= 0).sum())
    for cluster in result.cluster_info:
        members = set(result.ids[result.clusters == cluster.number].tolist())
        assert set(cluster.representatives) <= members and cluster.representatives


def test_new_photos_are_placed_with_transform(library: SyntheticLibrary) -> None:
    first = library.compute()
    new_ids = library.add(30, folder="b")
    updated = library.compute()
    assert updated.how == "updated" and updated.placed == 30 and len(updated) == 270
    position = {int(i): k for k, i in enumerate(updated.ids)}
    old_rows = np.array([position[int(i)] for i in first.ids])
    np.testing.assert_array_equal(updated.xy[old_rows], first.xy)  # old points stay put
    new_rows = np.array([position[i] for i in new_ids])
    assert _nearest_agreement(updated, library.cluster_of, new_rows, old_rows) >= 0.8
    assert library.compute().how == "cached"
    assert library.compute(recompute=True).how == "fitted"


def test_changed_and_removed_photos_update_the_map(library: SyntheticLibrary) -> None:
    first = library.compute()
    changed, removed = int(first.ids[0]), int(first.ids[1])
    meta = PhotoMeta("edited", 640, 480, None, None)
    library.catalog.store_results(MODEL, [(changed, meta, library.vectors[1999])], [])
    library.catalog.photo(removed).path.unlink()  # type: ignore[union-attr]
    run(scan(library.catalog))
    updated = library.compute()
    assert updated.how == "updated" and updated.placed == 1
    assert removed not in updated.ids and len(updated) == 239


def test_many_new_photos_refit(library: SyntheticLibrary) -> None:
    library.compute()
    library.add(200, folder="c")
    assert library.compute().how == "fitted"


def test_cancel_keeps_the_previous_map(library: SyntheticLibrary) -> None:
    before = library.compute()
    library.add(200, folder="c")  # enough to need a refit
    cancel = threading.Event()

    def on_progress(progress: Progress) -> None:
        if progress.phase == "umap":
            cancel.set()

    with pytest.raises(Cancelled):
        run(core_map.compute_map(library.catalog, MODEL, cancel=cancel), on_progress)
    stored = core_map.load_map(library.catalog, MODEL)
    assert stored is not None and len(stored) == len(before) == 240
    assert stored.generation == before.generation


def test_a_killed_computation_leaves_the_previous_map(library: SyntheticLibrary) -> None:
    before = library.compute()
    library.add(200, folder="c")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from core.catalog import Catalog\n"
        "from core.map import compute_map\n"
        "catalog = Catalog.open(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "for p in compute_map(catalog, sys.argv[3], recompute=True):\n"
        "    print(p.phase, flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(library.root), str(library.catalog.path), MODEL],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "umap":  # inside the fit: kill it
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(library.catalog.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = core_map.load_map(library.catalog, MODEL)
    assert stored is not None and len(stored) == 240
    np.testing.assert_allclose(stored.xy, before.xy, rtol=1e-6)
    assert library.compute().how == "fitted"  # the stale map is then refitted, not reused


def test_the_app_engine_makes_the_same_map_in_a_child_process(
        library: SyntheticLibrary, map_engine: MapEngine) -> None:
    here = library.compute()
    engine = map_engine
    cancel = threading.Event()
    warming = engine.warm_up_job(cancel)
    try:
        next(warming)
    except StopIteration:
        pass  # warm already
    else:  # giving up on the warm-up leaves the child compiling, for the map below
        cancel.set()
        with pytest.raises(Cancelled):
            run(warming)
        assert engine._process is not None and engine._process.poll() is None
    phases: list[str] = []
    there = run(engine.compute(library.catalog, MODEL, recompute=True),
                lambda p: phases.append(p.phase))
    assert there.how == "fitted" and engine.warm and "umap" in phases
    np.testing.assert_array_equal(there.ids, here.ids)
    np.testing.assert_allclose(there.xy, here.xy, atol=1e-4)  # same seed, another process
    assert run(engine.compute(library.catalog, MODEL)).how == "cached"


def test_cancelling_the_engine_stops_the_fit_at_once(library: SyntheticLibrary) -> None:
    before = library.compute()
    library.add(200, folder="c")
    engine = MapEngine()  # its own child: killing it leaves the shared one warm
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def on_progress(progress: Progress) -> None:
        if progress.phase == "umap" and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.perf_counter())

    with pytest.raises(Cancelled):
        run(engine.compute(library.catalog, MODEL, recompute=True, cancel=cancel),
            on_progress)
    assert time.perf_counter() - cancelled_at[0] < 5.0
    assert engine._process is None  # killed, not left computing
    stored = core_map.load_map(library.catalog, MODEL)
    assert stored is not None and len(stored) == len(before) == 240
    engine.close()


def test_pca_layout_is_instant_and_small_libraries_get_a_map(tmp_path: Path) -> None:
    lib = SyntheticLibrary(tmp_path)
    lib.add(5)
    preview = core_map.pca_layout(lib.catalog, MODEL)
    assert preview.how == "preview" and preview.xy.shape == (5, 2)
    assert not core_map.is_current(lib.catalog, MODEL, preview)
    tiny = lib.compute()
    assert tiny.method == "pca" and len(tiny) == 5 and lib.compute().how == "cached"
    lib.catalog.close()


def test_variants_of_generated_scenes_land_near_each_other(library_copy) -> None:
    with library_copy.open() as lib:
        result = run(core_map.compute_map(lib.catalog, lib.model_key))
        scene_of = {p.id: library_copy.scene_of(p.path) for p in lib.catalog.photos()}
    assert result.method == "umap" and len(result) == len(scene_of)
    assert _nearest_agreement(result, scene_of) >= 0.7


def test_clusters_of_separate_blobs() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], dtype=np.float32)
    truth = np.repeat(np.arange(4), 50)
    xy = (centres[truth] + rng.normal(0, 1, (200, 2))).astype(np.float32)
    ids = np.arange(1000, 1200, dtype=np.int64)
    labels, info = groups.find_clusters(ids, xy)
    assert len(info) == 4
    for number in range(4):  # each found cluster is one blob
        assert len(set(truth[labels == number])) == 1
    assert groups.find_clusters(ids[:3], xy[:3])[1] == ()


def test_selection_geometry() -> None:
    xy = np.array([[0, 0], [1, 1], [2, 2], [5, 5], [1, 3]], dtype=np.float32)
    assert groups.in_rectangle(xy, (2.5, 2.5), (0.5, 0.5)).tolist() == [1, 2]
    triangle = np.array([[-1, -1], [6, -1], [6, 6]], dtype=np.float64)
    assert groups.in_polygon(xy, triangle).tolist() == [0, 1, 2, 3]
    assert groups.in_polygon(xy, triangle[:2]).tolist() == []
    assert groups.nearest_point(xy, (1.1, 0.9), (0.1, 0.1), radius_px=5) == 1
    assert groups.nearest_point(xy, (3.5, 3.5), (0.1, 0.1), radius_px=5) is None


def test_colourings(library: SyntheticLibrary) -> None:
    result = library.compute()
    store = LabelStore(library.catalog)
    kind = store.create_set("Kind")
    first, second = store.add_label(kind.id, "first"), store.add_label(kind.id, "second")
    of = np.array([library.cluster_of[int(i)] for i in result.ids])
    store.assign(first.id, result.ids[of == 0][:12].tolist())
    store.assign(second.id, result.ids[of == 1][:12].tolist())
    options = groups.colourings(library.catalog, result.ids, result.clusters, MODEL)
    assert list(options) == ["Cluster", "Folder", "Capture date", "Label: Kind"]
    by_date = options["Capture date"]()
    assert by_date.legend == ("2019", "2020", "2021") and by_date.sequential
    assert sum(by_date.counts) == 240
    by_label = options["Label: Kind"]()
    assert by_label.legend == ("first", "second") and by_label.counts == (12, 12)
    assert options["Folder"]().legend == ("a",)
    assert options["Cluster"]().counts == tuple(c.size for c in result.cluster_info)
    run(train_and_predict(library.catalog, kind.id, MODEL))
    options = groups.colourings(library.catalog, result.ids, result.clusters, MODEL)
    predicted = options["Predicted: Kind"]()
    assert predicted.legend == ("first", "second") and sum(predicted.counts) == 240
    assert (predicted.values[of == 0] == 0).mean() > 0.9  # unlabelled photos of cluster 0 too


def test_render_png_with_dots_and_thumbnails(library_copy, tmp_path: Path) -> None:
    with library_copy.open() as lib:
        result = run(core_map.compute_map(lib.catalog, lib.model_key))
        dots = render_png(result, tmp_path / "dots.png", size=800)
        thumbs = render_png(result, tmp_path / "thumbs.png", catalog=lib.catalog,
                            thumbnails=True, size=800)
    with Image.open(dots) as a, Image.open(thumbs) as b:
        assert a.size == b.size == (800, 560)
        # thumbnails add many more distinct colours than dots on a plain background
        assert len(b.getcolors(1 << 20) or []) > 3 * len(a.getcolors(1 << 20) or [])


def test_cli_map(library_copy, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "map.png"
    argv = ["map", str(library_copy.root), "--catalog", str(library_copy.catalog_path),
            "--model", "resnet50", "--weights", "none", "--png", str(png), "--thumbnails"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    n = sum(len(p) for p in library_copy.scenes.values())
    assert out["photos"] == n and out["how"] == "fitted"
    assert all(Path(p).is_file() for c in out["clusters"] for p in c["representatives"])
    assert png.is_file()
    assert main([*argv[:6], "-q"]) == 0
    assert "map cached" in capsys.readouterr().out


def test_a_large_library_is_mapped_from_a_fitted_sample(
        library: SyntheticLibrary, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SAMPLED_ABOVE photos UMAP is fitted on a sample and every other photo is placed
    with transform, a block of embeddings at a time (never the whole library in memory)."""
    from core.map import layout, sampled

    monkeypatch.setattr(layout, "SAMPLED_ABOVE", 100)
    monkeypatch.setattr(sampled, "FIT_SAMPLE", 120)
    monkeypatch.setattr(sampled, "PLACE_BLOCK", 50)
    monkeypatch.setattr(library.catalog, "embeddings", _whole_library_guard(library.catalog))
    first = library.compute()
    assert first.how == "fitted" and first.method == "umap" and len(first) == 240
    assert first.placed == 120  # the sample keeps its fitted places
    assert _nearest_agreement(first, library.cluster_of) >= 0.8
    assert library.compute().how == "cached"
    preview = core_map.pca_layout(library.catalog, MODEL)
    assert len(preview) == 240 and np.isfinite(preview.xy).all()
    new_ids = library.add(30, folder="b")
    updated = library.compute()
    assert updated.how == "updated" and updated.placed == 30 and len(updated) == 270
    position = {int(i): k for k, i in enumerate(updated.ids)}
    old_rows = np.array([position[int(i)] for i in first.ids])
    np.testing.assert_array_equal(updated.xy[old_rows], first.xy)  # old points stay put
    new_rows = np.array([position[i] for i in new_ids])
    assert _nearest_agreement(updated, library.cluster_of, new_rows, old_rows) >= 0.8
    library.add(150, folder="c")  # more than half the library at fit time: refit
    assert library.compute().how == "fitted"


def _whole_library_guard(catalog: Catalog) -> object:
    """catalog.embeddings that fails when asked for every photo's vectors at once."""
    real = catalog.embeddings

    def embeddings(model: str, ids: object = None) -> object:
        assert ids is not None, "the whole library's embeddings were read at once"
        return real(model, ids)

    return embeddings
