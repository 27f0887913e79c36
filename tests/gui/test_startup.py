"""The window must appear fast: what it imports before showing must not pull in torch & co."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("torch", "torchvision", "umap", "sklearn", "numba", "dlib", "av",
         "PySide6.QtMultimedia")  # av: PyAV; QtMultimedia: loads when a clip is played


def test_the_app_and_its_views_import_without_torch_umap_or_sklearn() -> None:
    """torch (2-5 s), umap/numba and sklearn (1-2 s) load in workers, when first needed."""
    code = (
        "import sys, gui.app, gui.map.view, gui.labels.panel, gui.people, cli\n"
        "cli._commands()  # what `lookalike --help` imports\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True, env=env)
    assert done.stdout.strip() == ""



def test_each_command_module_has_the_name_it_is_listed_under() -> None:
    import cli

    assert {name: module.NAME for name, module in cli._commands().items()} == {  # type: ignore
        name: name for name in cli.COMMANDS}
