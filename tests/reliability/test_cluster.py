"""``lookalike index FOLDER --ray ADDRESS`` on a real local Ray cluster (two workers): a
driver killed mid-run and a worker killed mid-run lose nothing; errors are one line. (That it
gives the local pipeline's embeddings, on a read-only folder: test_read_only.py.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli import main
from tests.reliability.helpers import PROJECT, embedded_figure, one_line_error, run_cli
from tests.reliability.ray_cluster import DAMAGED, RayCluster, catalog_records, free_port


def _embedded(catalog: Path) -> int:
    try:
        conn = sqlite3.connect(catalog, timeout=0.5)
        try:
            return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet, or no tables yet
        return 0


def _kill_after_first_batch(proc: subprocess.Popen, catalog: Path, victims=None) -> None:
    """Wait until a batch is committed, then SIGKILL ``victims()`` (default: ``proc``)."""
    deadline = time.monotonic() + 240
    while _embedded(catalog) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for pid in (victims() if victims else [proc.pid]):
        os.kill(pid, signal.SIGKILL)


def test_a_killed_driver_then_a_killed_worker_lose_nothing(
        camera_photos: Path, ray_cluster: RayCluster, tmp_path: Path) -> None:
    """Kill the driver after its first batch; the rerun (whose worker is killed after the
    first batch too: Ray starts another) embeds exactly what was missing."""
    catalog = tmp_path / "catalog.sqlite"
    argv = [sys.executable, "-m", "cli", "index", str(camera_photos), "--catalog", str(catalog),
            "--ray", ray_cluster.address, "-q"]
    driver = subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    _kill_after_first_batch(driver, catalog)
    assert driver.wait(timeout=60) == -signal.SIGKILL
    done = catalog_records(catalog)
    kept = len(done) - 2
    assert 0 < kept < 70, "the driver was to be killed mid-run"
    assert all(abs(np.linalg.norm(r["vector"]) - 1) < 0.01 for k, r in done.items()
               if k not in ("problems", "unembedded"))

    rerun = subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    before = kept
    deadline = time.monotonic() + 240
    while _embedded(catalog) == before:  # the rerun's first batch
        assert rerun.poll() is None, rerun.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    workers = ray_cluster.workers()
    assert workers, "no Ray worker process found"
    os.kill(workers[0], signal.SIGKILL)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert embedded_figure(out) == 70 - kept  # nothing done twice
    after = catalog_records(catalog)
    assert after["unembedded"] == 0 and len(after) == 70 + 2
    assert after["problems"] == DAMAGED
    for rel, record in done.items():  # what the killed run committed stays as it was
        if rel not in ("problems", "unembedded"):
            assert after[rel]["meta"] == record["meta"]


def test_cluster_errors_are_one_line(shared_photos: Path, ray_cluster: RayCluster,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong address, no Ray, or workers the cluster cannot hold: one line each, and the
    first two before anything is scanned."""
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.jpg").write_bytes((shared_photos / "exif-samples/jpg/Nikon_D70.jpg").read_bytes())
    lib = [str(root), "--catalog", str(tmp_path / "c.sqlite"), "-q"]

    def error(*argv: str) -> str:
        code = main(["index", *lib, *argv])
        return one_line_error(code, capsys.readouterr().err)

    port = free_port()  # nothing listens there
    assert f"Cannot reach a Ray cluster at 127.0.0.1:{port}" in error("--ray", f"127.0.0.1:{port}")
    assert "'head-node' is not a Ray address" in error("--ray", "head-node")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "ray", None)  # as without the extra: import ray fails
        line = error("--ray", ray_cluster.address)
    assert "Ray is not installed" in line and "lookalike[cluster]" in line
    assert not (tmp_path / "c.sqlite").exists()  # nothing scanned before the errors
    gpus = run_cli("index", *lib, "--ray", ray_cluster.address, "--ray-gpus", "1")
    line = one_line_error(gpus.returncode, gpus.stderr)  # Ray would wait for them forever
    assert f"The Ray cluster at {ray_cluster.address} has 0 GPUs" in line


def test_the_visual_layer_on_a_cluster_is_the_local_one(
        shared_photos: Path, ray_cluster: RayCluster, tmp_path: Path) -> None:
    """``index --layer visual --ray``: the workers run the visual layer's export, and the
    catalog holds the local visual embeddings and regions, remembered as the library's."""
    from core.embed.models import DEFAULT_MODEL, model_key
    from core.jobs import run
    from core.library import Library
    from core.regions import region_vectors

    root = tmp_path / "photos"
    root.mkdir()
    for path in sorted((shared_photos / "exif-samples/jpg").glob("[A-N]*.jpg"))[:8]:
        (root / path.name).write_bytes(path.read_bytes())
    key = model_key(DEFAULT_MODEL, "default", layer="visual")
    on_ray, here = tmp_path / "ray.sqlite", tmp_path / "here.sqlite"
    out = run_cli("index", str(root), "--catalog", str(on_ray), "--layer", "visual",
                  "--ray", ray_cluster.address, "-q")
    assert out.returncode == 0, out.stderr
    assert embedded_figure(out.stdout) == 8
    with Library(root, catalog_path=here, layer="visual") as library:
        run(library.index())
    remote, local = catalog_records(on_ray, key), catalog_records(here, key)
    assert remote.keys() == local.keys() and len(remote) == 8 + 2
    for rel in set(local) - {"problems", "unembedded"}:
        va, vb = remote[rel]["vector"], local[rel]["vector"]
        assert va.shape == (192,) and np.abs(va - vb).max() <= 2.5e-4, rel
    with Library(root, catalog_path=on_ray) as library:  # the layer is remembered
        assert (library.layer, library.model_key) == ("visual", key)
        photo = library.catalog.photo_by_path(root / sorted(set(local) - {"problems",
                                                                          "unembedded"})[0])
        found = region_vectors(library.catalog, photo.id, key)
        assert found is not None
        boxes, vectors = found
        assert len(boxes) > 0 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
