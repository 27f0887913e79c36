"""``lookalike similar FOLDER PHOTO``: the photos of the library most like PHOTO (among
those showing ``--person NAME`` and carrying ``--label SET:LABEL``, when given)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.options import add_library_arguments, open_library
from core.errors import BadArgument, PhotoNotFound
from core.faces.filter import combined_filter, rank_within
from core.files import why_not_a_file
from core.index import Hit
from core.library import Library
from core.paths import display
from core.video import clock

NAME = "similar"
HELP = "list the photos and clips most like PHOTO (which may be outside the library)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("photo", type=Path, metavar="PHOTO",
                        help="the query image file (or video clip: see --at)")
    parser.add_argument("--at", type=float, default=None, metavar="SECONDS",
                        help="for a video clip: the moment to query by (default its start)")
    parser.add_argument("-k", type=int, default=20, help="how many results (default 20)")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument("--region", metavar="X,Y,W,H", default=None, type=parse_box,
                        help="search by this region of PHOTO (relative to the upright photo, "
                        "0..1): photos rank by their best-matching region, whose box each "
                        "hit carries")
    parser.add_argument("--similarity", metavar="NAME", default=None,
                        help="rank by a learnt similarity (`lookalike learn`) instead of the "
                        "embedding's own")
    parser.add_argument("--person", action="append", default=[], metavar="NAME",
                        help="only photos showing this named person (repeat: all of them)")
    parser.add_argument("--label", action="append", default=[], metavar="SET:LABEL",
                        help="only photos with this label, e.g. People:Ann or Kind:portrait "
                        "(repeat: all of them)")


def run(args: argparse.Namespace) -> int:
    why = why_not_a_file(args.photo)
    if why:
        raise PhotoNotFound(args.photo, why)
    if args.k < 1:
        raise BadArgument("-k must be at least 1")
    if args.region is not None and (args.similarity or args.at is not None
                                    or args.person or args.label):
        raise BadArgument("--region cannot be combined with --similarity, --at, --person or "
                          "--label yet")
    if args.similarity and (args.person or args.label):
        raise BadArgument("--similarity cannot be combined with --person or --label yet")
    with open_library(args, create=False) as library:
        within = combined_filter(library.catalog, args.person, args.label)
        if args.region is not None:
            hits = similar_region(library, args.photo, args.region, args.k)
        elif within is not None:
            own = library.photo_at(args.photo)
            vector = library.embed_file(args.photo, args.at)
            with library.catalog.faults():
                hits = rank_within(library.catalog, library.model_key, vector, within,
                                   args.k, exclude={own.id} if own else set())
        elif args.similarity:
            hits = similar_learnt(library, args.photo, args.similarity, args.k)
        else:
            _, hits = library.similar_to_file(args.photo, k=args.k, at=args.at)
        photos = {p.id: p for p in library.catalog.photos([h.photo_id for h in hits])}
    rows: list[dict[str, object]] = []
    for h in hits:
        if h.photo_id not in photos:
            continue
        row: dict[str, object] = {"path": display(photos[h.photo_id].path),
                                  "score": round(float(h.score), 6), "id": h.photo_id}
        if h.time is not None:  # a video clip: the moment of its best-matching frame
            row["time"] = round(float(h.time), 3)
        if h.box is not None:  # a region search: the best-matching region
            row["box"] = [round(float(v), 4) for v in h.box]
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for rank, row in enumerate(rows, 1):
            moment = f"  at {clock(float(row['time']))}" if "time" in row else ""  # type: ignore[arg-type]
            where = ("  box " + ",".join(f"{v:.3f}" for v in row["box"])  # type: ignore[attr-defined]
                     if "box" in row else "")
            print(f"{rank:3d}  {row['score']:.4f}  {row['path']}{moment}{where}")
    return 0


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``X,Y,W,H`` (relative, 0..1) as a checked box; argparse reports a bad one."""
    from core.regions.grid import check_box

    try:
        values = [float(v) for v in text.split(",")]
        if len(values) != 4:
            raise ValueError(f"4 numbers are needed, got {len(values)}")
        return check_box((values[0], values[1], values[2], values[3]))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a region X,Y,W,H of numbers between 0 and 1 ({exc})") from None


def similar_region(library: Library, photo: Path, box: tuple[float, float, float, float],
                   k: int) -> list[Hit]:
    """The library's photos ranked by their region most like ``box`` of ``photo``."""
    try:
        return library.similar_to_region(photo, box, k)[1]
    except LookupError:
        raise BadArgument(f"{display(library.root)} has no region descriptors yet: run "
                          "`lookalike index` on it first.") from None


def similar_learnt(library: Library, photo: Path, name: str, k: int) -> list[Hit]:
    """The library's photos most like ``photo`` in the learnt similarity ``name``."""
    from core.similarity import learnt
    from core.similarity.search import SimilaritySearch

    with library.catalog.faults():
        search = SimilaritySearch(library.catalog, library.model_key, name)
        if learnt.is_stale(library.catalog, search.info):
            print(f"lookalike: judgements or labels changed since {name!r} was trained: "
                  f"`lookalike learn FOLDER --name {name!r}` retrains it.", file=sys.stderr)
        own = library.photo_at(photo)
        return search.by_vector(library.embed_file(photo), k,
                                exclude={own.id} if own else set())
