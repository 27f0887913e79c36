"""SIGKILL during the faces pass (`lookalike faces`): its worker processes exit too, the
catalog stays whole, the next run looks only at what was not committed, and no face is
stored twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from benchmarks import face_photos
from tests.reliability.helpers import PROJECT, library_args, run_cli

KILLS = 1


def _scanned(catalog: Path) -> int:
    try:
        conn = sqlite3.connect(catalog, timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM face_scans").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _check(catalog: Path) -> int:
    """Assert the catalog is whole and each photo looked at has exactly the faces its scan
    record counts (none twice, none half-written); return the number of faces."""
    conn = sqlite3.connect(catalog)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counted = dict(conn.execute("SELECT content_hash, faces FROM face_scans"))
        stored = dict(conn.execute("SELECT content_hash, count(*) FROM faces GROUP BY 1"))
        assert {h: n for h, n in counted.items() if n} == stored
        assert conn.execute("SELECT count(*) FROM faces WHERE length(descriptor) != 512 "
                            "OR thumbnail IS NULL").fetchone()[0] == 0
        return sum(stored.values())
    finally:
        conn.close()


def test_a_killed_faces_pass_resumes_without_loss_or_duplicates(shared_photos: Path,
                                                                tmp_path: Path) -> None:
    root = tmp_path / "photos"
    face_photos.write_set(shared_photos, root, ["devil", "orange", "dudley"], count=3)
    catalog = tmp_path / "catalog.sqlite"
    args = library_args(root, catalog, "-q", "--workers", "1")
    scanned = 0
    for _kill in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "cli", "faces", *args], cwd=PROJECT,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _scanned(catalog) <= scanned and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)  # polling another process: nothing to wait on in this one
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)  # the command only: its workers must follow
        proc.wait()
        _gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, "worker processes outlived the killed command"
        now = _scanned(catalog)
        assert now >= scanned
        scanned = now
        _check(catalog)  # whole after every kill
    if scanned >= 9:
        pytest.fail("the pass finished before it could be killed: make the set larger")
    done = run_cli("faces", *args)
    assert done.returncode == 0, done.stderr
    assert f"Looked at {9 - scanned} photos" in done.stdout
    assert _check(catalog) >= 9  # each photo has its person's face (and some bystanders)
    listing = run_cli("people", *library_args(root, catalog, "--json"))
    assert listing.returncode == 0 and '"people"' in listing.stdout
