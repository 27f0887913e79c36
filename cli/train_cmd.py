"""``lookalike train FOLDER --set NAME``: train a head on the labels, print its validation."""

from __future__ import annotations

import argparse

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.labels import LabelStore
from core.labels.heads import HEAD_KINDS, describe, train
from core.labels.review import predict_library

NAME = "train"
HELP = "train a head for a label set on the embeddings and predict the whole library"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--set", dest="set_name", required=True, metavar="NAME",
                        help="the label set")
    parser.add_argument("--head", choices=HEAD_KINDS, default="linear",
                        help="linear (logistic regression, default) or mlp (a hidden layer)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=False, lock=True) as library, library.catalog.faults():
        catalog = library.catalog
        label_set = LabelStore(catalog).get_set(args.set_name)
        info = run_with_bars(train(catalog, label_set.id, library.model_key, args.head),
                             quiet=args.quiet)
        print(f"{label_set.name} ({label_set.kind}) with {library.model_key}:")
        print("\n".join(describe(info)))
        predictions = run_with_bars(predict_library(catalog, label_set.id, library.model_key),
                                    quiet=args.quiet)
        print(f"Predicted {len(predictions.photo_ids)} photos (head v{info.version}).")
    return 0
