"""``lookalike judge FOLDER PHOTO --similar P... --not-similar P...``: similarity judgements."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.label_cmd import _photo_id
from cli.options import add_library_arguments, open_library
from core.errors import BadArgument
from core.similarity import JudgementStore

NAME = "judge"
HELP = ("say which photos are similar or not similar to PHOTO (what `lookalike learn` learns "
        "from); without options, list PHOTO's judgements")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("photo", type=Path, metavar="PHOTO", help="the query photo")
    parser.add_argument("--similar", nargs="+", type=Path, default=[], metavar="P",
                        help="photos that are like PHOTO")
    parser.add_argument("--not-similar", nargs="+", type=Path, default=[], metavar="P",
                        help="photos that are not like PHOTO")
    parser.add_argument("--forget", nargs="*", type=Path, default=None, metavar="P",
                        help="drop the judgements of these photos (all of PHOTO's if none)")


def run(args: argparse.Namespace) -> int:
    changes = bool(args.similar or args.not_similar or args.forget is not None)
    with open_library(args, create=False, lock=changes) as library, library.catalog.faults():
        store = JudgementStore(library.catalog)
        query = _photo_id(library, args.photo)
        if args.forget is not None:
            others = [_photo_id(library, p) for p in args.forget] or None
            print(f"Forgot {store.forget(query, others)} judgements.")
        similar = [_photo_id(library, p) for p in args.similar]
        not_similar = [_photo_id(library, p) for p in args.not_similar]
        if set(similar) & set(not_similar):
            raise BadArgument("A photo cannot be both similar and not similar.")
        if similar or not_similar:
            n = store.judge(query, similar, not_similar)
            print(f"Recorded {n} judgements.")
        judged = store.of_photo(query)
        photos = {p.id: p for p in library.catalog.photos(judged)}
        for pid, alike in judged.items():
            print(f"{'similar' if alike else 'not similar':<12} {photos[pid].path}")
        counts = store.counts()
        print(f"In all: {counts.similar} similar and {counts.not_similar} not similar, on "
              f"{counts.queries} query photos.")
    return 0
