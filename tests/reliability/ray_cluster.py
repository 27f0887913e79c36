"""A real local Ray cluster for the tests of ``lookalike index --ray``: a head node with two
CPUs (so two embedding workers), started with ``ray start --head --block`` on free ports in a
short temporary folder (Ray's sockets live there), and stopped by ending that process, which
ends the processes it started (never ``ray stop``: it would stop every cluster here)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.embed.models import DEFAULT_MODEL, model_key
from tests.reliability.helpers import PROJECT

KEY = model_key(DEFAULT_MODEL, "default")  # EfficientNet-Lite0, real weights, ONNX Runtime
DAMAGED = {"jpg/corrupted.jpg": "file is damaged or incomplete (truncated)"}  # of exif-samples
STARTED = "Ray runtime started"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RayCluster:
    """A running local cluster: its address, and the session all its processes are in (each
    Ray worker leads a process group of its own, but stays in the session)."""

    address: str
    session: int

    def workers(self, name: str = "MapWorker") -> list[int]:
        """The pids of this cluster's worker processes whose title holds ``name`` (Ray
        titles an actor's process ``ray::CLASS...``)."""
        return [pid for pid, title in _session_processes(self.session)
                if title.startswith("ray::") and name in title]


def _session_processes(session: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process in ``session``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        found.append((int(entry.name), title))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_cluster(cpus: int = 2) -> Iterator[RayCluster]:
    """Start a one-machine Ray cluster with ``cpus`` CPUs for the block."""
    folder = Path(tempfile.mkdtemp(prefix="lkray", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           # the workers import this checkout's code, as the driver does
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT),
                                                       os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            f"--port={port}", f"--num-cpus={cpus}", "--num-gpus=0",
            f"--temp-dir={folder / 'ray'}", "--include-dashboard=false",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--object-store-memory={200 * 1024**2}", "--disable-usage-stats"]
    log = folder / "start.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=PROJECT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while STARTED not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield RayCluster(f"127.0.0.1:{port}", proc.pid)
    finally:
        _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """End the cluster: SIGTERM to ``ray start --block`` and every process of its session,
    then SIGKILL to what is left after a few seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _title in _session_processes(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
    proc.wait()


def catalog_records(path: Path) -> dict[str, dict]:
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
