"""``lookalike label FOLDER --set NAME --add LABEL PHOTO...``: label photos by hand."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.options import add_library_arguments, open_library
from core.errors import BadArgument, PhotoNotFound
from core.labels import LabelStore
from core.library import Library

NAME = "label"
HELP = "add or remove a label on photos (creates the label set and the label if needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--set", dest="set_name", metavar="NAME",
                        help="the label set (without --add/--remove: list its labels)")
    parser.add_argument("--multi", action="store_true",
                        help="a new set is multi-label (default: single-choice)")
    parser.add_argument("--add", nargs="+", action="append", default=[],
                        metavar=("LABEL", "PHOTO"), help="give LABEL to the PHOTO files")
    parser.add_argument("--remove", nargs="+", action="append", default=[],
                        metavar=("LABEL", "PHOTO"), help="take LABEL off the PHOTO files")


def run(args: argparse.Namespace) -> int:
    changes = [(True, *c) for c in args.add] + [(False, *c) for c in args.remove]
    if any(len(c) < 3 for c in changes):
        raise BadArgument("--add and --remove need a LABEL and photos")
    if changes and not args.set_name:
        raise BadArgument("--add and --remove need --set NAME")
    lock = bool(changes)
    with open_library(args, create=False, lock=lock) as library, library.catalog.faults():
        store = LabelStore(library.catalog)
        if not args.set_name:
            for label_set in store.sets():
                counts = ", ".join(f"{label.name} {label.count}"
                                   for label in store.labels(label_set.id))
                print(f"{label_set.name} ({label_set.kind}): {counts or 'no labels'}")
            return 0
        label_set = (store.ensure_set(args.set_name, multi=args.multi) if changes
                     else store.get_set(args.set_name))
        for add, label_name, *photos in changes:
            ids = [_photo_id(library, Path(p)) for p in photos]
            if add:
                label = store.ensure_label(label_set.id, label_name)
                n = store.assign(label.id, ids)
                print(f"{label_set.name}: {label.name} added to {n} photos")
            else:
                label = store.get_label(label_set.id, label_name)
                n = store.unassign(label.id, ids)
                print(f"{label_set.name}: {label.name} removed from {n} photos")
        counts = ", ".join(f"{label.name} {label.count}" for label in store.labels(label_set.id))
        print(f"{label_set.name} ({label_set.kind}): {counts or 'no labels'}")
    return 0


def _photo_id(library: Library, path: Path) -> int:
    photo = library.photo_at(path)
    if photo is None:
        if not path.exists():
            raise PhotoNotFound(path)
        raise PhotoNotFound(path, f"not a photo of {library.root} yet: run `lookalike index` "
                              "first")
    if not photo.content_hash:
        raise PhotoNotFound(path, "not read yet: run `lookalike index` first")
    return photo.id
