"""Retrieval quality on real photographs: near-duplicates (Copydays-like) and everyday groups.

    python -m benchmarks.quality [--quick] [--models efficientnet_lite0,...] [--weights FILE]
                                 [--layers semantic,visual] [--originals N] [--sources N]
                                 [--no-experiments] [--only WORDS]

Photos: ``../shared/photos`` and Debian's wallpaper packages, fetched once into
``~/.cache/lookalike-bench/quality`` (``apt-get download`` + ``dpkg-deb -x``; see
:mod:`benchmarks.quality_data` and the hand-checked ``quality_manifest.tsv``).

1. Near-duplicates: each original is edited by every kind of :mod:`benchmarks.edits` (JPEG
   quality 75 to 10, resize to 10 %, crops of 10-50 %, rotations, exposure and colour,
   mirror, blur, text, perspective + noise); each edited copy queries a database of the
   originals plus the distractors (the tile-source pictures and 29 tiles cut from each).
   mAP (one relevant item: mean 1/rank) and recall@1 per edit.
2. Semantic: every grouped photo queries the others: mAP@10 of same-group retrieval (mean
   over groups), and the accuracy of the product's linear head trained on 3 labelled photos
   per group (mean of 5 draws).

Compared in one run: each packaged model (each of ``--layers``: the semantic layer, the
product's default, and the visual layer, an earlier stage pooled), random-init ResNet-50, a
perceptual hash (imagehash pHash), imagededup's CNN, ResNet-50 with ``--weights FILE`` when
given; then, for the default model, GeM pooling, the global embedding aggregated from the
region descriptors (R-MAC: the sum of the 30 unit regions of :mod:`core.regions`), two input
scales, the whole frame instead of the centre square, and PCA whitening learned on the
library (for every CNN). Every vector is cached per descriptor and picture (``--cache``), so
a second run, or one that adds a descriptor, computes only what is new. ``--quick`` (under a minute,
offline): the shared photos only, 10 originals, 6 edits, generated scenes
(:mod:`benchmarks.synthetic`) as distractors, the default model (both layers) and pHash
(few-shot: 2 draws).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks import quality_data as qd
from benchmarks import quality_eval as qe
from benchmarks._common import machine_line, print_table
from benchmarks.edits import EDITS, MILD, apply_edit
from benchmarks.quality_methods import Method, VectorCache, cnn, imagededup_cnn, phash
from benchmarks.synthetic import scene
from core.embed.models import DEFAULT_MODEL, LAYERS, MODELS, SEMANTIC, VISUAL, check_layer

log = logging.getLogger(__name__)

TARGET_MILD, TARGET_STRONG = 0.95, 0.85
STRONG_CROPS, ROTATIONS = ("crop25", "crop50"), ("rotate5", "rotate90")
QUICK_KINDS = ("jpeg30", "crop10", "mirror", "crop50", "rotate90", "resize10")
QUICK_ORIGINALS, QUICK_DISTRACTORS = 10, 40
WHITEN_DIMS = 128
RANDOM_LABEL = "resnet50 (random init)"


@dataclass(frozen=True)
class Protocol:
    """The pictures of one run: database (originals first), queries, semantic set."""

    database: list[qd.Item]
    n_originals: int
    queries: list[qd.Item]
    targets: NDArray[np.int64]  # each query's original: a row of the database
    kinds: list[str]
    semantic: list[qd.Item]


def _original(entry: qd.Entry, path: Path) -> qd.Item:
    return qd.Item(f"o:{entry.name}", lambda: qd.open_rgb(path), entry.group)


def _variant(entry: qd.Entry, path: Path, kind: str) -> qd.Item:
    seed = zlib.crc32(f"{entry.name}:{kind}".encode())
    return qd.Item(f"v:{entry.name}:{kind}", lambda: apply_edit(qd.open_rgb(path), kind, seed))


def _round_robin(entries: list[qd.Entry], n: int) -> list[qd.Entry]:
    """Up to n entries taking one group after another, so that a subset covers every group."""
    by_group: dict[str, list[qd.Entry]] = {}
    for e in entries:
        by_group.setdefault(e.group, []).append(e)
    out: list[qd.Entry] = []
    while len(out) < min(n, len(entries)):
        for group in list(by_group):
            if by_group[group] and len(out) < n:
                out.append(by_group[group].pop(0))
    return out


def build_protocol(cache: Path, *, quick: bool, kinds: Sequence[str], n_originals: int | None,
                   n_sources: int | None) -> Protocol:
    entries = qd.load_manifest()
    if quick:
        entries = [e for e in entries if e.source == "shared"]
        originals = _round_robin([e for e in entries if e.role == qd.ORIGINAL], QUICK_ORIGINALS)
        sources: list[qd.Entry] = []
    else:
        qd.fetch_packages(cache)
        originals = [e for e in entries if e.role == qd.ORIGINAL]
        sources = [e for e in entries if e.role == qd.TILES]
        originals = _round_robin(originals, n_originals or len(originals))
        sources = _round_robin(sources, n_sources or len(sources))
    paths = {e: qd.working_copy(e, cache) for e in entries}
    database = [_original(e, paths[e]) for e in originals]
    for e in sources:
        database += qd.tile_items(e, paths[e])
    if quick:
        database += [qd.Item(f"s:{i}", lambda i=i: scene(10_000 + i))
                     for i in range(QUICK_DISTRACTORS)]
    queries, targets, query_kinds = [], [], []
    for row, e in enumerate(originals):
        for kind in kinds:
            queries.append(_variant(e, paths[e], kind))
            targets.append(row)
            query_kinds.append(kind)
    # every grouped photo, whichever originals and sources this run uses (the same items
    # as in the database where they are there: the vectors are shared)
    grouped = [e for e in entries if e.group != qd.OTHER]
    semantic = [qd.tile_items(e, paths[e])[0] if e.role == qd.TILES else _original(e, paths[e])
                for e in grouped]
    semantic = [qd.Item(i.name, i.make, e.group) for i, e in zip(semantic, grouped, strict=True)]
    return Protocol(database, len(originals), queries, np.array(targets, np.int64), query_kinds,
                    semantic)


def layer_label(model: str, layer: str) -> str:
    """A product model's row: its name, and the layer when it is not the semantic one."""
    return model if layer == SEMANTIC else f"{model} ({layer} layer)"


def methods(quick: bool, models: Sequence[str], weights: str | None,
            experiments: bool, layers: Sequence[str] = (SEMANTIC, VISUAL)) -> list[Method]:
    out = [cnn(m, layer=layer, label=layer_label(m, layer)) for m in models for layer in layers]
    if quick:
        return [*out, phash()]
    out += [cnn("resnet50", "none", label=RANDOM_LABEL), phash(), imagededup_cnn()]
    if weights:
        out.append(cnn("resnet50", weights, label=f"resnet50 ({Path(weights).name})"))
    if experiments:
        base = models[0]
        out += [cnn(base, pooling="gem", label=f"{base} + GeM (p=3)"),
                cnn(base, pooling="rmac", label=f"{base} + aggregated regions"),
                cnn(base, scales=(1.0, 1.5), label=f"{base} + 2 scales (1, 1.5)"),
                cnn(base, frame="whole", label=f"{base} + whole frame")]
    return out


@dataclass
class Figures:
    label: str
    per_kind: dict[str, tuple[float, float]]  # kind -> (mAP, recall@1)
    semantic: dict[str, float]  # group -> mAP@10
    few_shot: float


def _say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def measure(method: Method, proto: Protocol, store: VectorCache, whiten: bool, draws: int = 5
            ) -> tuple[Figures, dict[str, float]]:
    """The figures of one descriptor (with PCA whitening learned on the library if
    ``whiten``), and its pooled mAPs for the summary."""
    db = store.vectors(method, proto.database, _say)
    q = store.vectors(method, proto.queries, _say)
    sem = store.vectors(method, proto.semantic, _say)
    label = method.label
    if whiten:
        to_db = qe.pca_whitening(db, WHITEN_DIMS)
        db, q = to_db(db), to_db(q)
        sem = qe.pca_whitening(sem, min(WHITEN_DIMS, len(sem) // 2))(sem)
        label += f" + PCA-w {WHITEN_DIMS}"
    ap, r1 = qe.near_duplicate_ap(q, db, proto.targets)
    kinds = np.asarray(proto.kinds)
    per_kind = {k: (float(ap[kinds == k].mean()), float(r1[kinds == k].mean()))
                for k in dict.fromkeys(proto.kinds)}
    groups = [item.group for item in proto.semantic]
    figures = Figures(label, per_kind, qe.map_at_k(sem, groups), qe.few_shot_accuracy(sem, groups,
                                                                          draws=draws))
    mild = [k for k in per_kind if EDITS[k].level == MILD]
    pooled = {"mild": _pool(ap, kinds, mild), "crops": _pool(ap, kinds, STRONG_CROPS),
              "rotations": _pool(ap, kinds, ROTATIONS), "all": float(ap.mean())}
    return figures, pooled


def _pool(ap: NDArray[np.float64], kinds: NDArray[np.str_], chosen: Sequence[str]) -> float:
    mask = np.isin(kinds, list(chosen))
    return float(ap[mask].mean()) if mask.any() else float("nan")


def _verdict(value: float, target: float) -> str:
    if value != value:
        return "–"
    return f"{value:.3f} {'ok' if value >= target else 'MISS'}"


def report(results: list[tuple[Figures, dict[str, float]]], proto: Protocol,
           chance: dict[str, float], default: str) -> None:
    kinds = list(dict.fromkeys(proto.kinds))
    print_table(["edit", "level", *[f.label for f, _ in results]],
                [[k, EDITS[k].level, *[f"{f.per_kind[k][0]:.3f} ({f.per_kind[k][1]:.2f})"
                                       for f, _ in results]] for k in kinds],
                title="Near-duplicates: mAP (recall@1) per edit")
    phash_row = next((p for f, p in results if f.label.startswith("pHash")), None)
    random_row = next((f for f, _ in results if f.label == RANDOM_LABEL), None)
    rows = []
    for f, p in results:
        ahead = "–" if phash_row is None or f.label.startswith("pHash") else (
            "yes" if all(p[k] > phash_row[k] for k in ("mild", "crops", "rotations")
                         if p[k] == p[k]) else "no")
        rows.append([f.label, _verdict(p["mild"], TARGET_MILD),
                     _verdict(p["crops"], TARGET_STRONG), _verdict(p["rotations"],
                                                                   TARGET_STRONG),
                     f"{p['all']:.3f}", ahead, f"{np.mean(list(f.semantic.values())):.3f}",
                     f"{f.few_shot:.3f}"])
    print_table(["descriptor", f"mild mAP (>={TARGET_MILD})",
                 f"strong crops mAP (>={TARGET_STRONG})", f"rotations mAP (>={TARGET_STRONG})",
                 "all edits mAP", "ahead of pHash", "semantic mAP@10", "few-shot acc (3/group)"],
                rows, title=f"Summary: {proto.n_originals} originals, "
                            f"{len(proto.database) - proto.n_originals} distractors, "
                            f"{len(proto.queries)} queries; {len(proto.semantic)} grouped photos")
    groups = list(chance)
    print_table(["group", "photos", "chance", *[f.label for f, _ in results]],
                [[g, sum(i.group == g for i in proto.semantic), f"{chance[g]:.3f}",
                  *[f"{f.semantic[g]:.3f}" for f, _ in results]] for g in groups],
                title="Semantic: mAP@10 of same-group retrieval per group")
    base = next((f for f, _ in results if f.label == default), None)
    if base is not None and random_row is not None:
        ours = np.mean(list(base.semantic.values()))
        theirs = np.mean(list(random_row.semantic.values()))
        ok = "ok" if ours >= 2 * theirs else "MISS"
        print(f"\nsemantic mAP@10: {default} {ours:.3f} vs random-init ResNet-50 {theirs:.3f} "
              f"(chance {np.mean(list(chance.values())):.3f}); target at least 2x random init: "
              f"{ok}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="offline, under a minute")
    parser.add_argument("--models", help="product models, comma-separated (default: the "
                        "packaged ones, else the default model)")
    parser.add_argument("--weights", help="a ResNet-50 state_dict file to compare as well")
    parser.add_argument("--layers", default=",".join(LAYERS),
                        help="the product models' layers, comma-separated (default: "
                        f"{','.join(LAYERS)}: a row each)")
    parser.add_argument("--originals", type=int, help="use only N originals (default: all)")
    parser.add_argument("--sources", type=int, help="use only N tile sources (default: all)")
    parser.add_argument("--kinds", help="edits, comma-separated (default: all)")
    parser.add_argument("--no-experiments", action="store_true",
                        help="skip GeM, two scales and whole frame")
    parser.add_argument("--no-whitening", action="store_true",
                        help="skip the PCA-whitened rows (cheap: learned on cached vectors)")
    parser.add_argument("--only", help="run only the descriptors whose cache key contains one "
                        "of these comma-separated words (e.g. to fill the cache in parts)")
    parser.add_argument("--cache", type=Path, default=qd.default_cache())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    packaged = [name for name, spec in MODELS.items() if spec.packaged]
    base = DEFAULT_MODEL if DEFAULT_MODEL in packaged or not packaged else packaged[0]
    models = (args.models.split(",") if args.models else [base] if args.quick
              else sorted(packaged, key=lambda m: m != base))
    kinds = (args.kinds.split(",") if args.kinds else list(QUICK_KINDS) if args.quick
             else list(EDITS))
    start = time.perf_counter()
    proto = build_protocol(args.cache, quick=args.quick, kinds=kinds,
                           n_originals=args.originals, n_sources=args.sources)
    print(f"# quality benchmark: {machine_line()}")
    print(f"# {'quick: shared photos + generated scenes' if args.quick else 'full'}; cache "
          f"{args.cache}")
    store = VectorCache(args.cache / "vectors")
    experiments = not args.quick and not args.no_experiments
    whiten = not args.quick and not args.no_whitening
    results = []
    layers = [check_layer(layer) for layer in args.layers.split(",")]
    chosen = methods(args.quick, models, args.weights, experiments, layers)
    if args.only:
        chosen = [m for m in chosen if any(word in m.key for word in args.only.split(","))]
    for method in chosen:
        results.append(measure(method, proto, store, whiten=False, draws=2 if args.quick else 5))
        if whiten and method.model is not None and "+" not in method.label:
            results.append(measure(method, proto, store, whiten=True))
    chance = qe.chance_map_at_k([item.group for item in proto.semantic])
    report(results, proto, chance, models[0])
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
