"""``lookalike index FOLDER``: scan the folder and embed new and changed photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.catalog.rebuild import rebuild
from core.errors import FolderNotFound
from core.files import why_not_a_folder
from core.jobs import Job
from core.library import IndexResult, Library
from core.paths import display

NAME = "index"
HELP = "scan a photo folder and embed new or changed photos"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--rebuild", action="store_true",
        help="set a damaged catalog aside, start a new one (recovering labels and embeddings "
        "where they can be read) and index again",
    )
    cluster = parser.add_argument_group(
        "on a Ray cluster (pip install 'lookalike[cluster]'; FOLDER on a file system every "
        "machine shares, at the same path)")
    cluster.add_argument(
        "--ray", metavar="ADDRESS", default=None,
        help="decode and embed on the Ray cluster at ADDRESS (HOST:PORT of its head node, "
        "or auto); this process scans and writes the catalog",
    )
    cluster.add_argument("--ray-workers", type=_positive_int, default=None, metavar="N",
                         help="embedding workers (default: one per CPU, or per GPU share)")
    cluster.add_argument("--ray-gpus", type=_share, default=0.0, metavar="G",
                         help="GPUs per worker, e.g. 1 or 0.5 (default 0: CPU workers)")


def run(args: argparse.Namespace) -> int:
    if args.rebuild:
        folder = Path(args.folder).expanduser()
        why = why_not_a_folder(folder)
        if why:
            raise FolderNotFound(folder, why)
        print(rebuild(folder, args.catalog).summary())
    if args.ray is not None:
        from core.cluster import check_reachable, import_ray

        import_ray()  # Ray missing, or a wrong address: say so before scanning
        check_reachable(args.ray)
    with open_library(args, create=True, lock=True) as library, library.catalog.faults():
        result = run_with_bars(_index_job(library, args), quiet=args.quiet)
        # A big library's approximate search index, so that `similar` need not build it.
        run_with_bars(library.searcher.build_index(), quiet=args.quiet)
        run_with_bars(library.regions.build_index(), quiet=args.quiet)
        s, e = result.scan, result.embed
        total = library.catalog.photo_count()
        embedded = library.catalog.embedded_count(library.model_key)
        problems = len(library.catalog.problems())  # the scan's and the embedding pass's
    # A new file that turned out unreadable is a problem, not a new photo.
    new = s.new - min(e.failed, s.new)
    print(
        f"{total} photos ({embedded} embedded with {library.model_key}): "
        f"{new} new, {s.changed} changed, {s.removed} removed, {s.moved} moved, "
        f"{problems} problems. Embedded {e.embedded} in {e.seconds:.1f} s "
        f"({e.rate:.1f} photos/s)."
    )
    if problems:
        print(f"See the problems with: lookalike status {display(args.folder)}")
    return 0


def _index_job(library: Library, args: argparse.Namespace) -> Job[IndexResult]:
    """The local pipeline, or the Ray cluster's (core.cluster) with ``--ray``."""
    if args.ray is None:
        return library.index()
    from core.cluster import RayOptions, index_on_ray

    return index_on_ray(library, RayOptions(args.ray, args.ray_workers, args.ray_gpus))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
