"""``lookalike index FOLDER --ray ADDRESS`` on a real local Ray cluster (two workers): the
same embeddings, metadata, keywords and problems as the local pipeline; a driver killed
mid-run and a worker killed mid-run lose nothing; errors are one line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from core.embed.models import DEFAULT_MODEL, model_key
from core.jobs import run
from core.library import Library
from core.thumbnails import thumbnail_path
from tests.reliability.helpers import PROJECT, embedded_figure, one_line_error, run_cli
from tests.reliability.ray_cluster import RayCluster, free_port

KEY = model_key(DEFAULT_MODEL, "default")  # EfficientNet-Lite0, real weights, ONNX Runtime
DAMAGED = {"jpg/corrupted.jpg": "file is damaged or incomplete (truncated)"}


def _catalog(path: Path, root: Path) -> dict[str, dict]:
    """Relative path -> the catalog's record (metadata, float16 vector as float32, keyword
    classes), after checking that it opens whole; problems under "problems"."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT p.path, p.content_hash, p.width, p.height, p.captured_at, p.camera, e.vector "
            "FROM photos p JOIN embeddings e ON e.photo_id = p.id AND e.model = ?", (KEY,))
        out: dict[str, dict] = {}
        for rel, digest, width, height, captured, camera, blob in rows:
            classes = [c for (c,) in conn.execute(
                "SELECT class FROM keywords WHERE content_hash = ? AND model = ? "
                "ORDER BY probability DESC", (digest, KEY))]
            out[os.fsdecode(rel)] = {
                "meta": (digest, width, height, captured, camera), "classes": classes,
                "vector": np.frombuffer(blob, np.float16).astype(np.float32)}
        unembedded = conn.execute(
            "SELECT count(*) FROM photos p WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.photo_id = p.id)").fetchone()[0]
        out["problems"] = {os.fsdecode(p): r for p, r in
                           conn.execute("SELECT path, reason FROM problems")}
        out["unembedded"] = unembedded
        return out
    finally:
        conn.close()


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


def test_ray_index_gives_the_local_pipelines_embeddings(
        camera_photos: Path, ray_cluster: RayCluster, tmp_path: Path) -> None:
    ray_catalog, local_catalog = tmp_path / "ray.sqlite", tmp_path / "local.sqlite"
    proc = run_cli("index", camera_photos, "--catalog", ray_catalog, "--ray",
                   ray_cluster.address, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    with Library(camera_photos, catalog_path=local_catalog) as library:
        run(library.index())
    remote, local = _catalog(ray_catalog, camera_photos), _catalog(local_catalog, camera_photos)
    assert remote["problems"] == local["problems"] == DAMAGED
    assert remote["unembedded"] == local["unembedded"] == 0
    assert remote.keys() == local.keys() and len(remote) == 70 + 2
    for rel in set(local) - {"problems", "unembedded"}:
        a, b = remote[rel], local[rel]
        assert a["meta"] == b["meta"], rel
        assert a["classes"] == b["classes"] and len(a["classes"]) == 5, rel
        cosine = a["vector"] @ b["vector"] / np.linalg.norm(a["vector"]) / np.linalg.norm(
            b["vector"])
        assert cosine > 1 - 1e-5, rel
        assert np.abs(a["vector"] - b["vector"]).max() <= 2.5e-4, rel  # a float16 step
        assert thumbnail_path(a["meta"][0]).stat().st_size > 0
    figures = [embedded_figure(proc.stdout)]
    assert figures == [70]


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
    done = _catalog(catalog, camera_photos)
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
    after = _catalog(catalog, camera_photos)
    assert after["unembedded"] == 0 and len(after) == 70 + 2
    assert after["problems"] == DAMAGED
    for rel, record in done.items():  # what the killed run committed stays as it was
        if rel not in ("problems", "unembedded"):
            assert after[rel]["meta"] == record["meta"]


def test_cluster_errors_are_one_line(shared_photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.jpg").write_bytes((shared_photos / "exif-samples/jpg/Nikon_D70.jpg").read_bytes())
    lib = [root, "--catalog", tmp_path / "c.sqlite", "-q"]
    port = free_port()  # nothing listens there
    proc = run_cli("index", *lib, "--ray", f"127.0.0.1:{port}")
    line = one_line_error(proc.returncode, proc.stderr)
    assert f"Cannot reach a Ray cluster at 127.0.0.1:{port}" in line
    proc = run_cli("index", *lib, "--ray", "head-node")
    assert "'head-node' is not a Ray address" in one_line_error(proc.returncode, proc.stderr)
    no_ray = subprocess.run(  # a machine without the extra: ray cannot be imported
        [sys.executable, "-c", "import sys; sys.modules['ray'] = None; from cli import main; "
         "sys.exit(main(sys.argv[1:]))", "index", *map(str, lib), "--ray", "127.0.0.1:1"],
        cwd=PROJECT, capture_output=True, text=True)
    line = one_line_error(no_ray.returncode, no_ray.stderr)
    assert "Ray is not installed" in line and "lookalike[cluster]" in line
    assert not (tmp_path / "c.sqlite").exists()  # nothing scanned before the error
