"""App benchmark: start-up time, UI-thread stalls and memory of the desktop app on a big catalog.

    python -m benchmarks.app [--quick] [--photos 100000] [--new 48] [--display :94 | --offscreen]

Builds (once, cached under ``/tmp/lookalike-bench-app``) a library of N photo files (hard
links to 1,000 small distinct JPEGs, in folders of 1,000) and its real catalog, filled
through the catalog's own connection: N photo rows with random capture dates and random
float16 embeddings for ``resnet50@random0``, plus the thumbnails of the distinct photos.
A folder of ``--new`` photos that the catalog does not know yet makes the app embed on
start. Then it launches ``python -m cli FOLDER --weights none`` (the real entry point,
through a small wrapper that adds probes) on a copy of that catalog, and measures:

- window: seconds from launching the process to the main window shown, and to usable
  (shown, with all N photos listed in the grid);
- stalls: the longest gap of a 10 ms QTimer heartbeat on the UI thread while the app scans
  and embeds, then while the benchmark scrolls through the whole grid (a jump per step
  over the whole range, then page by page);
- memory: the app's peak resident memory (RSS) with the catalog open.

Targets: window under 2 s, stalls under 100 ms. Each long stall is listed with the UI
thread's own CPU time during it: little CPU means the thread was waiting (for the GIL that
worker threads hold, or for a core), not working. To see where the time goes, set
``LOOKALIKE_BENCH_STACKS=FILE`` (every thread's stack is written whenever the UI thread
stalls for over 120 ms) or ``LOOKALIKE_BENCH_PROFILE=FILE`` (cProfile of the UI thread).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._app_probe import HEARTBEAT_MS

log = logging.getLogger(__name__)

CACHE = Path(tempfile.gettempdir()) / "lookalike-bench-app"

TARGET_WINDOW_S = 2.0
TARGET_STALL_MS = 100.0
MODEL = "resnet50"
PER_FOLDER = 1000


# -- the library and its catalog -------------------------------------------------------------


def build_fixture(n: int, distinct: int, new: int, cache: Path = CACHE) -> Path:
    """The cached fixture folder: ``photos/`` (the library) and ``home/`` (its catalog and
    thumbnails, under XDG_DATA_HOME and XDG_CACHE_HOME)."""
    base = cache / f"n{n}-d{distinct}-new{new}"
    if (base / "ready").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    from benchmarks import synthetic
    from benchmarks._common import environ
    from core import decode, thumbnails

    root, home = base / "photos", base / "home"
    sources = base / "sources"
    start = time.perf_counter()
    hashes, sizes = [], []
    for i in range(distinct):
        path = sources / f"src_{i:04d}.jpg"
        synthetic.write_jpeg(path, synthetic.scene(seed=50_000 + i, size=(320, 240)), quality=85)
        data = path.read_bytes()
        hashes.append(hashlib.blake2b(data, digest_size=16).hexdigest())
        sizes.append(len(data))
    for i in range(new):
        synthetic.write_jpeg(root / "new" / f"new_{i:03d}.jpg",
                             synthetic.scene(seed=90_000 + i, size=(640, 480)), quality=90)
    files = []
    for k in range(n):
        folder = root / f"d{k // PER_FOLDER:03d}"
        if k % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"IMG_{k:06d}.jpg"
        os.link(sources / f"src_{k % distinct:04d}.jpg", target)
        files.append(target)
    log.info("%d files in %.1f s", n, time.perf_counter() - start)
    with environ(XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache")):
        _fill_catalog(root, files, hashes, sizes, distinct)
        for i, digest in enumerate(hashes):
            thumbnails.save(digest, decode.decode_file(sources / f"src_{i:04d}.jpg").image)
    (base / "ready").touch()
    log.info("fixture ready in %.1f s", time.perf_counter() - start)
    return base



def _fill_catalog(root: Path, files: list[Path], hashes: list[str], sizes: list[int],
                  distinct: int) -> None:
    """N photo rows and N random unit float16 embeddings, inserted in one transaction."""
    import numpy as np

    from core.catalog import Catalog
    from core.embed.models import MODELS, model_key

    key, dim = model_key(MODEL, "none"), MODELS[MODEL].dim
    rng = np.random.default_rng(0)
    day0 = random.Random(0)
    with Catalog.open(root, create=True) as catalog, catalog.transaction() as tx:
        mtimes = [os.stat(files[i]).st_mtime_ns for i in range(min(distinct, len(files)))]
        rows = []
        for k, path in enumerate(files):
            when = 1_500_000_000 + day0.randrange(0, 250_000_000)
            captured = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
            rows.append((k + 1, catalog.encode_path(path), sizes[k % distinct],
                         mtimes[k % distinct], hashes[k % distinct], 320, 240, captured,
                         "Canon EOS 5D Mark IV", time.time()))
        tx.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, content_hash, width, height, "
            "captured_at, camera, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for start in range(0, len(files), 10_000):
            m = min(10_000, len(files) - start)
            vectors = rng.standard_normal((m, dim), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            blobs = vectors.astype(np.float16)
            tx.executemany(
                "INSERT INTO embeddings (photo_id, model, vector) VALUES (?, ?, ?)",
                ((start + i + 1, key, blobs[i].tobytes()) for i in range(m)))
        catalog.bump_generation(key, tx)


# -- the benchmark (parent) ------------------------------------------------------------------


def start_display(display: str) -> subprocess.Popen[bytes] | None:
    """Start Xvfb on ``display`` unless one answers there already; the process we started."""
    number = display.lstrip(":")
    if Path(f"/tmp/.X11-unix/X{number}").exists():
        return None
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed: use --offscreen")
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            return proc
        time.sleep(0.05)
    proc.terminate()
    raise SystemExit(f"Xvfb did not start on {display}")


def run_app(fixture: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One launch of the app on a fresh copy of the fixture's catalog and thumbnails."""
    from benchmarks._common import PeakSampler

    with tempfile.TemporaryDirectory(prefix="lookalike-bench-app-") as tmp:
        home = Path(tmp)
        shutil.copytree(fixture / "home", home, dirs_exist_ok=True,
                        copy_function=_link_or_copy)
        env = dict(os.environ, XDG_DATA_HOME=str(home / "data"),
                   XDG_CACHE_HOME=str(home / "cache"), XDG_CONFIG_HOME=str(home / "config"))
        if args.offscreen:
            env["QT_QPA_PLATFORM"] = "offscreen"
        else:
            env["DISPLAY"] = args.display
            env.pop("QT_QPA_PLATFORM", None)
        out = home / "result.json"
        command = [sys.executable, "-m", "benchmarks.app", "--child", str(fixture / "photos"),
                   "--out", str(out), "--expect", str(n), "--model", args.model,
                   "--scroll-jumps", str(args.scroll_jumps),
                   "--scroll-pages", str(args.scroll_pages), "--timeout", str(args.timeout)]
        launched = time.time()
        proc = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[1])
        with PeakSampler(proc.pid, interval_s=0.1) as rss:
            try:
                proc.wait(args.timeout + 30)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                proc.wait(10)
        if not out.exists():
            raise RuntimeError(f"the app exited ({proc.returncode}) without a result")
        result = json.loads(out.read_text())
    result["launched"] = launched
    result["sampled_peak_mb"] = rss.peak_mb
    return result


def _link_or_copy(src: str, dst: str) -> None:
    """The catalog is copied (the app writes it); thumbnails are hard-linked (read only)."""
    if src.endswith(".jpg"):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def cells(n: int, display: str, r: dict[str, Any]) -> list[object]:
    def stall(phases: Sequence[str]) -> float:
        values = [r["gaps"][p][0] for p in phases if p in r["gaps"]]
        return max(values) if values else float("nan")

    shown = r["shown_at"] - r["launched"]
    usable = r["usable_at"] - r["launched"]
    work = max((gap for phase, (gap, _) in r["gaps"].items()
                if phase not in ("starting", "listing", "settling", "scrolling", "done")),
               default=float("nan"))
    scroll = stall(("scrolling",))
    return [f"{n:,}", display, f"{shown:.2f}", f"{usable:.2f}",
            f"<{TARGET_WINDOW_S:g} {'ok' if usable < TARGET_WINDOW_S else 'MISS'}",
            f"{stall(('scanning',)):.0f}", f"{stall(('embedding',)):.0f}", f"{work:.0f}",
            f"{scroll:.0f}",
            f"<{TARGET_STALL_MS:g} {'ok' if max(work, scroll) < TARGET_STALL_MS else 'MISS'}",
            f"{r['ru_maxrss_mb']:.0f}", f"{max(r['ru_maxrss_mb'], r['sampled_peak_mb']):.0f}"]


HEADERS = ["photos", "display", "window shown s", "usable s", "target", "stall scan ms",
           "stall embed ms", "stall indexing ms", "stall scroll ms", "target", "app peak RSS MB",
           "with children MB"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 photos, 4 new, offscreen, mobilenet_v3_small (seconds)")
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=1000, help="distinct image files")
    parser.add_argument("--new", type=int, default=48, help="photos to embed on start")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--display", default=":94", help="X display; Xvfb is started if none")
    parser.add_argument("--offscreen", action="store_true", help="Qt's offscreen platform")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--scroll-jumps", type=int, default=100)
    parser.add_argument("--scroll-pages", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        from benchmarks._app_probe import child

        return child(args)
    if args.quick:
        args.photos, args.distinct, args.new, args.offscreen = 2000, 50, 4, True
        args.model, args.scroll_jumps, args.scroll_pages = "mobilenet_v3_small", 10, 10
        args.timeout = min(args.timeout, 300)
    from benchmarks._common import machine_line, print_table

    fixture = build_fixture(args.photos, args.distinct, args.new, args.cache)
    xvfb = None if args.offscreen else start_display(args.display)
    try:
        results = [run_app(fixture, args.photos, args) for _ in range(args.repeat)]
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    display = "offscreen" if args.offscreen else f"Xvfb {args.display}"
    print(f"# app benchmark: {machine_line()}")
    print(f"# {args.photos:,} photos in the catalog, {args.new} new to embed ({args.model}); "
          f"heartbeat {HEARTBEAT_MS} ms; targets: usable < {TARGET_WINDOW_S:g} s, "
          f"stalls < {TARGET_STALL_MS:g} ms")
    for r in results:
        if "error" in r:
            print(f"# error: {r['error']}")
    ok = [r for r in results if "usable_at" in r]
    print_table(HEADERS, [cells(args.photos, display, r) for r in ok])
    for r in ok:
        print(f"# longest stalls (ms, phase, UI thread CPU ms): {r['worst']}; "
              f"rows at the end: {r.get('rows')}")
    return 0 if ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(main())
