"""``lookalike [FOLDER]`` with no subcommand: open the desktop app."""

from __future__ import annotations

from collections.abc import Sequence


def run_app(argv: Sequence[str]) -> int:
    """Start the GUI (imported only here, so the CLI runs without a display)."""
    try:
        from gui.app import main as gui_main
    except ImportError as exc:
        print(f"lookalike: the desktop app is not available ({exc}).")
        return 1
    return gui_main(list(argv))
