"""``lookalike similar FOLDER PHOTO``: the photos of the library most like PHOTO."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.options import add_library_arguments, open_library
from core.errors import BadArgument, PhotoNotFound
from core.paths import display

NAME = "similar"
HELP = "list the photos most like PHOTO (which may be outside the library)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("photo", type=Path, metavar="PHOTO", help="the query image file")
    parser.add_argument("-k", type=int, default=20, help="how many results (default 20)")
    parser.add_argument("--json", action="store_true", help="print a JSON array")


def run(args: argparse.Namespace) -> int:
    if not args.photo.is_file():
        raise PhotoNotFound(args.photo)
    if args.k < 1:
        raise BadArgument("-k must be at least 1")
    with open_library(args, create=False) as library:
        _, hits = library.similar_to_file(args.photo, k=args.k)
        photos = {p.id: p for p in library.catalog.photos([h.photo_id for h in hits])}
    rows = [
        {"path": display(photos[h.photo_id].path), "score": round(float(h.score), 6),
         "id": h.photo_id}
        for h in hits if h.photo_id in photos
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for rank, row in enumerate(rows, 1):
            print(f"{rank:3d}  {row['score']:.4f}  {row['path']}")
    return 0
