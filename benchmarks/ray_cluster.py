"""A real local Ray cluster for ``index --ray`` (benchmarks/ray_index.py, tests/reliability):
a head node with N CPUs (so N embedding workers), started with ``ray start --head --block`` on
free ports in a short temporary folder (Ray's sockets live there), and stopped by ending the
processes of its session (never ``ray stop``: it would stop every cluster on the machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
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
