"""Options shared by subcommands, and opening a library from them."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.embed.models import DEFAULT_LAYER, DEFAULT_MODEL, LAYERS, MODELS
from core.errors import FolderNotFound
from core.files import why_not_a_folder
from core.library import Library


def add_library_arguments(parser: argparse.ArgumentParser, *, folder: bool = True,
                          layer: bool = True) -> None:
    """FOLDER, --model, --weights, --layer (unless ``layer`` is False), --device and
    --catalog."""
    if folder:
        parser.add_argument("folder", type=Path, metavar="FOLDER", help="the photo folder")
    parser.add_argument(
        "--model", default=None, choices=list(MODELS),
        help="CNN backbone (default: the one the library was indexed with, else "
        f"{DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--weights", default=None, metavar="W",
        help="'default' (pretrained: installed with Lookalike for the efficientnet_lite "
        "models, downloaded once for the others), 'none' (random init, for tests) or a local "
        "state_dict FILE (default: those the library was indexed with)",
    )
    if layer:
        parser.add_argument(
            "--layer", default=None, choices=list(LAYERS),
            help="the descriptor: 'semantic' (the network's last layer: what a photo shows) "
            "or 'visual' (an earlier stage: how it looks; best for near-duplicates), each "
            "its own set of embeddings (default: the layer the library was indexed with, "
            f"else {DEFAULT_LAYER})",
        )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")
    parser.add_argument(
        "--catalog", type=Path, default=None, metavar="PATH",
        help="catalog file (default: one per folder in the user's data directory)",
    )


def open_library(args: argparse.Namespace, *, create: bool, lock: bool = False) -> Library:
    """Open the library named by the parsed options (LookalikeError on a user error)."""
    folder = Path(args.folder).expanduser()
    why = why_not_a_folder(folder)
    if why:
        raise FolderNotFound(folder, why)
    return Library(
        folder, catalog_path=args.catalog, model=args.model, weights=args.weights,
        device=args.device, create=create, lock=lock, layer=getattr(args, "layer", None),
    )
