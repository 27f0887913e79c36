"""``lookalike map FOLDER``: compute (or reuse) the cluster map; list its clusters or draw it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import PlainLines, is_terminal
from core import jobs
from core.jobs import Progress
from core.map import compute_map, numba_cache
from core.map.clusters import colourings
from core.map.render import render_png
from core.paths import display

NAME = "map"
HELP = "lay the library out as a 2-D map of look-alike clusters (UMAP), optionally as a PNG"
COLOUR_BY = {"cluster": "Cluster", "folder": "Folder", "date": "Capture date"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--png", type=Path, metavar="FILE", help="write the map as a PNG image")
    parser.add_argument("--thumbnails", action="store_true",
                        help="draw the photos' thumbnails on the PNG instead of dots")
    parser.add_argument("--colour-by", "--color-by", dest="colour_by", default="cluster",
                        choices=list(COLOUR_BY), help="what the PNG's colours show")
    parser.add_argument("--size", type=int, default=1600, help="PNG width in pixels")
    parser.add_argument("--recompute", action="store_true",
                        help="fit the map from scratch instead of reusing or updating it")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--json", action="store_true", help="print the clusters as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=False) as library:
        catalog = library.catalog
        numba_cache.enable()  # umap's compiled code, kept for the next run
        job = compute_map(catalog, library.model_key, seed=args.seed, recompute=args.recompute)
        terminal = is_terminal(sys.stderr)
        show = _show_progress if terminal else PlainLines(sys.stderr)
        result = jobs.run(job, None if args.quiet or args.json else show)
        if not (args.quiet or args.json) and terminal:
            sys.stderr.write("\r" + " " * 79 + "\r")
        paths = {p.id: p.path for p in catalog.photos(
            i for c in result.cluster_info for i in c.representatives)}
        if args.png:
            colouring = colourings(catalog, result.ids, result.clusters)[
                COLOUR_BY[args.colour_by]]()
            render_png(result, args.png, catalog=catalog, colouring=colouring,
                       thumbnails=args.thumbnails, size=args.size)
    clusters = [
        {"cluster": c.number + 1, "size": c.size,
         "representatives": [display(paths[i]) for i in c.representatives if i in paths]}
        for c in result.cluster_info
    ]
    if args.json:
        print(json.dumps({"photos": result.item_count(), "points": len(result),
                          "how": result.how, "clusters": clusters},
                         ensure_ascii=False))
        return 0
    unclustered = int((result.clusters < 0).sum())
    print(f"{result.describe()}, {len(clusters)} clusters"
          f"{f', {unclustered:,} in none' if unclustered else ''} "
          f"(map {result.how} in {result.seconds:.1f} s)")
    for row in clusters:
        example = row["representatives"][0] if row["representatives"] else ""
        print(f"{row['cluster']:4d}  {row['size']:6,d}  {example}")
    if args.png:
        print(f"Wrote {display(args.png)}")
    return 0


def _show_progress(progress: Progress) -> None:
    """One status line on stderr: umap reports no fraction, only what it does and for how
    long (e.g. "Laying out 50,000 photos · 31 s")."""
    if progress.total and progress.total > 1:
        text = f"{progress.text} ({progress.done:,}/{progress.total:,})"
    else:
        text = progress.text
    sys.stderr.write("\r" + text[:79].ljust(79))
    sys.stderr.flush()
