"""Memory benchmark: peak resident memory of ``lookalike index`` over N generated photos.

    python -m benchmarks.memory [--photos 10000] [--model resnet50] [--quick] [--workdir DIR]

Generates N distinct JPEG photos (640x480 by default: 200 synthetic scenes, each copy with
its own patch and noise, so every file differs), then runs the real command
``python -m cli index FOLDER --weights none`` in a child process with its own catalog and
thumbnail cache, sampling the child's resident memory (RSS) every 0.2 s against the number
of photos embedded so far. Prints the peak (the kernel's high-water mark, ``ru_maxrss``)
and the RSS when 10 %, 50 % and 90 % of the photos were embedded: a pipeline that streams
keeps these flat; one that holds images grows with N.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from benchmarks import synthetic

PROJECT = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.2
N_SCENES = 200


def _write_chunk(args: tuple[Path, int, int, tuple[int, int]]) -> int:
    folder, start, stop, size = args
    bases = {}
    for i in range(start, stop):
        scene = i % N_SCENES
        if scene not in bases:
            bases[scene] = synthetic.scene(scene, size)
        rng = np.random.default_rng(i)
        pixels = np.array(bases[scene])
        h, w = pixels.shape[:2]
        y, x = int(rng.integers(0, h - 40)), int(rng.integers(0, w - 40))
        pixels[y:y + 40, x:x + 40] = rng.integers(0, 256, 3, dtype=np.uint8)
        pixels = np.clip(pixels.astype(np.int16) + rng.integers(-3, 4, pixels.shape), 0, 255)
        path = folder / f"{i // 1000:03d}" / f"photo_{i:06d}.jpg"
        synthetic.write_jpeg(path, Image.fromarray(pixels.astype(np.uint8)), quality=88)
    return stop - start


def generate(folder: Path, n: int, size: tuple[int, int]) -> float:
    """Write ``n`` distinct photos under ``folder`` (kept if already there); seconds."""
    start = time.perf_counter()
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == n:
        return 0.0
    chunks = [(folder, a, min(n, a + 250), size) for a in range(0, n, 250)]
    with ProcessPoolExecutor(max(1, (os.cpu_count() or 2))) as pool:
        assert sum(pool.map(_write_chunk, chunks)) == n
    return time.perf_counter() - start


def _embedded(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with sqlite3.connect(f"{catalog.as_uri()}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.Error:
        return 0


def measure(folder: Path, n: int, model: str, work: Path) -> dict[str, float]:
    """Index ``folder`` in a child process; its peak RSS and RSS along the way (MB)."""
    catalog = work / "catalog.sqlite"
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"),
           "XDG_DATA_HOME": str(work / "data")}
    command = [sys.executable, "-m", "cli", "index", str(folder), "--model", "resnet50",
               "--weights", "none",
               "--model", model, "--catalog", str(catalog), "-q"]
    start = time.perf_counter()
    with open(work / "out.txt", "w") as out, open(work / "err.txt", "w") as err:
        child = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=out, stderr=err)
    process = psutil.Process(child.pid)
    samples: list[tuple[int, float]] = []  # (photos embedded, RSS bytes)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(psutil.Error):
            samples.append((_embedded(catalog), process.memory_info().rss))
        time.sleep(SAMPLE_S)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(f"lookalike index failed: {(work / 'err.txt').read_text()}")
    peak_kb = usage.ru_maxrss  # this child's high-water mark (Linux: kilobytes)
    figures = {"seconds": seconds, "peak": peak_kb / 1024, "embedded": _embedded(catalog)}
    for share in (0.1, 0.5, 0.9):
        after = [rss for done, rss in samples if done >= share * n]
        figures[f"rss{int(share * 100)}"] = (after[0] if after else float("nan")) / 2**20
    figures["summary"] = (work / "out.txt").read_text().strip()  # type: ignore[assignment]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", default="640x480", help="photo size (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="50 photos of 320x240, mobilenet_v3_small (seconds)")
    parser.add_argument("--workdir", type=Path,
                        help="keep the photos here (reused by the next run); default: temporary")
    args = parser.parse_args(argv)
    n, model = (50, "mobilenet_v3_small") if args.quick else (args.photos, args.model)
    size = (320, 240) if args.quick else tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="lookalike-memory-") as tmp:
        base = args.workdir or Path(tmp)
        photos = base / f"photos-{n}-{size[0]}x{size[1]}"
        generated = generate(photos, n, size)  # type: ignore[arg-type]
        work = Path(tmp) / "run"
        work.mkdir()
        figures = measure(photos, n, model, work)
    print(f"# memory benchmark: lookalike index of {n:,} generated {size[0]}x{size[1]} JPEGs "
          f"({generated:.0f} s to generate), model {model} (random weights), "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
    print("| photos | model | wall s (with start-up) | RSS at 10 % MB | at 50 % MB | at 90 % MB "
          "| peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n:,} | {model} | {figures['seconds']:.0f} | {figures['rss10']:.0f} | "
          f"{figures['rss50']:.0f} | {figures['rss90']:.0f} | {figures['peak']:.0f} |")
    print(f"# {figures['summary']}")
    return 0 if figures["embedded"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
