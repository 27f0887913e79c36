"""The ``lookalike`` command: subcommands over ``core``; no subcommand opens the app."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core.errors import LookalikeError

# Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int.
COMMAND_MODULES = ["cli.index_cmd", "cli.similar_cmd", "cli.status_cmd", "cli.map_cmd"]
COMMAND_MODULES += ["cli.label_cmd", "cli.train_cmd", "cli.predict_cmd", "cli.labels_io_cmd"]
COMMAND_MODULES += ["cli.duplicates_cmd"]
COMMAND_MODULES += ["cli.judge_cmd", "cli.learn_cmd", "cli.finetune_cmd"]
COMMAND_MODULES += ["cli.faces_cmd", "cli.people_cmd"]
COMMAND_MODULES += ["cli.keywords_cmd"]


def _commands() -> dict[str, object]:
    modules = [importlib.import_module(name) for name in COMMAND_MODULES]
    return {module.NAME: module for module in modules}


def build_parser() -> argparse.ArgumentParser:
    """The parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog="lookalike",
        description="Find photos that look alike. Run without a subcommand to open the app.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _commands().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)  # type: ignore
        module.add_arguments(cmd)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lookalike`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _commands()
    if not any(arg in commands for arg in argv[:2]) and not {"-h", "--help"} & set(argv):
        from cli.app_cmd import run_app  # the GUI, only when asked for

        return run_app(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(commands[args.command].run(args))  # type: ignore[attr-defined]
    except LookalikeError as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lookalike: interrupted; what was done is saved.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
