"""``lookalike predict FOLDER --set NAME --csv out.csv [--boxes]``: the head's label for every
photo (and where in it the head found that label)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.labels import LabelStore
from core.labels.export import export_predictions_csv
from core.labels.localise import predicted_boxes
from core.labels.review import predict_library
from core.paths import display

NAME = "predict"
HELP = "predict a label set for every photo with its trained head (CSV: path, predicted, " \
       "confidence, one column per label)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--set", dest="set_name", required=True, metavar="NAME",
                        help="the label set")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the predictions here")
    parser.add_argument("--clip-ranges", type=Path, metavar="FILE",
                        help="write each video clip's labels with their time ranges here (CSV)")
    parser.add_argument("--boxes", action="store_true",
                        help="add each photo's best box for its predicted label to the CSV "
                             "(box_x, box_y, box_w, box_h relative to the upright photo, "
                             "box_score): where the head found it")
    parser.add_argument("--clip-xmp", action="store_true",
                        help="write each video clip's labels into its XMP sidecar: keywords, "
                        "and the time ranges as xmpDM markers (the clips are never touched)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    if args.boxes and not args.csv:
        print("--boxes adds columns to the predictions CSV: give --csv FILE too.",
              file=sys.stderr)
        return 2
    with open_library(args, create=False, lock=True) as library, library.catalog.faults():
        catalog = library.catalog
        store = LabelStore(catalog)
        label_set = store.get_set(args.set_name)
        predictions = run_with_bars(predict_library(catalog, label_set.id, library.model_key),
                                    quiet=args.quiet)
        names = {label.id: label.name for label in store.labels(label_set.id)}
        top, _ = predictions.top()
        counts = Counter(names.get(predictions.label_ids[t], "?") for t in top)
        print(f"{label_set.name}: predicted {len(top)} photos: "
              + ", ".join(f"{name} {n}" for name, n in counts.most_common()))
        boxes = None
        if args.boxes:
            boxes = run_with_bars(predicted_boxes(catalog, label_set.id, library.model_key),
                                  quiet=args.quiet)
            if not boxes:
                print("No photo has regions yet (index the library again to add them): "
                      "the box columns stay empty.")
        if args.csv:
            rows = export_predictions_csv(catalog, args.csv, label_set.id, library.model_key,
                                          boxes)
            print(f"Wrote {rows} rows to {display(args.csv)}")
        if args.clip_ranges:
            from core.video.labels import export_ranges_csv

            rows = export_ranges_csv(catalog, args.clip_ranges, label_set.id, library.model_key)
            print(f"Wrote {rows} clip label ranges to {display(args.clip_ranges)}")
        if args.clip_xmp:
            from core.video.xmp import write_clip_sidecars

            result = run_with_bars(write_clip_sidecars(catalog, label_set.id, library.model_key),
                                   quiet=args.quiet)
            print(f"Wrote the labels of {result.written} clips into their XMP sidecars.")
            for path, reason in result.failed:
                print(f"  not written: {display(path)}: {reason}")
            return 1 if result.failed else 0
    return 0
