"""Duplicates benchmark: grouping time and memory at scale, and the precision and recall of
each kind of pair on generated edits of real photos.

    python -m benchmarks.duplicates [--quick] [--sizes 10000,100000] [--kinds-photos 20]

Scale: a temporary catalog of n photos with synthetic clustered 2048-d embeddings (the search
benchmark's: subjects, events) in which 10% of the photos are planted near-duplicates of
another (cosine ~0.98), 2% exact copies (one content hash) and 3% burst frames (one camera,
seconds apart); then the product's :func:`core.duplicates.find_groups` over that catalog
without reading pixels (there are no files: the embeddings, hashes, times and cameras make
the groups). Printed: wall seconds, CPU seconds (all threads; on a shared machine the wall
time is mostly other people's load), the process's peak memory, the groups, the planted pairs found
in one group, and the graph's recall against brute force (up to 20k). Target: 100k under 10 s.

Kinds: the pixel checks of :func:`core.duplicates.kinds.classify` on pairs generated from the
real photos of ``../shared/photos`` and from :mod:`benchmarks.synthetic` scenes: re-encodes
(JPEG q35), resizes (1/2), crops (60-90%), exposure, colour and 90-degree rotation edits,
shifted views (distinct shots of one scene) and unrelated pairs. Printed: each kind's
precision and recall (targets: >= 0.98 exact/re-encode, >= 0.95 crop/edit).
"""

from __future__ import annotations

import argparse
import io
import itertools
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from benchmarks import synthetic
from benchmarks._common import PeakSampler, machine_line, print_table
from benchmarks.search import synthetic_embeddings
from core.catalog import Catalog
from core.duplicates import EDIT, REENCODE, SCENE, Thresholds, find_groups, graph
from core.duplicates.kinds import (
    DEFAULT,
    RANDOM_WEIGHTS,
    PairFacts,
    calibrated,
    classify,
    may_be_rotated,
    proposed,
    thresholds_for,
)
from core.duplicates.pixels import Signature, signature
from core.jobs import run

MODEL = "synthetic@bench"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
BENCH = Thresholds(radius=0.95, scene=0.95, rotated_radius=0.5)  # planted pairs at ~0.98;
# each photo's two nearest down to 0.5 are also looked at (as rotated copies are)


def planted_catalog(folder: Path, n: int, seed: int = 0) -> tuple[Path, list[tuple[int, int]]]:
    """A catalog of n photos with planted duplicates; returns it and the planted pairs."""
    rng = np.random.default_rng(seed)
    vectors = synthetic_embeddings(n, seed=seed)
    n_dup, n_exact, n_burst = n // 10, n // 50, n * 3 // 100
    targets = rng.choice(n, n_dup + n_exact, replace=False)
    sources = rng.choice(n, n_dup + n_exact, replace=True)
    keep = targets != sources
    targets, sources = targets[keep], sources[keep]
    planted = []
    for t, s in zip(targets.tolist(), sources.tolist(), strict=True):
        v = vectors[s].astype(np.float32) + rng.standard_normal(vectors.shape[1]).astype(
            np.float32) * 0.004
        vectors[t] = v / np.linalg.norm(v)
        planted.append((s + 1, t + 1))
    hashes = [f"h{i:08d}" for i in range(n)]
    for t, s in zip(targets[-n_exact:].tolist(), sources[-n_exact:].tolist(), strict=True):
        hashes[t] = hashes[s]
        vectors[t] = vectors[s]
    times: list[str | None] = [None] * n
    cameras: list[str | None] = [None] * n
    bursts = rng.choice(n, n_burst, replace=False)
    for k, i in enumerate(sorted(bursts.tolist())):
        times[i] = f"2021-05-01T10:{k // 600 % 60:02d}:{k % 60:02d}"
        cameras[i] = f"Camera {k // 300}"
    path = folder / "catalog.sqlite"  # beside the photo folder, never inside it
    (folder / "photos").mkdir(exist_ok=True)
    with Catalog.open(folder / "photos", path, create=True) as catalog, \
            catalog.transaction() as tx:
        tx.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, content_hash, width, height, "
            "captured_at, camera, added_at) VALUES (?, ?, 1000000, 0, ?, 4000, 3000, ?, ?, 0)",
            [(i + 1, f"p/{i:07d}.jpg".encode(), hashes[i], times[i], cameras[i])
             for i in range(n)])
        tx.executemany("INSERT INTO embeddings (photo_id, model, vector) VALUES (?, ?, ?)",
                       ((i + 1, MODEL, vectors[i].tobytes()) for i in range(n)))
    return path, planted


def scale_row(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="lookalike-dups-") as tmp:
        path, planted = planted_catalog(Path(tmp), n)
        with Catalog.open(Path(tmp) / "photos", path, create=False) as catalog:
            with PeakSampler() as peak:
                start, cpu = time.perf_counter(), time.process_time()
                report = run(find_groups(catalog, MODEL, thresholds=BENCH, pixels=False))
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            recall = float("nan")
            if n <= 20_000:
                _, vectors = catalog.stored_embeddings(MODEL)
                exact = graph._collect(graph._exact_blocks(vectors, BENCH.radius))
                truth = set(zip(exact[0].tolist(), exact[1].tolist(), strict=True))
                found = graph.radius_pairs_streamed(  # the inverted lists' path
                    len(vectors), vectors[graph.sample_positions(len(vectors))], [vectors],
                    lambda i, j: graph._rowwise_dots(vectors, i, j), BENCH.radius,
                    max_per_row=n)
                got = set(zip(found[0].tolist(), found[1].tolist(), strict=True))
                recall = len(got & truth) / max(len(truth), 1)
    group_of = {p.id: k for k, g in enumerate(report.groups) for p in g.photos}
    together = sum(1 for a, b in planted if a in group_of and group_of.get(a) == group_of.get(b))
    return {"n": f"{n:,}", "seconds": f"{seconds:.2f}", "cpu s": f"{cpu:.2f}",
            "peak MB": f"{peak.peak_mb:.0f}",
            "groups": f"{len(report.groups):,}",
            "planted pairs grouped": f"{together / max(len(planted), 1):.3f}",
            "graph recall": "–" if recall != recall else f"{recall:.3f}",
            "target": "< 10 s" if n >= 100_000 else ""}


def _edits(im: Image.Image, rng: random.Random, others: Sequence[Image.Image]
           ) -> list[tuple[str | None, Image.Image, Image.Image]]:
    """(true kind, a, b) pairs made from one photo."""
    w, h = im.size
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=35)
    keep = rng.uniform(0.6, 0.9)
    cw, ch = int(w * keep), int(h * keep)
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    shift = rng.uniform(0.15, 0.3)
    vw = int(w * 0.7)
    bright = ImageEnhance.Brightness(im).enhance(rng.choice([0.75, 1.25]))
    return [
        (REENCODE, im, Image.open(buf)),
        (REENCODE, im, im.resize((max(8, w // 2), max(8, h // 2)), Image.Resampling.LANCZOS)),
        (EDIT, im, im.crop((left, top, left + cw, top + ch))),
        (EDIT, im, ImageEnhance.Contrast(bright).enhance(1.15)),
        (EDIT, im, ImageEnhance.Color(im).enhance(0.3)),
        (EDIT, im, im.transpose(Image.Transpose.ROTATE_90)),
        (EDIT, im, im.transpose(Image.Transpose.ROTATE_180)),
        (EDIT, im, im.transpose(Image.Transpose.ROTATE_270)),
        (SCENE, im.crop((0, 0, vw, int(h * 0.8))),
         im.crop((int(w * shift), int(h * 0.05), int(w * shift) + vw, int(h * 0.85)))),
        (None, im, rng.choice([o for o in others if o is not im])),
    ]


def kinds_rows(n_photos: int) -> list[dict[str, object]]:
    real = sorted(p for p in (SHARED / "exif-samples/jpg").glob("*.jpg")
                  if "corrupt" not in p.name) if SHARED.is_dir() else []
    from core.decode import load_image

    photos = [im for im in (load_image(p, 1024) for p in real) if min(im.size) >= 300]
    photos = photos[: n_photos - n_photos // 4]  # the collection's 100-px thumbnails are no photos
    photos += [synthetic.scene(300 + s, (800, 600)) for s in range(n_photos - len(photos))]
    rng = random.Random(0)
    outcomes: list[tuple[str | None, str | None]] = []
    facts = PairFacts(False, 0.0, False)
    with tempfile.TemporaryDirectory(prefix="lookalike-kinds-") as tmp:
        for im in photos:
            for truth, a, b in _edits(im, rng, photos):
                pa, pb = Path(tmp) / "a.jpg", Path(tmp) / "b.jpg"
                a.convert("RGB").save(pa, quality=92)
                b.convert("RGB").save(pb, quality=92)
                got = classify(facts, signature(pa), signature(pb), RANDOM_WEIGHTS)
                outcomes.append((truth, None if got == SCENE else got))
    rows = []
    for kind, target in ((REENCODE, 0.98), (EDIT, 0.95)):
        said = [t for t, g in outcomes if g == kind]
        true = [g for t, g in outcomes if t == kind]
        precision = sum(1 for t in said if t == kind) / max(len(said), 1)
        recall = sum(1 for g in true if g == kind) / max(len(true), 1)
        rows.append({"kind": kind, "pairs": len(true), "precision": f"{precision:.3f}",
                     "recall": f"{recall:.3f}", "target precision": f">= {target}"})
    return rows


EDIT_NAMES = ("re-encode", "resize", "crop", "exposure", "colour", "rotate 90", "rotate 180",
              "rotate 270", "shifted view", "unrelated")
ROTATIONS = ("rotate 90", "rotate 180", "rotate 270")


@dataclass
class Calibration:
    """Generated pairs under one model: each pair's name, true kind, similarity, whether it
    may be rotated, and signatures; plus every pair of two different photos (negatives)."""

    model_key: str
    pairs: list[tuple[str, str | None, float, bool, Signature, Signature]]  # bool: may be
    # rotated (shapes turned or equal; generated files have no capture time)
    strangers: list[tuple[float, Signature, Signature]]


def calibration_pairs(model: str, n_photos: int, weights: str = "default") -> Calibration:
    """Index the generated pairs of ``n_photos`` photos with ``model`` and read each file's
    signature: what :func:`similarity_rows`, :func:`suggest` and :func:`score_rows` use."""
    import shutil

    from core.decode import load_image
    from core.library import Library

    real = sorted(p for p in (SHARED / "exif-samples/jpg").glob("*.jpg")
                  if "corrupt" not in p.name) if SHARED.is_dir() else []
    photos = [im for im in (load_image(p, 1024) for p in real) if min(im.size) >= 300]
    photos = photos[: n_photos - n_photos // 4]
    photos += [synthetic.scene(400 + s, (800, 600)) for s in range(n_photos - len(photos))]
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="lookalike-emb-") as tmp:
        root = Path(tmp) / "photos"
        made = []
        for n, im in enumerate(photos):
            for k, (truth, a, b) in enumerate(_edits(im, rng, photos)):
                for side, image in (("a", a), ("b", b)):
                    path = root / f"p{n:02d}" / f"{k}{side}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    image.convert("RGB").save(path, quality=92)
                made.append((root / f"p{n:02d}" / f"{k}a.jpg", root / f"p{n:02d}" / f"{k}b.jpg",
                             EDIT_NAMES[k], truth))
        with Library(root, catalog_path=Path(tmp) / "c.sqlite", model=model,
                     weights=weights) as library:
            run(library.index())
            key = library.model_key
            ids, vectors = library.catalog.embeddings(key)
            by_path = {library.catalog.photo(int(i)).path: v
                       for i, v in zip(ids, vectors, strict=True)}
        sig = {path: signature(path) for path in by_path}
        pairs = [(name, truth, float(by_path[a] @ by_path[b]),
                  may_be_rotated(sig[a].aspect, sig[b].aspect, None, None), sig[a], sig[b])
                 for a, b, name, truth in made]
        originals = [root / f"p{n:02d}" / "0a.jpg" for n in range(len(photos))]
        strangers = [(float(by_path[a] @ by_path[b]), sig[a], sig[b])
                     for a, b in itertools.combinations(originals, 2)]
        shutil.rmtree(root, ignore_errors=True)
    return Calibration(key, pairs, strangers)


def similarity_rows(cal: Calibration) -> list[dict[str, object]]:
    """Cosine similarity of each kind of generated pair, and of two different photos."""
    sims: dict[str, list[float]] = {name: [] for name in EDIT_NAMES}
    for name, _truth, sim, _rotatable, _a, _b in cal.pairs:
        sims[name].append(sim)
    sims["two photos"] = [s for s, _a, _b in cal.strangers]
    return [{"pair": name, "n": len(v), "min": f"{min(v):.3f}",
             "p10": f"{np.percentile(v, 10):.3f}", "median": f"{np.median(v):.3f}",
             "max": f"{max(v):.3f}"} for name, v in sims.items() if v]


MOMENT_PRECISION = 0.9  # same-scene precision moment_scene keeps in the worst case
MOMENT_APART_S = {"shifted view": 5.0, "unrelated": 30.0, "two photos": 30.0}  # score_rows'
# moment table: seconds between the two shots of a pair (the others keep one time)


def suggest(cal: Calibration) -> Thresholds:
    """Thresholds from the similarities (the rule every stored calibration follows):
    ``radius`` 0.05 under the least similar copy or edit (re-encode, resize, crop, exposure,
    colour); ``scene`` 0.01 over the most similar two different photos, rounded up to 0.01;
    ``rotated_radius`` 0.05 under the least similar rotated copy, not above ``radius``;
    ``moment_scene`` the lowest similarity (0.01 steps, from ``radius`` to ``scene``) at which
    shifted views are said "same scene" with precision >= MOMENT_PRECISION even if every two
    different photos had been shot within the same minute (the worst case)."""
    copies = [s for name, _t, s, _u, _a, _b in cal.pairs
              if name not in ROTATIONS and name not in ("shifted view", "unrelated")]
    quarter = [s for name, _t, s, _u, _a, _b in cal.pairs if name in ROTATIONS]
    strangers = [s for s, _a, _b in cal.strangers]
    radius = round(min(copies) - 0.05, 2)
    scene = min(math.ceil((max(strangers) + 0.01) * 100) / 100, 0.99)
    views = [s for name, _t, s, _u, _a, _b in cal.pairs if name == "shifted view"]
    others = strangers + [s for name, _t, s, _u, _a, _b in cal.pairs if name == "unrelated"]
    moment = scene
    for step in range(round(radius * 100), round(scene * 100) + 1):
        t = step / 100
        found = sum(v >= t for v in views)
        if found and found / (found + sum(o >= t for o in others)) >= MOMENT_PRECISION:
            moment = t
            break
    return replace(DEFAULT, radius=radius, scene=scene, moment_scene=moment,
                   rotated_radius=min(radius, round(min(quarter) - 0.05, 2)))


def _a_moment_apart(name: str, a: Signature, b: Signature, moment: bool
                    ) -> tuple[Signature, Signature]:
    """With ``moment``, two distinct shots (a shifted view, or two different photos) get
    capture times a few seconds apart (their camera is the same: see score_rows)."""
    gap = MOMENT_APART_S.get(name)
    if not moment or gap is None:
        return a, b
    return replace(a, taken=1e9), replace(b, taken=1e9 + gap)


def score_rows(cal: Calibration, th: Thresholds, moment: bool = False
               ) -> list[dict[str, object]]:
    """Precision and recall of each kind as the product finds it: a pair is a candidate only
    when :func:`core.duplicates.kinds.proposed` says so, then :func:`classify` names it.
    Same-scene truth: the shifted views (two framings of one scene, as two shots are); every
    pair of two different source photos is a negative for every kind. (The finder also keeps
    only each photo's two nearest below ``radius``; scored pair by pair here.)

    ``moment``: one camera shot the two views of a scene 5 s apart, and (the worst case for
    precision) every two different photos 30 s apart; copies and edits keep one time."""
    outcomes: list[tuple[str, str | None, str | None]] = []
    for name, truth, sim, rotatable, a, b in cal.pairs:
        a, b = _a_moment_apart(name, a, b, moment)
        got = (classify(PairFacts(False, sim, moment), a, b, th)
               if proposed(sim, th, rotatable) else None)
        outcomes.append((name, truth, got))
    for sim, a, b in cal.strangers:
        a, b = _a_moment_apart("two photos", a, b, moment)
        got = (classify(PairFacts(False, sim, moment), a, b, th)
               if proposed(sim, th, may_be_rotated(a.aspect, b.aspect, None, None)) else None)
        outcomes.append(("two photos", None, got))
    rows = []
    for kind, target in ((REENCODE, ">= 0.98"), (EDIT, ">= 0.95"), (SCENE, "")):
        said = [t for _n, t, g in outcomes if g == kind]
        true = [g for _n, t, g in outcomes if t == kind]
        precision = sum(1 for t in said if t == kind) / max(len(said), 1)
        recall = sum(1 for g in true if g == kind) / max(len(true), 1)
        rows.append({"kind": kind, "pairs": len(true), "said": len(said),
                     "precision": f"{precision:.3f}", "recall": f"{recall:.3f}",
                     "target precision": target})
    for name in ROTATIONS:  # recall only: found as a copy or edit
        got = [g for n, _t, g in outcomes if n == name]
        found = sum(1 for g in got if g in (EDIT, REENCODE))
        plain = sum(1 for n, _t, s, _r, a, b in cal.pairs if n == name and s >= th.radius
                    and classify(PairFacts(False, s, False), a, b, th) in (EDIT, REENCODE))
        rows.append({"kind": f"{name} in pixels", "pairs": len(got), "said": found,
                     "precision": "", "recall": f"{found / max(len(got), 1):.3f}",
                     "target precision": f"(radius only: {plain / max(len(got), 1):.3f})"})
    return rows


def _thresholds_line(th: Thresholds) -> str:
    return (f"radius {th.radius}, scene {th.scene}, moment scene {th.moment_scene}, "
            f"rotated radius {th.rotated_radius}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 photos, 4 kinds photos")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--kinds-photos", type=int, default=20)
    parser.add_argument("--embeddings", metavar="MODEL",
                        help="calibration: the similarity of each kind of pair under MODEL "
                        "(real weights, e.g. efficientnet_lite1), the thresholds they suggest, "
                        "and each kind's precision and recall with the stored and suggested "
                        "thresholds")
    parser.add_argument("--weights", default="default",
                        help="with --embeddings: 'none' for random weights")
    args = parser.parse_args(argv)
    if args.embeddings:
        print(machine_line())
        cal = calibration_pairs(args.embeddings, args.kinds_photos, args.weights)
        rows = similarity_rows(cal)
        print_table(list(rows[0]), [list(r.values()) for r in rows],
                    title=f"Cosine similarity of generated pairs, {cal.model_key}")
        stored, suggested = thresholds_for(cal.model_key), suggest(cal)
        print(f"stored:    {_thresholds_line(stored)}"
              f"{'' if calibrated(cal.model_key) else ' (no calibration: the fallback)'}")
        print(f"suggested: {_thresholds_line(suggested)}")
        for label, th in (("stored", stored), ("suggested", suggested)):
            rows = score_rows(cal, th)
            print_table(list(rows[0]), [list(r.values()) for r in rows],
                        title=f"Kinds with the {label} thresholds, {cal.model_key}, "
                        f"{args.kinds_photos} photos")
            rows = [r for r in score_rows(cal, th, moment=True) if r["kind"] == SCENE]
            print_table(list(rows[0]), [list(r.values()) for r in rows],
                        title=f"Same scene, {label} thresholds, one camera's shots a moment "
                        "apart (views 5 s; worst case: every two different photos 30 s)")
        return 0
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    n_kinds = 4 if args.quick else args.kinds_photos
    print(machine_line())
    print_table(["n", "seconds", "cpu s", "peak MB", "groups", "planted pairs grouped",
                 "graph recall", "target"], [list(scale_row(n).values()) for n in sizes],
                title="Grouping (embeddings, hashes, times; no pixels read)")
    rows = kinds_rows(n_kinds)
    print_table(list(rows[0]), [list(r.values()) for r in rows],
                title=f"Pair kinds from pixel checks, {n_kinds} photos x {len(EDIT_NAMES)} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
