"""``lookalike duplicates FOLDER``: groups of near-identical photos, each pair's kind, the
best pick and the rejects; optionally to XMP sidecars, CSV, JSON and a list of reject paths.
Nothing is deleted or moved."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.duplicates import KINDS, find_groups
from core.duplicates import export as dup_export
from core.duplicates.store import decide_groups
from core.errors import LookalikeError
from core.paths import display

NAME = "duplicates"
HELP = "find duplicates, re-encodes, edits and bursts, and propose the best of each group"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--kind", action="append", choices=KINDS, metavar="KIND",
                        help=f"only pairs of this kind (repeatable): {', '.join(KINDS)}")
    parser.add_argument("--json", action="store_true", help="print the groups as JSON")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write one row per photo")
    parser.add_argument("--rejects", type=Path, metavar="FILE",
                        help="write the rejected photos' paths, one a line")
    parser.add_argument("--xmp", action="store_true",
                        help="write xmp:Rating -1 for rejects and a Pick/Reject keyword into "
                        "photo.xmp sidecars (merged; photos are never touched)")
    parser.add_argument("--accept", action="store_true",
                        help="store the proposed picks of undecided groups as decisions")
    parser.add_argument("--taste", action="store_true",
                        help="learn your taste from the groups you decided and let it pick in "
                        "the rest (shows how often it agreed with your held-out picks)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=False, lock=args.accept) as library, \
            library.catalog.faults():
        catalog = library.catalog
        if not catalog.embedded_count(library.model_key):
            raise LookalikeError(f"No photos are indexed with {library.model_key} yet: run "
                                 f"`lookalike index {display(args.folder)}` first.")
        taste = None
        if args.taste:
            from core.duplicates.taste import train_taste

            try:
                taste = run_with_bars(train_taste(catalog, library.model_key), quiet=True)
            except ValueError as exc:
                raise LookalikeError(f"Cannot learn your taste yet: {exc}.") from exc
            if not args.json:
                agreed = ("no held-out group yet" if taste.agreement is None else
                          f"agreed with {taste.agreement:.0%} of {taste.held_out} held-out picks")
                print(f"Learned your taste from {taste.trained_on // 2} decided pairs; {agreed}.")
        accepted = 0
        report = run_with_bars(find_groups(catalog, library.model_key, kinds=args.kind,
                                           taste=taste), quiet=args.quiet or args.json)
        groups = list(report.groups)
        if args.accept:  # one transaction per 500 groups: each group whole or undecided
            accepted = decide_groups(catalog, ((g.key, {p.content_hash or "": g.decisions[p.id]
                                                        for p in g.photos})
                                               for g in groups if not g.decided), source="auto")
    failed = 0
    if args.json:
        print(json.dumps(dup_export.to_json(groups), ensure_ascii=False))
    else:
        _print_groups(groups, report.photos)
        if args.accept:
            print(f"\nAccepted the proposal of {accepted} undecided groups as decisions.")
    if args.csv:
        n = dup_export.write_csv(groups, args.csv)
        print(f"Wrote {n} rows to {display(args.csv)}")
    if args.rejects:
        n = dup_export.write_rejects(groups, args.rejects)
        print(f"Wrote {n} reject paths to {display(args.rejects)}")
    if args.xmp:
        result = run_with_bars(dup_export.write_sidecars(groups), quiet=args.quiet)
        print(f"Wrote {result.written} XMP sidecars.")
        for path, reason in result.failed:
            print(f"  not written: {display(path)}: {reason}")
        failed = len(result.failed)
    for path, reason in report.unreadable:
        print(f"  could not compare {display(path)}: {reason}")
    return 1 if failed else 0


def _print_groups(groups: list, photos: int) -> None:  # type: ignore[type-arg]
    rejects = sum(len(g.rejects()) for g in groups)
    print(f"{len(groups)} groups among {photos} photos; {rejects} proposed or decided rejects.")
    for n, group in enumerate(groups, 1):
        state = "decided" if group.decided else "proposed"
        print(f"\nGroup {n} ({', '.join(group.kinds)}; {state}):")
        for photo in group.photos:
            mark = "PICK  " if group.decisions[photo.id] == "pick" else "reject"
            size = f"{photo.width}x{photo.height}" if photo.width else "?"
            print(f"  {mark} {display(photo.path)}  {size}  {photo.size / 1e6:.1f} MB")
        if not group.decided:
            print(f"  why: {'; '.join(group.reasons)}")
