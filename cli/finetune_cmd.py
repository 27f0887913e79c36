"""``lookalike finetune FOLDER``: fine-tune the backbone's last stage on the judgements and
labels; the result is a new embedding model (``--weights FILE``) for this library."""

from __future__ import annotations

import argparse

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.embed import embed_missing, torch_loader
from core.embed.models import SEMANTIC, model_key

NAME = "finetune"
HELP = ("fine-tune the CNN's last stage on the judgements and labels (slow on a CPU; "
        "resumable), making a new model for this library; --embed re-embeds with it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_arguments(parser)
    parser.add_argument("--name", default="finetuned", help="names the new weights file")
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--batch", type=int, default=None,
                        help="triplets a step (default 4 on a CPU, 32 on a GPU)")
    parser.add_argument("--embed", action="store_true",
                        help="then embed the library with the new model (the old vectors "
                        "stay until then)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    torch_loader.ensure_torch()
    from core.embed.cnn import Embedder
    from core.similarity.finetune import finetune

    with open_library(args, create=False, lock=True) as library, library.catalog.faults():
        result = run_with_bars(finetune(library.catalog, args.model, args.weights,
                                        name=args.name, steps=args.steps, batch=args.batch,
                                        device=args.device), quiet=args.quiet)
        resumed = f", resumed at step {result.resumed_from}" if result.resumed_from else ""
        print(f"Fine-tuned {args.model} for {result.steps} steps on {result.device} in "
              f"{result.seconds:.0f} s{resumed}.")
        print(f"held-out triplets ordered correctly: {result.before:.1%} frozen, "
              f"{result.after:.1%} fine-tuned (on {result.held_out} held-out triplets)")
        print(f"New model {result.model_key}: {result.weights}")
        if args.embed:
            embedder = Embedder(args.model, result.weights, args.device)
            assert embedder.key == model_key(args.model, result.weights)
            done = run_with_bars(embed_missing(library.catalog, embedder), quiet=args.quiet)
            print(f"Embedded {done.embedded} photos with it.")
        # it changes the last stage: the visual layer (an earlier one) would be the same
        layer = "" if library.layer == SEMANTIC else f" --layer {SEMANTIC}"
        print(f"Use it with --weights {result.weights}{layer}")
    return 0
