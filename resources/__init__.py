"""Icons (SVG), the stylesheet and the .desktop file of the app, found next to this file."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def path(name: str) -> Path:
    """The resource file ``name`` (e.g. "lookalike.qss", "icons/back.svg")."""
    return HERE / name
