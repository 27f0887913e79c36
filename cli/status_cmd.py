"""``lookalike status FOLDER``: what the catalog holds, and which files could not be read."""

from __future__ import annotations

import argparse
import json

from cli.options import add_library_arguments, open_library
from core.embed.models import key_layer
from core.keywords import keyword_photo_count
from core.paths import display

NAME = "status"
HELP = "show the catalog's state and the files that could not be read"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    with open_library(args, create=False) as library, library.catalog.faults():
        catalog = library.catalog
        state = {
            "folder": display(library.root),
            "catalog": display(catalog.path),
            "model": library.model_key,
            "layer": library.layer,
            "photos": catalog.photo_count(),
            "embedded": catalog.embedded_count(library.model_key),
            "embeddings": catalog.embedding_counts(),
            "keywords": keyword_photo_count(catalog, library.model_key),
            "problems": [
                {"path": display(p.path), "reason": p.reason} for p in catalog.problems()
            ],
        }
    if args.json:
        print(json.dumps(state, ensure_ascii=False, indent=2))
        return 0
    print(f"Library  {state['folder']}")
    print(f"Catalog  {state['catalog']}")
    print(f"Photos   {state['photos']} ({state['embedded']} embedded with {state['model']}, "
          f"{state['keywords']} with keywords)")
    for key, count in sorted(state["embeddings"].items()):
        base, layer = key_layer(key)
        used = " (in use)" if key == state["model"] else ""
        print(f"  {count:>7} embeddings from {base}, {layer} layer{used}")
    problems = state["problems"]
    print(f"Problems {len(problems)}")
    for problem in problems:
        print(f"  {problem['path']}: {problem['reason']}")
    return 0
