"""Indexing benchmark: the `lookalike index` pipeline against its limits and against a peer.

    python -m benchmarks.indexing [--quick] [--photos 48] [--sizes 12,24]
                                  [--models efficientnet_lite0,resnet50] [--repeat 3] [--no-peer]

On generated camera-like JPEGs (``benchmarks.synthetic.big_photo``, cached under
``/tmp/lookalike-bench-photos`` and reused), for each size and model, measured in one run:

- D: decode + resize every photo to the model input alone, through a thread pool as the
  pipeline does (``core.embed.read_photo``: ``decode_file`` with draft mode, ``model_input``);
- C: the CNN alone on the same number of ready inputs (``Embedder.embed_arrays`` in batches);
- P: the whole ``lookalike index`` job (``Library(...).index()``: scan, decode, thumbnails,
  CNN, catalog writes) on a fresh catalog and thumbnail cache, the model already loaded.

On a CPU decoding and inference share the cores, so the limit is D + C (target
P <= 1.15 (D + C)); on a GPU they overlap, so the limit is max(D, C). Each figure is the
median of ``--repeat`` interleaved runs. The default model (EfficientNet-Lite0, its packaged
ImageNet weights, keywords included) must index at least 3x as many photos/s as ResNet-50 in
the same run (``TARGET_VS_RESNET``); other models run with random weights (nothing can be
downloaded here; the speed is the same). The peer is imagededup's ``CNN().encode_images`` with
the same backbone (mobilenet_v3_small, random weights as nothing can be downloaded here)
against ``lookalike index --model mobilenet_v3_small``; target: Lookalike >= 2x faster.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from benchmarks import synthetic
from benchmarks._common import Clock, PeakSampler, environ, machine_line, median, print_table
from core import embed
from core.decode import model_input
from core.embed.cnn import Embedder
from core.embed.models import DEFAULT_MODEL, MODELS
from core.jobs import run
from core.library import Library

log = logging.getLogger(__name__)

CACHE = Path(tempfile.gettempdir()) / "lookalike-bench-photos"
TARGET_RATIO = 1.15
TARGET_PEER = 2.0
TARGET_VS_RESNET = 3.0
PEER_MODEL = "mobilenet_v3_small"


# -- photos ----------------------------------------------------------------------------------


def photo_folder(megapixels: float, n: int, cache: Path = CACHE) -> Path:
    """A folder of exactly ``n`` camera-like JPEGs of ``megapixels``, generated once.

    The photos live in ``cache/<mp>mp/`` (generated on first use, reused after); the
    returned folder holds hard links to the first ``n`` so that each library has the size
    asked for.
    """
    source = cache / f"{megapixels:g}mp"
    source.mkdir(parents=True, exist_ok=True)
    names = [f"photo_{i:04d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        path = source / name
        if path.exists():
            continue
        start = time.perf_counter()
        image = synthetic.big_photo(seed=1000 + i, megapixels=megapixels)
        tmp = source / f".{name}.part"
        synthetic.write_jpeg(tmp, image, quality=92, exif={
            "Make": "Canon", "Model": "Canon EOS 5D Mark IV",
            "DateTimeOriginal": f"2023:06:{1 + i % 28:02d} 12:{i % 60:02d}:00"})
        os.replace(tmp, path)
        log.info("generated %s in %.1f s", path, time.perf_counter() - start)
    folder = cache / f"{megapixels:g}mp-n{n}"
    if not folder.is_dir() or len(list(folder.iterdir())) != n:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name in names:
            try:
                os.link(source / name, folder / name)
            except OSError:
                shutil.copy2(source / name, folder / name)
    return folder


# -- the three measurements ------------------------------------------------------------------


def measure_decode(paths: Sequence[Path], input_size: int,
                   workers: int) -> tuple[Clock, list[np.ndarray]]:
    """D: seconds to decode and resize every photo to the model input, in the pipeline's pool."""
    def one(path: Path) -> np.ndarray:
        return model_input(embed.read_photo(path, input_size).image, input_size)

    with Clock() as clock, ThreadPoolExecutor(workers, thread_name_prefix="bench-decode") as pool:
        arrays = list(pool.map(one, paths))
    return clock, arrays


def measure_cnn(embedder: Embedder, arrays: Sequence[np.ndarray]) -> Clock:
    """C: seconds for the CNN alone on ready inputs, in the pipeline's batches."""
    size = embedder.batch_size
    with Clock() as clock:
        for i in range(0, len(arrays), size):
            embedder.embed_arrays(arrays[i : i + size])
    return clock


@contextmanager
def fresh_user_dirs() -> Any:
    """A new empty catalog and thumbnail cache (as on a first `lookalike index`)."""
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as tmp, environ(
        XDG_DATA_HOME=str(Path(tmp) / "data"), XDG_CACHE_HOME=str(Path(tmp) / "cache")
    ):
        yield Path(tmp)


def open_library(folder: Path, model: str, device: str, tmp: Path) -> tuple[Library, float]:
    """A Library on a fresh catalog with its model loaded and warmed up; load seconds.
    ``model``: a name, or NAME:LAYER (e.g. ``efficientnet_lite0:visual``)."""
    name, _, layer = model.partition(":")
    weights = "default" if MODELS[name].packaged else "none"
    library = Library(folder, catalog_path=tmp / "catalog.sqlite", model=name,
                      weights=weights, device=device, create=True, layer=layer or None)
    start = time.perf_counter()
    embedder = library.embedder
    warm = np.zeros((embedder.input_size, embedder.input_size, 3), np.uint8)
    embedder.embed_arrays([warm] * min(2, embedder.batch_size))
    return library, time.perf_counter() - start


def measure_pipeline(library: Library, n: int) -> tuple[Clock, float]:
    """P: the whole index job, and the peak RSS (MB) during it."""
    with PeakSampler() as rss, Clock() as clock:
        result = run(library.index())
    if result.embed.embedded != n:
        raise RuntimeError(f"indexed {result.embed.embedded} photos of {n}: {result}")
    return clock, rss.peak_mb


@dataclass
class Row:
    megapixels: float
    model: str
    n: int
    gpu: bool
    load_s: float
    d: list[Clock] = field(default_factory=list)
    c: list[Clock] = field(default_factory=list)
    p: list[Clock] = field(default_factory=list)
    rss_mb: float = 0.0

    def limit(self, i: int) -> float:
        d, c = self.d[i].wall, self.c[i].wall
        return max(d, c) if self.gpu else d + c

    def cells(self) -> list[object]:
        """Medians; the ratios are taken per run (D, C and P measured back to back) first."""
        d, c, p = (median([x.wall for x in xs]) for xs in (self.d, self.c, self.p))
        runs = range(len(self.p))
        ratio = median([self.p[i].wall / self.limit(i) for i in runs])
        cpu_ratio = median([self.p[i].cpu / (self.d[i].cpu + self.c[i].cpu) for i in runs])
        ok = "ok" if ratio <= TARGET_RATIO else "MISS"
        return [f"{self.megapixels:g} MP", self.model, self.n, f"{d:.2f}", f"{c:.2f}",
                f"{median([self.limit(i) for i in runs]):.2f}", f"{p:.2f}", f"{ratio:.2f}",
                f"<={TARGET_RATIO} {ok}", f"{cpu_ratio:.2f}", f"{self.n / p:.1f}",
                f"{self.n / d:.1f}", f"{self.n / c:.1f}", f"{self.load_s:.1f}",
                f"{self.rss_mb:.0f}"]


def headers(gpu: bool) -> list[str]:
    limit = "max(D,C) s" if gpu else "D+C s"
    return ["photos", "model", "n", "D s", "C s", limit, "P s", "P/limit", "target",
            "CPU P/(D+C)", "P photos/s", "D photos/s", "C photos/s", "load s", "P peak RSS MB"]


def bench_size(megapixels: float, n: int, models: Sequence[str], repeat: int, device: str,
               cache: Path, workers: int | None) -> list[Row]:
    """D, C and P back to back, ``repeat`` times, for each model."""
    folder = photo_folder(megapixels, n, cache)
    paths = sorted(folder.iterdir())
    workers = workers or embed.decode_workers()
    rows = []
    for model in models:
        row: Row | None = None
        for _ in range(repeat):
            with fresh_user_dirs() as tmp:
                library, load_s = open_library(folder, model, device, tmp)
                with library:
                    embedder = library.embedder
                    d, arrays = measure_decode(paths, embedder.input_size, workers)
                    c = measure_cnn(embedder, arrays)
                    del arrays
                    p, rss = measure_pipeline(library, n)
            if row is None:
                row = Row(megapixels, model, n, embedder.device.type == "cuda", load_s)
            row.d.append(d)
            row.c.append(c)
            row.p.append(p)
            row.rss_mb = max(row.rss_mb, rss)
            log.info("%g MP %s: D %.2f C %.2f P %.2f s (CPU %.2f %.2f %.2f)", megapixels, model,
                     d.wall, c.wall, p.wall, d.cpu, c.cpu, p.cpu)
        assert row is not None
        rows.append(row)
    return rows


def versus_resnet(rows: Sequence[Row]) -> list[str]:
    """The default model's P photos/s against ResNet-50's, per size, where both ran."""
    lines = []
    for mp in sorted({r.megapixels for r in rows}):
        by_model = {r.model: r for r in rows if r.megapixels == mp}
        if DEFAULT_MODEL in by_model and "resnet50" in by_model and DEFAULT_MODEL != "resnet50":
            ours, theirs = (median([x.wall for x in by_model[m].p])
                            for m in (DEFAULT_MODEL, "resnet50"))
            ratio = theirs / ours
            ok = "ok" if ratio >= TARGET_VS_RESNET else "MISS"
            lines.append(f"{mp:g} MP: {DEFAULT_MODEL} indexes {ratio:.2f}x ResNet-50's photos/s "
                         f"(target >= {TARGET_VS_RESNET:g}x {ok})")
    return lines


# -- the peer --------------------------------------------------------------------------------


def peer_available() -> str | None:
    """None if imagededup can be used, else why not."""
    try:
        import imagededup.methods  # noqa: F401
    except ImportError as exc:
        return f"imagededup cannot be imported ({exc}); pip install imagededup"
    return None


def measure_peer(folder: Path, n: int, workers: int) -> float:
    """Seconds of imagededup's CNN().encode_images(folder) with a random-weight backbone."""
    import torchvision
    from imagededup.methods import CNN

    original = torchvision.models.mobilenet_v3_small

    def no_download(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights"] = None  # nothing can be downloaded here: same net, random weights
        return original(*args, **kwargs)

    with mock.patch.object(torchvision.models, "mobilenet_v3_small", no_download):
        encoder = CNN(verbose=False)
    start = time.perf_counter()
    encodings = encoder.encode_images(image_dir=folder, num_enc_workers=workers)
    seconds = time.perf_counter() - start
    if len(encodings) != n:
        raise RuntimeError(f"imagededup encoded {len(encodings)} photos of {n}")
    return seconds


def bench_peer(megapixels: float, n: int, repeat: int, device: str, cache: Path) -> list[object]:
    folder = photo_folder(megapixels, n, cache)
    ours: list[float] = []
    theirs: dict[int, list[float]] = {0: [], os.cpu_count() or 1: []}
    for _ in range(repeat):
        for workers, times in theirs.items():
            times.append(measure_peer(folder, n, workers))
        with fresh_user_dirs() as tmp:
            library, _ = open_library(folder, PEER_MODEL, device, tmp)
            with library:
                ours.append(measure_pipeline(library, n)[0].wall)
    best_workers, best = min(((w, median(t)) for w, t in theirs.items()), key=lambda x: x[1])
    mine = median(ours)
    ratio = best / mine
    ok = "ok" if ratio >= TARGET_PEER else "MISS"
    return [f"{megapixels:g} MP", n, f"{median(theirs[0]):.2f}",
            f"{median(theirs[max(theirs)]):.2f}", f"{n / best:.1f} (workers={best_workers})",
            f"{mine:.2f}", f"{n / mine:.1f}", f"{ratio:.2f}", f">={TARGET_PEER:g} {ok}"]


PEER_HEADERS = ["photos", "n", "imagededup s (workers=0)", "imagededup s (workers=cores)",
                "imagededup photos/s (best)", f"lookalike {PEER_MODEL} s", "lookalike photos/s",
                "speed-up", "target"]


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.indexing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="4 photos of 1 MP, mobilenet_v3_small, no peer (seconds)")
    parser.add_argument("--photos", type=int, default=48, help="photos per size (%(default)s)")
    parser.add_argument("--sizes", default="12,24", help="megapixels (default: %(default)s)")
    parser.add_argument("--models", default=f"{DEFAULT_MODEL},resnet50",
                        help="NAME or NAME:LAYER (e.g. efficientnet_lite0:visual), "
                        "comma-separated; default: %(default)s")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--workers", type=int, default=None,
                        help="decode threads for D (default: the pipeline's)")
    parser.add_argument("--no-peer", action="store_true", help="skip imagededup")
    parser.add_argument("--peer-only", action="store_true", help="only the imagededup comparison")
    parser.add_argument("--cache", type=Path, default=CACHE, help="generated photos (reused)")
    args = parser.parse_args(argv)
    if args.quick:
        sizes, n, models, repeat = [1.0], 4, [PEER_MODEL], 1
    else:
        sizes = [float(s) for s in args.sizes.split(",")]
        n, models, repeat = args.photos, args.models.split(","), args.repeat
    peer = not (args.quick or args.no_peer)

    print(f"# indexing benchmark: {machine_line()}")
    print(f"# {n} photos per size, median of {repeat}; decode threads "
          f"{args.workers or embed.decode_workers()}, torch threads {embed.torch_threads()}")
    if not args.peer_only:
        rows: list[Row] = []
        for mp in sizes:
            rows += bench_size(mp, n, models, repeat, args.device, args.cache, args.workers)
        print_table(headers(any(r.gpu for r in rows)), [r.cells() for r in rows])
        for line in versus_resnet(rows):
            print(line)
    if peer or args.peer_only:
        missing = peer_available()
        if missing:
            print(f"\npeer: not measured: {missing}")
        else:
            peer_rows = [bench_peer(mp, n, repeat, args.device, args.cache) for mp in sizes]
            print_table(PEER_HEADERS, peer_rows, title="Peer: imagededup CNN().encode_images, "
                        "same backbone (mobilenet_v3_small, random weights)")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(main())
