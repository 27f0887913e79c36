"""Search by a region: pasted objects (quality) and region search at 100k photos (speed).

    python -m benchmarks.regions [--quick] [--objects N] [--library N] [--speed-size N]

1. Pasted objects: objects cut from photos that are not in the library (a random rectangle
   of 25-40 % of a source's side) are pasted into 3 library photos each, at a random place
   and scale (:func:`benchmarks.edits.paste`; the object's longer side 20-40 % of the
   photo's shorter side); the originals stay in the library (the hardest distractors).
   The library is indexed by the product (``Library.index``: regions from the same pass,
   reduction learned on it), then each object's crop queries it with
   ``Library.similar_to_region`` (the whole crop as the region). Figures: recall@3 and
   recall@10 of the photos holding the object, and the share of those found in the top 10
   whose returned box overlaps the pasted one with IoU >= 0.5; the whole-photo search
   (``similar_to_file`` with the crop) beside it. Photos: the quality benchmark's originals
   (``benchmarks.quality_data``), or with ``--quick`` the shared photos and generated scenes.
2. Speed: synthetic region codes (30 per photo, 128-d, clustered like real ones) for N
   photos, searched through ``core.regions.RegionSearch``'s index (exact below
   ``EXACT_THRESHOLD`` photos, faiss above) and grouped by photo, against exact region
   search: median ms per query and recall@10 of the photos.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmarks import quality_data as qd
from benchmarks._common import machine_line, median, print_table
from benchmarks.edits import paste
from benchmarks.synthetic import scene

if TYPE_CHECKING:
    from core.index import Hit
    from core.library import Library
    from core.regions import Box

TARGET_IOU, TARGET_MS, TARGET_RECALL = 0.5, 100.0, 0.9
COPIES = 3  # library photos each object is pasted into
QUERY_NOISE = 0.1  # per dimension: a query's cosine to the region it came from ~0.8, as the
# real queries' best regions score (0.5-0.7 for an object in another photo)
MIN_SIDE = 300  # px: smaller pictures of the photo sets are thumbnails, not photos


def _library_images(quick: bool, n: int, cache: Path
                    ) -> tuple[list[Image.Image], list[Image.Image]]:
    """(library pictures, object sources): PIL images, distinct photos."""
    entries = qd.load_manifest()
    if quick:
        entries = [e for e in entries if e.source == "shared"]
    else:
        qd.fetch_packages(cache)
    originals = [e for e in entries if e.role == qd.ORIGINAL]
    rng = np.random.default_rng(7)
    order = rng.permutation(len(originals))
    pictures = [qd.open_rgb(qd.working_copy(originals[i], cache)) for i in order]
    pictures = [p for p in pictures if min(p.size) >= MIN_SIDE]  # not the 100 px thumbnails
    n_sources = max(3, n // 4)
    if quick:  # generated scenes make up the numbers
        pictures += [scene(20_000 + i) for i in range(max(0, n + n_sources - len(pictures)))]
        pictures = [pictures[i] for i in rng.permutation(len(pictures))]
    return pictures[n_sources:n_sources + n], pictures[:n_sources]


def _cut(source: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = source.size
    cw, ch = (round(rng.uniform(0.25, 0.4) * s) for s in (w, h))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return source.crop((x, y, x + cw, y + ch))


def pasted_objects(quick: bool, n_objects: int, n_library: int, cache: Path,
                   model: str | None, refine: int | None = None) -> dict[str, float]:
    """Build, index and query the pasted-objects library; print and return its figures."""
    from core.jobs import run
    from core.library import Library
    from core.regions import iou

    library_pictures, sources = _library_images(quick, n_library, cache)
    work = Path(tempfile.mkdtemp(prefix="lookalike-regions-"))
    try:
        root, queries = work / "photos", work / "queries"
        root.mkdir()
        queries.mkdir()
        for i, picture in enumerate(library_pictures):
            picture.save(root / f"photo{i:04d}.jpg", quality=92)
        truth: list[dict[str, Box]] = []
        sizes: dict[str, tuple[int, int]] = {}
        rng = np.random.default_rng(11)
        for j in range(n_objects):
            obj = _cut(sources[j % len(sources)], 1000 + j)
            obj.save(queries / f"object{j:03d}.jpg", quality=95)
            placed = {}
            for c, t in enumerate(rng.choice(len(library_pictures), COPIES, replace=False)):
                seed = zlib.crc32(f"{j}:{c}".encode())
                image, box = paste(library_pictures[t], obj, seed)
                name = f"object{j:03d}_in_{t:04d}.jpg"
                image.save(root / name, quality=92)
                placed[name] = box
                sizes[name] = image.size
            truth.append(placed)
        catalog = work / "catalog.sqlite"
        options = {"model": model} if model else {}
        with Library(root, catalog_path=catalog, **options) as library:
            start = time.perf_counter()
            run(library.index())
            indexed = time.perf_counter() - start
            n_photos = library.catalog.photo_count()
            region_s, stored = _region_cost(library, sorted(root.glob("*.jpg")))
            r3 = r10 = g3 = g10 = 0.0
            ious: list[float] = []
            inside: list[bool] = []
            spent: list[float] = []
            for j, placed in enumerate(truth):
                query = queries / f"object{j:03d}.jpg"
                t = time.perf_counter()
                _own, hits = library.similar_to_region(query, (0.0, 0.0, 1.0, 1.0), k=10,
                                                       **({} if refine is None
                                                          else {"refine": refine}))
                spent.append(time.perf_counter() - t)
                _own, plain = library.similar_to_file(query, k=10)
                names = _names(library, hits)
                r3 += len(set(names[:COPIES]) & set(placed)) / COPIES
                r10 += len(set(names) & set(placed)) / COPIES
                plain_names = _names(library, plain)
                g3 += len(set(plain_names[:COPIES]) & set(placed)) / COPIES
                g10 += len(set(plain_names) & set(placed)) / COPIES
                for name, hit in zip(names, hits, strict=True):
                    if name in placed and hit.box is not None:
                        ious.append(iou(hit.box, placed[name]))
                        inside.append(_in_centre_square(placed[name], sizes[name]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(truth)
    good = np.asarray(ious) >= TARGET_IOU
    centre = np.asarray(inside, bool)
    figures = {"recall@3": r3 / n, "recall@10": r10 / n, "global recall@3": g3 / n,
               "global recall@10": g10 / n, "iou>=0.5": float(good.mean()) if len(good) else 0.0,
               "iou>=0.5 centre": float(good[centre].mean()) if centre.any() else float("nan"),
               "median iou": float(np.median(ious)) if ious else 0.0}
    print_table(["search", "recall@3", "recall@10", f"found with IoU >= {TARGET_IOU}",
                 "... object centre in the indexed square", "median IoU"],
                [["region (similar --region)", f"{figures['recall@3']:.3f}",
                  f"{figures['recall@10']:.3f}", f"{figures['iou>=0.5']:.3f} ({len(ious)})",
                  f"{figures['iou>=0.5 centre']:.3f} ({int(centre.sum())})",
                  f"{figures['median iou']:.2f}"],
                 ["whole photo (similar)", f"{figures['global recall@3']:.3f}",
                  f"{figures['global recall@10']:.3f}", "–", "–", "–"]],
                title=f"Pasted objects: {n} objects x {COPIES} photos in a library of "
                      f"{n_photos} (indexed in {indexed:.0f} s)")
    share = region_s / max(indexed - region_s, 1e-9)
    print(f"\na region query, end to end (query maps, index, reading and ranking again the "
          f"best photos): median {median(spent):.2f} s")
    print(f"\nregion descriptors: {stored:.0f} bytes a photo (target <= 4096: "
          f"{'ok' if stored <= 4096 else 'MISS'}); their own work (pooling, reduction, "
          f"writing) {1000 * region_s / n_photos:.1f} ms a photo = {100 * share:.1f} % of the "
          f"rest of indexing (target <= 15 %: {'ok' if share <= 0.15 else 'MISS'})")
    figures |= {"bytes": stored, "overhead": share}
    verdict = "ok" if figures["iou>=0.5"] > 0.5 else "MISS"
    print(f"\nboxes with IoU >= {TARGET_IOU}: {figures['iou>=0.5']:.3f} of those found "
          f"(target: most, > 0.5): {verdict}")
    return figures


def _region_cost(library: Library, files: list[Path]) -> tuple[float, float]:
    """(seconds the regions' own work takes for ``files``: pooling the maps, reducing,
    writing; bytes stored a photo). The maps come from the same forward pass as the
    embeddings, so that pass is not counted: only what regions add to it."""
    from core import decode
    from core.regions import RegionWriter

    embedder = library.embedder
    spent = 0.0
    writer = RegionWriter(library.catalog, "benchmark-only")
    writer.reduction = library.regions.reduction()
    photos = library.catalog.photos()
    conn = library.catalog.conn
    step = embedder.batch_size
    for start in range(0, len(files), step):
        batch = [decode.decode_file(f, min_side=256).image for f in files[start:start + step]]
        out = embedder.run_arrays([decode.model_input(im, embedder.input_size) for im in batch],
                                  classify=False, maps=True)
        conn.execute("BEGIN")  # in the pipeline, the rows join the batch's own transaction
        t = time.perf_counter()
        write = writer.batch([p.id for p in photos[:len(batch)]], [im.size for im in batch],
                             out.maps)
        if write is not None:
            write(conn)
        spent += time.perf_counter() - t
        conn.execute("ROLLBACK")
    stored = library.catalog.conn.execute(
        "SELECT avg(length(boxes) + length(vectors)) FROM regions WHERE model = ?",
        (library.model_key,)).fetchone()[0]
    return spent, float(stored)


def _names(library: Library, hits: list[Hit]) -> list[str]:
    photos = {p.id: p for p in library.catalog.photos([h.photo_id for h in hits])}
    return [photos[h.photo_id].path.name for h in hits]


def _in_centre_square(box: Box, size: tuple[int, int]) -> bool:
    """Whether the box's centre lies in the photo's centre square (what is indexed)."""
    w, h = size
    side = min(w, h)
    cx, cy = (box[0] + box[2] / 2) * w, (box[1] + box[3] / 2) * h
    return abs(cx - w / 2) <= side / 2 and abs(cy - h / 2) <= side / 2


def synthetic_codes(n_photos: int, regions: int = 30, dim: int = 128, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Region ids and float16 unit codes, clustered (a photo's regions near each other and
    near one of 500 themes), as the stored ones are."""
    from core.regions.grid import MAX_REGIONS

    rng = np.random.default_rng(seed)
    themes = rng.standard_normal((500, dim)).astype(np.float32)
    photo = themes[rng.integers(0, 500, n_photos)] + 0.8 * rng.standard_normal(
        (n_photos, dim)).astype(np.float32)
    codes = np.empty((n_photos * regions, dim), np.float16)
    for start in range(0, n_photos, 10_000):
        p = photo[start:start + 10_000]
        block = (p[:, None, :] + 0.9 * rng.standard_normal((len(p), regions, dim))
                 ).reshape(-1, dim)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        codes[start * regions:(start + len(p)) * regions] = block
    ids = (np.arange(n_photos)[:, None] * MAX_REGIONS + np.arange(regions)).ravel()
    return ids.astype(np.int64), codes


def search_speed(n_photos: int, queries: int = 100, kind: str | None = None
                 ) -> dict[str, float]:
    """Region search at ``n_photos`` photos (synthetic codes): ms per query, recall@10;
    ``kind``: the index backend (default: the product's choice for that many photos)."""
    from core.index import ExactIndex
    from core.regions.search import group_hits, make_region_index

    ids, codes = synthetic_codes(n_photos)
    start = time.perf_counter()
    index = make_region_index(n_photos, kind)
    index.build(ids, codes)
    built = time.perf_counter() - start
    exact = ExactIndex()
    exact.build(ids, codes)
    rng = np.random.default_rng(5)
    picks = rng.choice(len(codes), queries, replace=False)
    qs = codes[picks].astype(np.float32) + QUERY_NOISE * rng.standard_normal(
        (queries, codes.shape[1])).astype(np.float32)
    times, found = [], 0
    for q in qs:
        t = time.perf_counter()
        got = group_hits(index, q, 10, ())
        times.append(time.perf_counter() - t)
        truth = {h.photo_id for h in group_hits(exact, q, 10, ())}
        found += len(truth & {h.photo_id for h in got})
    figures = {"ms": 1000 * median(times), "recall@10": found / (10 * queries), "build s": built}
    name = type(index).__name__
    print_table(["photos", "regions", "index", "build s", f"ms / query (< {TARGET_MS:g})",
                 f"recall@10 vs exact (>= {TARGET_RECALL})"],
                [[f"{n_photos:,}", f"{len(ids):,}", name, f"{built:.0f}",
                  f"{figures['ms']:.1f} {'ok' if figures['ms'] < TARGET_MS else 'MISS'}",
                  f"{figures['recall@10']:.3f} "
                  f"{'ok' if figures['recall@10'] >= TARGET_RECALL else 'MISS'}"]],
                title="Region search speed (synthetic codes, grouped by photo, k=10)")
    return figures


def relearn_cost(n_photos: int) -> float:
    """CPU seconds of learning the whitening again at ``n_photos`` photos (one of the 4x
    milestones, core.regions.describe) without the catalog's reading and writing: the moments
    of the stored codes, the new reduction and every code rewritten (synthetic codes)."""
    from core.regions.pca import CodeMoments, RegionReduction, encode, relearn

    _ids, codes = synthetic_codes(n_photos)
    dim = codes.shape[1]
    rng = np.random.default_rng(3)
    axes = np.linalg.qr(rng.standard_normal((1280, dim)))[0].T.astype(np.float32)
    old = RegionReduction(np.zeros(1280, np.float32), axes, np.ones(dim, np.float32), n_photos)
    start = time.process_time()
    moments = CodeMoments(old)
    block = 4096 * 30
    for i in range(0, len(codes), block):
        moments.add(codes[i:i + block].astype(np.float32))
    again = relearn(moments, n_photos)
    for i in range(0, len(codes), block):
        encode(again.recode(codes[i:i + block].astype(np.float32)))
    spent = time.process_time() - start
    print(f"\nlearning the whitening again at {n_photos:,} photos ({len(codes):,} regions): "
          f"{spent:.1f} CPU s (moments, reduction, every code rewritten; the catalog's "
          f"reading and writing not counted)")
    return spent


def export_cost(rounds: int = 12) -> float:
    """CPU cost of the feature map as a third output of the ONNX export: the same network
    exported with and without it, run in turn on batches of 8 (one thread)."""
    import warnings

    import onnxruntime as ort
    import torch

    from core.embed.models import build_network
    from core.embed.onnx_engine import _export

    body, head = build_network("efficientnet_lite0")
    folder = Path(tempfile.mkdtemp(prefix="lookalike-export-"))

    class Both(torch.nn.Module):  # the export before regions: features and logits
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = body, head

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.body(x).flatten(1)
            return features, self.head(features)

    try:
        _export(body, head, 224, folder / "with.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Both().eval(), (torch.zeros(1, 3, 224, 224),),
                              str(folder / "without.onnx"), input_names=["pixels"],
                              output_names=["features", "logits"],
                              dynamic_axes={"pixels": {0: "batch"}}, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        sessions = [ort.InferenceSession(str(folder / f"{n}.onnx"), options,
                                         providers=["CPUExecutionProvider"])
                    for n in ("without", "with")]
        x = np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32)
        spent: list[list[float]] = [[], []]
        for _ in range(rounds):
            for session, times in zip(sessions, spent, strict=True):
                start = time.process_time()
                session.run(None, {"pixels": x})
                times.append(time.process_time() - start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    without, with_map = median(spent[0]), median(spent[1])
    change = with_map / without - 1
    print(f"\nONNX export with the feature map as a third output: {1000 * with_map / 8:.1f} ms "
          f"CPU a photo vs {1000 * without / 8:.1f} without ({100 * change:+.1f} %, median of "
          f"{rounds} interleaved batches of 8, one thread)")
    return change


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.regions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="shared photos + generated scenes, 2 objects, 3k photos (faiss)")
    parser.add_argument("--objects", type=int, help="objects pasted (default 20)")
    parser.add_argument("--library", type=int, help="library photos before pasting (default 60)")
    parser.add_argument("--speed-size", type=int, help="photos in the speed test (default 100k)")
    parser.add_argument("--model", help="model to index with (default: the product's)")
    parser.add_argument("--refine", type=int,
                        help="best photos ranked again on their visual maps (default: the "
                             "product's, Library.similar_to_region)")
    parser.add_argument("--cache", type=Path, default=qd.default_cache())
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-export", action="store_true",
                        help="skip the cost of the feature map in the ONNX export")
    args = parser.parse_args(argv)
    print(f"# region benchmark: {machine_line()}")
    if not args.no_quality:
        pasted_objects(args.quick, args.objects or (2 if args.quick else 20),
                       args.library or (8 if args.quick else 60), args.cache, args.model,
                       args.refine)
    if not args.no_export and not args.quick:
        export_cost()
    if not args.no_speed:
        search_speed(args.speed_size or (3_000 if args.quick else 100_000),
                     queries=30 if args.quick else 100, kind="faiss" if args.quick else None)
        relearn_cost(args.speed_size or (3_000 if args.quick else 100_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
