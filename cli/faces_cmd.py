"""``lookalike faces FOLDER``: find the faces in the photos and group them into people."""

from __future__ import annotations

import argparse

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.jobs import Job
from core.library import Library
from core.paths import display

NAME = "faces"
HELP = "find the faces in a folder's photos and group them into people (dlib, CPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes (default: one per core, at most 4; 0: none)")


def _scan_then_faces(library: Library, workers: int | None) -> Job[object]:
    scanned = yield from library.scan()
    faces = yield from library.faces(workers=workers)
    return scanned, faces


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=True, lock=True) as library, library.catalog.faults():
        _scanned, result = run_with_bars(_scan_then_faces(library, args.workers),
                                         quiet=args.quiet)
        people = len(library.people.persons())
    g = result.grouping
    print(f"Looked at {result.photos} photos in {result.seconds:.1f} s "
          f"({result.rate:.1f} photos/s): {result.faces} faces, {result.failed} unreadable. "
          f"{g.joined} faces joined known people, {g.new_persons} new people "
          f"({g.grouped} faces), {g.alone} faces alone. {people} people in all.")
    print(f"See them with: lookalike people {display(args.folder)}")
    return 0
