"""``lookalike learn FOLDER [--name mine]``: learn a similarity from the judgements and labels."""

from __future__ import annotations

import argparse

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.similarity import learnt

NAME = "learn"
HELP = ("train 'my similarity' from the judgements (and labels), print how much better it "
        "orders held-out triplets, and project the library for `similar --similarity NAME`")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--name", default=learnt.DEFAULT_NAME,
                        help=f"the similarity's name (default {learnt.DEFAULT_NAME})")
    parser.add_argument("--projection", choices=learnt.KINDS, default="linear",
                        help="linear (default) or mlp (two layers)")
    parser.add_argument("--loss", choices=learnt.LOSSES, default="auto",
                        help="triplet, binary (same/different) or auto: both, keep the better")
    parser.add_argument("--no-labels", action="store_true",
                        help="learn from the judgements only, not from the labels")
    parser.add_argument("--list", action="store_true", help="list the similarities and stop")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=False, lock=not args.list) as library, \
            library.catalog.faults():
        catalog, model = library.catalog, library.model_key
        if args.list:
            for name in learnt.names(catalog, model):
                sim = learnt.get(catalog, name, model)
                print("\n".join(learnt.describe(sim, learnt.is_stale(catalog, sim))))
            return 0
        sim = run_with_bars(learnt.train(catalog, model, args.name, kind=args.projection,
                                         loss=args.loss, labels=not args.no_labels),
                            quiet=args.quiet)
        print("\n".join(learnt.describe(sim)))
        n = run_with_bars(learnt.project_library(catalog, model, sim.name), quiet=args.quiet)
        print(f"Projected {n} photos: search with `lookalike similar FOLDER PHOTO "
              f"--similarity {sim.name!r}`.")
    return 0
