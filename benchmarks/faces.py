"""Faces benchmark: the faces pass on 12 MP JPEGs (issue 19: >= 10 photos/s here).

    python -m benchmarks.faces [--quick] [--photos 48] [--megapixels 12] [--workers N]
                               [--cache DIR]

The photos (generated once into ``--cache``, default /tmp/lookalike-bench-faces) are
camera-sized JPEGs (quality 92): a synthetic scene with 0 to 3 real faces from
../shared/photos pasted in (``benchmarks.face_photos``), each 350-700 px tall, as in
portraits and small groups. Then the product's own :func:`core.faces.find_faces` runs on a
fresh catalog of them twice:

- ``in-process``: ``workers=0``, one core; its CPU time per photo is what the pass costs;
- ``pool``: the default worker processes (one per core, at most 4), as ``lookalike faces``
  and the app run it, wall time including starting the processes.

"faces found" counts the pasted faces the pass found (recall: the detector sees a copy
1,024 px long, so a face must be about 8% of the photo's longer side).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import face_photos, synthetic
from benchmarks._common import machine_line, print_table
from core.catalog import Catalog
from core.faces import FaceStore, find_faces
from core.faces.model import face_model
from core.faces.worker import analyze, default_workers
from core.jobs import run
from core.scan import scan

TARGET = 10.0  # photos/s
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
CACHE = Path(tempfile.gettempdir()) / "lookalike-bench-faces"


def photo_folder(n: int, megapixels: float, cache: Path) -> tuple[Path, int]:
    """``n`` JPEGs with faces (made once, reused), and how many faces were pasted."""
    folder = cache / f"{megapixels:g}mp-n{n}"
    folder.mkdir(parents=True, exist_ok=True)
    names = list(face_photos.SOURCES)
    pasted = 0
    for i in range(n):
        rng = np.random.default_rng(i)
        count = int(rng.integers(0, 4))
        pasted += count
        path = folder / f"photo_{i:04d}.jpg"
        if path.exists():
            continue
        image = synthetic.big_photo(seed=2000 + i, megapixels=megapixels)
        for k in range(count):
            variant = face_photos.variants(SHARED, names[(i + k) % len(names)], 1,
                                           seed=i * 7 + k)[0].image
            side = int(image.height * rng.uniform(0.12, 0.23) * 4)  # face: a quarter
            face = variant.resize((side, side), Image.Resampling.BICUBIC)
            image.paste(face, (int(image.width * (0.05 + 0.3 * k)),
                               int(rng.uniform(0, image.height - side))))
        tmp = folder / f".{path.name}.part"
        synthetic.write_jpeg(tmp, image, quality=92, exif={"Model": "Benchmark"})
        tmp.rename(path)
    return folder, pasted


def measure(folder: Path, workers: int) -> tuple[float, float, int, int]:
    """(wall s, this process's CPU s, photos, faces) of one pass on a fresh catalog."""
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-faces-") as tmp:
        catalog = Catalog.open(folder, Path(tmp) / "catalog.sqlite")
        try:
            run(scan(catalog))
            if not workers:
                face_model()  # loaded once per process (~0.5 s): not a per-photo cost
            cpu, start = time.process_time(), time.perf_counter()
            result = run(find_faces(catalog, workers=workers))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            return wall, cpu, result.photos, len(FaceStore(catalog).faces())
        finally:
            catalog.close()


def breakdown(folder: Path) -> tuple[float, float]:
    """CPU ms of a photo without faces, and of each face, fitted over the folder's photos
    (:func:`core.faces.worker.analyze`, the worker's whole work on one file)."""
    face_model()
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        cpu = time.process_time()
        found = analyze(0, str(path))
        rows.append((1.0, float(len(found.faces or ())), time.process_time() - cpu))
    data = np.array(rows)
    (base, per_face), *_ = np.linalg.lstsq(data[:, :2], data[:, 2], rcond=None)
    return 1000 * float(base), 1000 * float(per_face)


STAGES = {"decode": "decode (DCT-scaled to 1,000 px), hash, EXIF",
          "copy": "detection copy, grey and RGB arrays", "detect": "HOG detector",
          "align": "5 landmarks + aligned 150-px chip", "thumb": "96-px face thumbnail",
          "dlib": "128-d descriptor in dlib (before)",
          "onnx": "128-d descriptor in ONNX Runtime (now)"}
PER_PHOTO = ("decode", "copy", "detect")


def stages(folder: Path) -> tuple[dict[str, float], int, int]:
    """CPU ms of each stage of the worker's work (a photo or a face) over the folder, the
    descriptor in both engines on the same chips: dlib's own (before) and ONNX Runtime
    (the pass's). ({stage: ms}, photos, faces)."""
    import dlib  # type: ignore[import-untyped]

    from core import decode
    from core.faces import model as m

    model = face_model()
    resnet = dlib.face_recognition_model_v1(str(m.model_dir() / m._FILES["descriptor"]))
    cpu = dict.fromkeys(STAGES, 0.0)
    photos = faces = 0
    clock = time.process_time
    for path in sorted(folder.glob("*.jpg")):
        t0 = clock()
        image = decode.decode_file(path, min_side=m.DECODE_MIN_SIDE).image
        t1 = clock()
        small = m._fit(image, m.DETECT_SIDE)
        rgb, grey = np.asarray(small.convert("RGB")), np.asarray(small.convert("L"))
        t2 = clock()
        boxes, _scores, _ = model._detector.run(grey, 0, m.MIN_SCORE)
        t3 = clock()
        chips = [dlib.get_face_chip(rgb, model._landmarks(rgb, box), 150, 0.25)
                 for box in boxes]
        t4 = clock()
        for box in boxes:
            m.face_thumbnail(small, (box.left(), box.top(), box.right(), box.bottom()))
        t5 = clock()
        for chip in chips:
            resnet.compute_face_descriptor(chip)
        t6 = clock()
        model._describe(chips)
        t7 = clock()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4,
                                           t6 - t5, t7 - t6), strict=True):
            cpu[stage] += seconds
        photos, faces = photos + 1, faces + len(chips)
    return ({k: 1000 * v / (photos if k in PER_PHOTO else max(1, faces))
             for k, v in cpu.items()}, photos, faces)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faces", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3 photos of 1 MP, in-process only (the tests' mode)")
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--megapixels", type=float, default=12)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    n, mp = (3, 1.0) if args.quick else (args.photos, args.megapixels)
    if not SHARED.is_dir():
        print("../shared/photos not found: the benchmark pastes its real faces")
        return 1
    folder, pasted = photo_folder(n, mp, args.cache)
    print(f"# faces benchmark: {machine_line()}; target {TARGET:g} photos/s on 12 MP")
    rows = []
    runs = [("in-process", 0)] + ([] if args.quick else [("pool", args.workers)])
    for label, workers in runs:
        wall, cpu, photos, faces = measure(folder, workers)
        rows.append([label, workers, f"{photos:,}", f"{mp:g}", f"{wall:.1f}",
                     f"{photos / wall:.1f}", f"{1000 * cpu / photos:.0f}" if not workers
                     else "-", f"{faces}/{pasted}"])
    print_table(["run", "workers", "photos", "MP", "wall s", "photos/s", "CPU ms/photo",
                 "faces found"], rows)
    per_photo = float(rows[0][6]) / 1000
    print(f"\nHere ({pasted / n:.1f} pasted faces a photo): one core does "
          f"{1 / per_photo:.1f} photos/s; {args.workers} quiet cores would do about "
          f"{args.workers / per_photo:.1f} (target {TARGET:g}).")
    ms, photos, faces = stages(folder)
    print(f"\nCPU ms of each stage ({photos} photos, {faces} faces found):\n")
    print_table(["stage", "per", "CPU ms"], [[STAGES[k], "photo" if k in PER_PHOTO else "face",
                                              f"{v:.1f}"] for k, v in ms.items()])
    photo_ms = sum(ms[k] for k in PER_PHOTO)
    for engine, other in (("dlib", "onnx"), ("onnx", "dlib")):
        cost = photo_ms + 2 * sum(v for k, v in ms.items() if k not in (*PER_PHOTO, other))
        print(f"A photo with 2 faces, descriptor in {engine}: {cost:.0f} CPU ms, "
              f"{args.workers} quiet cores: {args.workers * 1000 / cost:.1f} photos/s (estimate)")
    base, per_face = breakdown(folder)
    for faces in (0, 1, 2):
        cost = (base + faces * per_face) / 1000
        print(f"A photo with {faces} faces: {1000 * cost:.0f} CPU ms, {args.workers} quiet "
              f"cores: {args.workers / cost:.1f} photos/s")
    print(f"(fitted: {base:.0f} CPU ms a photo (decode, hash, detect) + {per_face:.0f} ms a "
          f"face (landmarks, 128-d descriptor))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
