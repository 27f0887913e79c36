"""``lookalike keywords FOLDER``: what the classifier saw in each photo (words, classes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.keywords import MIN_SCORE, library_keywords, search_keywords
from core.keywords.export import HIERARCHY, export_keywords_csv, write_keyword_sidecars
from core.paths import display

NAME = "keywords"
HELP = "list the keywords the classifier gave each photo (dog, flower, car...), find or export them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--csv", type=Path, metavar="FILE",
                        help="write path, keywords and ImageNet classes to a CSV file")
    target.add_argument("--find", metavar="WORD",
                        help="list the photos whose keywords include WORD (e.g. dog: any breed)")
    target.add_argument("--xmp", action="store_true",
                        help=f"write the keywords as {HIERARCHY}|word into photo.xmp beside "
                        "each photo (merged; your own keywords and photos are never touched)")
    parser.add_argument("--min-score", type=float, default=MIN_SCORE, metavar="P",
                        help="keep words at least this likely (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=False) as library, library.catalog.faults():
        catalog, model = library.catalog, library.model_key
        if args.xmp:
            result = run_with_bars(write_keyword_sidecars(catalog, model, args.min_score))
            print(f"Wrote {result.written} XMP sidecars.")
            for path, reason in result.failed:
                print(f"  not written: {display(path)}: {reason}")
            return 1 if result.failed else 0
        if args.csv:
            n = export_keywords_csv(catalog, model, args.csv, args.min_score)
            print(f"Wrote the keywords of {n} photos to {display(args.csv)}")
            return 0
        if args.find:
            ids = search_keywords(catalog, model, args.find, args.min_score)
            for photo in catalog.photos(ids):
                print(display(photo.path))
            print(f"{len(ids)} photos with {args.find!r}")
            return 0
        n = 0
        for photo, found in library_keywords(catalog, model):
            words = ", ".join(found.confident_words(args.min_score)) or "-"
            top = ", ".join(f"{name} {prob:.2f}" for name, prob in found.classes[:3])
            print(f"{display(photo.path)}: {words}  ({top})")
            n += 1
    if n == 0:
        print(f"No keywords from {model}: index the library with a pretrained model, e.g. "
              f"`lookalike index {display(args.folder)}` (the default model names what it sees).")
    return 0
