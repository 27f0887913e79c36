"""``lookalike labels export|import FOLDER ...``: labels as CSV/JSON, and XMP sidecars."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.labels import LabelStore
from core.labels.export import export_json, export_labels_csv, import_labels_csv, write_sidecars
from core.paths import display

NAME = "labels"
HELP = "export labels (CSV, JSON with predictions, XMP sidecars) or import them from CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="write the labels to a file or to XMP sidecars")
    add_library_arguments(export)
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--json", type=Path, metavar="FILE",
                        help="label sets, labels, decisions and predictions as JSON")
    target.add_argument("--csv", type=Path, metavar="FILE", help="one row per label decision")
    target.add_argument("--xmp", action="store_true",
                        help="write the labels as keywords into photo.xmp beside each labelled "
                        "photo (merged into existing sidecars; photos are never touched)")
    export.add_argument("--set", dest="set_name", metavar="NAME", help="only this label set")
    import_ = sub.add_parser("import", help="read labels from a CSV (as written by export)")
    add_library_arguments(import_)
    import_.add_argument("file", type=Path, metavar="FILE.csv")


def run(args: argparse.Namespace) -> int:
    lock = args.action == "import"
    with open_library(args, create=False, lock=lock) as library, library.catalog.faults():
        catalog = library.catalog
        if args.action == "import":
            result = import_labels_csv(catalog, args.file)
            print(f"Imported {result.imported} label decisions from {display(args.file)}.")
            if result.unknown:
                print(f"{result.unknown} rows name photos this library does not have, e.g. "
                      f"{result.unknown_paths[0] or '(no path)'}")
            return 0
        set_ids = ([LabelStore(catalog).get_set(args.set_name).id] if args.set_name
                   else None)
        if args.xmp:
            result = run_with_bars(write_sidecars(catalog, set_ids))
            print(f"Wrote {result.written} XMP sidecars.")
            for path, reason in result.failed:
                print(f"  not written: {display(path)}: {reason}")
            return 1 if result.failed else 0
        if args.json:
            n = export_json(catalog, args.json, library.model_key, set_ids)
            print(f"Wrote {n} label decisions to {display(args.json)}")
        else:
            n = export_labels_csv(catalog, args.csv, set_ids)
            print(f"Wrote {n} label decisions to {display(args.csv)}")
    return 0
