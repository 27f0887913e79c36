"""The ``lookalike`` command: subcommands over ``core``; no subcommand opens the app."""

from __future__ import annotations

# A Ctrl+C while the command's own modules still load ends it quietly: this handler is the
# first thing the ``lookalike`` command runs; _started() puts Python's usual one back once
# the command's modules are loaded. (Python's own KeyboardInterrupt could land in importlib's
# module-lock callbacks, where Python prints it as ignored and the command runs on.) Only
# the command itself installs it (its script, or ``python -m cli``, whose argv[0] is "-m"
# while the package loads): a program that imports ``cli`` keeps its own Ctrl+C.
import os as _os
import signal as _signal
import sys as _sys


def _interrupted_while_starting(_signum: int, _frame: object) -> None:
    _os.write(2, b"lookalike: interrupted while starting; nothing was changed.\n")
    _os._exit(130)


_COMMAND = _os.path.basename(_sys.argv[0] if _sys.argv else "")
if ((_COMMAND == "-m" or _COMMAND.startswith("lookalike"))
        and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler):
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core.errors import LookalikeError

# Each command's module defines NAME (its key here), HELP, add_arguments(parser) and
# run(args) -> int. Opening the app imports none of them (the window shows sooner).
COMMANDS: dict[str, str] = {
    "index": "cli.index_cmd", "similar": "cli.similar_cmd", "status": "cli.status_cmd",
    "map": "cli.map_cmd", "label": "cli.label_cmd", "train": "cli.train_cmd",
    "predict": "cli.predict_cmd", "labels": "cli.labels_io_cmd",
    "duplicates": "cli.duplicates_cmd", "judge": "cli.judge_cmd", "learn": "cli.learn_cmd",
    "finetune": "cli.finetune_cmd", "faces": "cli.faces_cmd", "people": "cli.people_cmd",
    "keywords": "cli.keywords_cmd",
}


def _commands() -> dict[str, object]:
    return {name: importlib.import_module(module) for name, module in COMMANDS.items()}


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
    try:
        return _main(argv)
    except LookalikeError as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # also while the command's modules are still loading
        print("lookalike: interrupted; what was done is saved.", file=sys.stderr)
        return 130


def _started() -> None:
    """The command's modules are loaded: from here a Ctrl+C is Python's KeyboardInterrupt,
    which the commands turn into "interrupted; what was done is saved"."""
    if _signal.getsignal(_signal.SIGINT) is _interrupted_while_starting:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg in COMMANDS for arg in argv[:2]) and not {"-h", "--help"} & set(argv):
        from cli.app_cmd import run_app  # the GUI, only when asked for

        _started()
        return run_app(argv)
    commands = _commands()
    args = build_parser().parse_args(argv)
    _started()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(commands[args.command].run(args))  # type: ignore[attr-defined]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
