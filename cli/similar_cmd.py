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
    if args.similarity and (args.person or args.label):
        raise BadArgument("--similarity cannot be combined with --person or --label yet")
    with open_library(args, create=False) as library:
        within = combined_filter(library.catalog, args.person, args.label)
        if within is not None:
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
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for rank, row in enumerate(rows, 1):
            moment = f"  at {clock(float(row['time']))}" if "time" in row else ""  # type: ignore[arg-type]
            print(f"{rank:3d}  {row['score']:.4f}  {row['path']}{moment}")
    return 0


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
