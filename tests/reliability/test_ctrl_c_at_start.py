"""A Ctrl+C at any moment of the command's start-up ends it with one line, never a traceback
through Lookalike's code (issue 23)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import PROJECT

# Ctrl+C arrives as the child starts importing this module (an audit hook sends it).
AT_IMPORT = """
import os, signal, sys
def hook(event, args):
    if event == "import" and args[0] == {module!r} and not hook.sent:
        hook.sent = True
        os.kill(os.getpid(), signal.SIGINT)
hook.sent = False
sys.addaudithook(hook)
sys.argv = ["lookalike", "status", {folder!r}]
import runpy
runpy.run_module("cli", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module", ["argparse", "core.errors", "cli.options",
                                    "core.keywords.export"])
def test_ctrl_c_while_a_module_loads(module: str, tmp_path: Path) -> None:
    """Until every module of the commands is loaded (main() loads them: cli.options first,
    core.keywords.export last), a Ctrl+C meets the start-up's quiet handler, not Python's
    KeyboardInterrupt (which importlib can swallow, see cli/__init__.py)."""
    code = AT_IMPORT.format(module=module, folder=str(tmp_path / "nowhere"))
    child = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                           text=True, timeout=120)
    assert "Traceback" not in child.stderr, child.stderr
    assert child.returncode == 130, child.stderr
    lines = child.stderr.strip().splitlines()
    assert lines == ["lookalike: interrupted while starting; nothing was changed."], lines


# Before Python installs its handler the signal ends the process (-2, silent); while Python
# imports its own site module, it prints its own fatal error (no Lookalike code has run).
PYTHON_START = "Fatal Python error: init_import_site"


def test_ctrl_c_at_random_moments_of_the_start(tmp_path: Path) -> None:
    seen = []
    for step in range(12):
        child = subprocess.Popen(
            [sys.executable, "-m", "cli", "status", str(tmp_path / "nowhere")], cwd=PROJECT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(step * 0.04)  # 0 to 0.44 s: the interpreter, site, our imports, the work
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
        if child.returncode == -signal.SIGINT or PYTHON_START in err:
            seen.append("python")
            continue
        assert "Traceback" not in err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lookalike: "), err
        assert child.returncode in (130, 1), (child.returncode, err)  # 1: no such folder
        seen.append("lookalike" if child.returncode == 130 else "finished")
    assert "lookalike" in seen, seen  # some landed inside Lookalike's start-up


def test_a_program_importing_cli_keeps_its_own_ctrl_c() -> None:
    """Only the command installs the start-up handler: a script that imports ``cli`` (to
    call main() or its helpers) still gets KeyboardInterrupt from a Ctrl+C."""
    code = ("import signal, cli; "
            "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)")
    child = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                           text=True, timeout=60)
    assert child.stdout.strip() == "True", child.stderr
