"""``lookalike [FOLDER]`` with no subcommand: parse the app's options, open the desktop app."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cli.options import add_library_arguments

if TYPE_CHECKING:
    from gui.app import AppOptions


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``lookalike [FOLDER] [--model M] [--weights W] ...``."""
    parser = argparse.ArgumentParser(
        prog="lookalike", description="Open the Lookalike photo browser.")
    parser.add_argument("folder", type=Path, nargs="?", metavar="FOLDER",
                        help="the photo folder to open (default: the last one)")
    add_library_arguments(parser, folder=False, layer=False)  # the layer: Preferences
    # None: not given on the command line, so the Preferences decide.
    parser.set_defaults(model=None, weights=None, device=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return parser


def parse_app_args(argv: Sequence[str]) -> AppOptions:
    """The app's options from its command line (exits with usage on a bad one)."""
    from gui.app import AppOptions

    args = build_parser().parse_args(list(argv))
    return AppOptions(folder=args.folder, catalog=args.catalog, model=args.model,
                      weights=args.weights, device=args.device, verbose=args.verbose)


def run_app(argv: Sequence[str]) -> int:
    """Start the GUI (imported only here, so the CLI runs without a display)."""
    try:
        from gui.app import main as gui_main
    except ImportError as exc:
        print(f"lookalike: the desktop app is not available ({exc}).")
        return 1
    return gui_main(parse_app_args(argv))
