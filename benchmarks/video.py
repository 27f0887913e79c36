"""Video benchmark (issue 22): indexing a one-minute 1080p H.264 clip, and the scene figures.

    python -m benchmarks.video [--quick] [--seconds 60] [--height 1080] [--model NAME]
                               [--repeat 3] [--mixed PHOTOS,CLIPS] [--megapixels 12]

Makes (once, cached under /tmp/lookalike-bench-video) a clip of slow pans across real photos
(``benchmarks/clips.py``: 10 s a shot, 30 fps, keyframe every second as phones do, libx264
"veryfast"), then indexes it with the product's own pass (:func:`core.video.index_clips`
through ``Library.index``: hash, keyframe decode, signatures, embeddings, thumbnails,
commits) in a fresh catalog each run, the model loaded and its calibration done beforehand
(as for a library's second clip). Target: a one-minute 1080p clip in <= 5 s with the default
model (EfficientNet-Lite0 with its real weights from its wheel; torchvision models such as
``--model resnet50`` run with random weights: no download here, same speed).

It also prints the figures the scene defaults (``core.video.scenes.SceneOptions``) come
from: the signature's change between consecutive keyframes within a shot and at a cut.

``--mixed PHOTOS,CLIPS`` also indexes a mixed folder: PHOTOS camera-like JPEGs of
``--megapixels`` (``benchmarks.indexing.photo_folder``, cached) and CLIPS copies of the clip,
as the whole ``lookalike index`` job (scan, photos, clips; fresh catalog and thumbnail
cache, the model loaded), three ways interleaved: the photos alone, the clips alone, both
together. Target: the mixed folder takes no longer than its photos and its clips apart
(+5 %): the photos are not slowed by more than the clips' own share.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks._common import machine_line, median, print_table
from benchmarks.clips import make_clip, shot_photos
from core.embed.models import DEFAULT_MODEL
from core.jobs import run
from core.library import Library
from core.video.indexer import FRAME_SIDE, unrelated_distance
from core.video.reader import ClipDecoder
from core.video.scenes import SceneOptions, signature, signature_change

CACHE = Path(tempfile.gettempdir()) / "lookalike-bench-video"
SHOT_S = 10.0
TARGET_S = 5.0
MIXED_SLACK = 1.05  # the mixed folder may take 5 % more than its parts apart


def bench_clip(seconds: float, height: int, fps: int) -> tuple[Path, list[float]]:
    """The cached clip (made on first use) and its cut times."""
    width = round(height * 16 / 9 / 2) * 2
    photos = shot_photos()
    n = max(1, round(seconds / SHOT_S))
    chosen = [photos[i % len(photos)] for i in range(n)]
    path = CACHE / f"pans-{seconds:g}s-{height}p-{fps}fps.mp4"
    cuts = [SHOT_S * i for i in range(1, n)]
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        started = time.perf_counter()
        make_clip(tmp, chosen, seconds / n, size=(width, height), fps=fps, preset="veryfast")
        tmp.rename(path)
        print(f"made {path} ({path.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - started:.0f} s")
    return path, [seconds / n * i for i in range(1, n)] if n > 1 else cuts


def signature_figures(path: Path, cuts: Sequence[float]) -> list[list[object]]:
    """Signature change between consecutive keyframes: within shots and across cuts."""
    within: list[tuple[float, float]] = []
    across: list[tuple[float, float]] = []
    previous = None
    last_time = 0.0
    for frame in ClipDecoder(path, side=FRAME_SIDE, every=0.0):
        sig = signature(frame.pixels)
        if previous is not None:
            crossed = any(last_time < c <= frame.time for c in cuts)
            (across if crossed else within).append(signature_change(previous, sig))
        previous, last_time = sig, frame.time
    rows: list[list[object]] = []
    for name, values in (("within a shot", within), ("at a cut", across)):
        if values:
            arr = np.asarray(values)
            rows.append([name, len(values), round(float(np.median(arr[:, 0])), 3),
                         round(float(arr[:, 0].max()), 3), round(float(arr[:, 0].min()), 3),
                         round(float(np.median(arr[:, 1])), 3), round(float(arr[:, 1].max()), 3)])
    return rows


def index_once(clip: Path, model: str, tmp: Path, library_cache: dict[str, Library]
               ) -> tuple[float, float, float, int]:
    """(wall s, CPU s of all threads, decode-only s, frames kept) of indexing the clip in a
    fresh catalog."""
    root = tmp / "library"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / clip.name).symlink_to(clip)
    catalog = tmp / f"catalog-{time.monotonic_ns()}.sqlite"
    warm = library_cache.get("warm")
    weights = "default" if model.startswith("efficientnet") else "none"  # shipped / no download
    with Library(root, catalog_path=catalog, model=model, weights=weights) as library:
        if warm is not None:
            library._embedder = warm.embedder  # the model loaded once (as in a session)
        unrelated_distance(library.catalog, library.embedder)  # once per library and model
        run(library.scan())
        started, cpu = time.perf_counter(), time.process_time()
        result = run(library.embed())
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if warm is None:
            library_cache["warm"] = library
    started = time.perf_counter()
    for _frame in ClipDecoder(clip, side=FRAME_SIDE, every=SceneOptions().sample_every):
        pass
    decode = time.perf_counter() - started
    return wall, cpu, decode, result.frames


def index_folder(photos: Sequence[Path], clips: Sequence[Path], model: str,
                 warm: dict[str, Library]) -> tuple[float, float]:
    """(wall s, CPU s of all threads) of the whole index job on a folder of links to these
    photos and clips, in a fresh catalog and thumbnail cache (the model loaded once and kept
    in ``warm``)."""
    from benchmarks.indexing import fresh_user_dirs

    with fresh_user_dirs() as tmp:
        root = tmp / "library"
        root.mkdir()
        for i, path in enumerate(photos):
            (root / f"p{i:04d}{path.suffix}").symlink_to(path)
        for i, path in enumerate(clips):
            (root / f"c{i:02d}{path.suffix}").symlink_to(path)
        weights = "default" if model.startswith("efficientnet") else "none"
        with Library(root, catalog_path=tmp / "catalog.sqlite", model=model,
                     weights=weights) as library:
            if "warm" in warm:
                library._embedder = warm["warm"].embedder
            if clips:
                unrelated_distance(library.catalog, library.embedder)  # once per model
            started, cpu = time.perf_counter(), time.process_time()
            result = run(library.index())
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            warm.setdefault("warm", library)
    if result.embed.embedded != len(photos) + len(clips):  # clips count among embedded
        raise RuntimeError(f"indexed {result.embed} of {len(photos)} photos, {len(clips)} clips")
    return seconds, cpu


def bench_mixed(clip: Path, n_photos: int, n_clips: int, megapixels: float, model: str,
                repeat: int, seconds: float, warm: dict[str, Library]) -> list[list[object]]:
    """Rows: photos alone, clips alone, both; and whether the mixed folder met its target.
    ``warm``: a library whose model is loaded (else one is made)."""
    from benchmarks.indexing import photo_folder

    photos = sorted(photo_folder(megapixels, n_photos).iterdir())
    clips = [clip] * n_clips
    if "warm" not in warm:
        index_folder(photos[:2], [], model, warm)  # load the model
    runs: dict[str, list[tuple[float, float]]] = {"photos": [], "clips": [], "mixed": []}
    for _ in range(repeat):
        runs["photos"].append(index_folder(photos, [], model, warm))
        runs["clips"].append(index_folder([], clips, model, warm))
        runs["mixed"].append(index_folder(photos, clips, model, warm))
    p, c, m = (median([r[0] for r in runs[k]]) for k in ("photos", "clips", "mixed"))
    pc, cc, mc = (median([r[1] for r in runs[k]]) for k in ("photos", "clips", "mixed"))
    video = n_clips * seconds
    mixed_rate = n_photos / (m - c) if m > c else float("inf")
    return [
        ["photos alone", n_photos, 0, round(p, 2), round(pc, 2), round(n_photos / p, 1), "",
         ""],
        ["clips alone", 0, n_clips, round(c, 2), round(cc, 2), "", round(video / c, 1), ""],
        ["mixed", n_photos, n_clips, round(m, 2), round(mc, 2), round(mixed_rate, 1), "",
         f"{m / (p + c):.2f} x parts: {'yes' if m <= MIXED_SLACK * (p + c) else 'NO'}"],
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 20 s 240p clip, one run")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mixed", metavar="PHOTOS,CLIPS",
                        help="also index a folder of PHOTOS photos and CLIPS clips (e.g. 96,2)")
    parser.add_argument("--megapixels", type=float, default=12.0,
                        help="the mixed folder's photos (default 12)")
    args = parser.parse_args(argv)
    seconds, height, repeat = ((20.0, 240, 1) if args.quick
                               else (args.seconds, args.height, max(1, args.repeat)))
    clip, cuts = bench_clip(seconds, height, args.fps)
    print(f"# video benchmark: {machine_line()}; {args.model}; median of {repeat}; "
          f"target: a one-minute 1080p clip indexed in <= {TARGET_S:g} s")
    print_table(["keyframe to keyframe", "n", "hist median", "hist max", "hist min",
                 "layout median", "layout max"], signature_figures(clip, cuts),
                title="Signature change (defaults: histogram 0.25, layout 0.2)")
    cache: dict[str, Library] = {}
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-video-") as tmp:
        runs = [index_once(clip, args.model, Path(tmp), cache) for _ in range(repeat)]
    wall, cpu, decode = (median([r[i] for r in runs]) for i in range(3))
    target = TARGET_S * seconds / 60.0
    print_table(["clip", "MB", "shots", "frames kept", "decode-only s", "index s",
                 "index cpu s", "target s", "met"],
                [[f"{seconds:g} s {height}p {args.fps} fps", round(clip.stat().st_size / 1e6, 1),
                  len(cuts) + 1, runs[0][3], round(decode, 2), round(wall, 2), round(cpu, 2),
                  round(target, 2), "yes" if wall <= target else "NO"]],
                title="Indexing one clip (hash, keyframe decode, scenes, embeddings, commits)")
    if args.mixed:
        n_photos, n_clips = (int(v) for v in args.mixed.split(","))
        print_table(["folder", "photos", "clips", "index s", "cpu s", "photos/s", "video s per s",
                     f"mixed <= {MIXED_SLACK:g} x (photos + clips) apart"],
                    bench_mixed(clip, n_photos, n_clips, args.megapixels, args.model, repeat,
                                seconds, cache),
                    title=f"A mixed folder ({args.megapixels:g} MP photos, "
                          f"{seconds:g} s {height}p clips; photos/s of the mixed folder: "
                          f"its photos over its time less the clips' own)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
