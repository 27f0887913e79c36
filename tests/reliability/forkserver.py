"""A fork server for the kill tests: it imports the engine once, then forks one child per
run, so that a test can SIGKILL dozens of real runs without paying Python's and torch's
start-up (seconds each on a loaded machine) every time.

A child is a separate process running exactly what ``python -m cli ARGS`` runs
(``cli.main(ARGS)``, with stdout and stderr going to files, stdout strict UTF-8; an
uncaught exception prints its traceback and exits 1, as Python does) or a function given
as ``"module:function"``.
The test kills children with ``os.kill(pid, SIGKILL)``; the server reaps them and reports
their exit status.

Protocol (JSON lines): the server says ``{"ready": true}``; for each job line the test
sends, it answers ``{"started": pid}`` and, when the child ends, ``{"ended": pid, "code": n}``
(``-9`` for a SIGKILL). One child at a time.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

# torch and the training code are imported lazily by the product (core.embed.torch_loader): preload
# them here so that the forked runs spend their time working, not importing.
PRELOAD = ("cli", "cli.index_cmd", "cli.status_cmd", "core.library", "core.embed", "torch",
           "torchvision", "core.embed.cnn", "core.labels", "core.labels.heads",
           "core.labels.training", "core.labels.review", "core.map", "cli.map_cmd")
PRELOAD += ("core.similarity.learnt", "core.similarity.training", "cli.learn_cmd")
PRELOAD += ("cli.duplicates_cmd", "core.duplicates.export", "exiv2")


def _serve() -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a feature not built yet
            importlib.import_module(name)
    _say({"ready": True})
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        _say({"started": pid})
        _, status = os.waitpid(pid, 0)
        _say({"ended": pid, "code": os.waitstatus_to_exitcode(status)})


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child(job: dict[str, Any]) -> None:  # pragma: no cover - runs in the forked child
    code = 1
    try:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            out = os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if "argv" in job:
            from cli import main

            code = main(job["argv"])
        else:
            module, function = job["call"].split(":")
            code = getattr(importlib.import_module(module), function)(*job["args"]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported like Python's own exit would
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class ForkServer:
    """The test's side: start the server, run jobs, wait for or kill them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._count = 0
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._log = open(log_dir / "forkserver.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.forkserver"],
            cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, text=True,
            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},  # printing must not fail
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.ended: dict[int, int] = {}
        assert self._next(timeout=300) == {"ready": True}

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def start(self, *, argv: list[str] | None = None, call: str | None = None,
              args: list[Any] | None = None) -> int:
        """Fork a child running ``cli.main(argv)`` or ``call(*args)``; its pid."""
        self._count += 1
        job: dict[str, Any] = {
            "stdout": str(self.log_dir / f"run{self._count}.out"),
            "stderr": str(self.log_dir / f"run{self._count}.err"),
        }
        job.update({"argv": argv} if argv is not None else {"call": call, "args": args or []})
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        message = self._next(timeout=60)
        while message is not None and "ended" in message:  # of a child a failed test left
            self.ended[int(message["ended"])] = int(message["code"])
            message = self._next(timeout=60)
        assert message is not None and "started" in message, message
        self._outputs = (Path(job["stdout"]), Path(job["stderr"]))
        return int(message["started"])

    def wait(self, pid: int, timeout: float) -> int | None:
        """The child's exit code once it has ended, or None if it runs past ``timeout``."""
        deadline = time.monotonic() + timeout
        while pid not in self.ended:
            message = self._next(max(0.0, deadline - time.monotonic()))
            if message is None:
                return None
            assert "ended" in message, message
            self.ended[int(message["ended"])] = int(message["code"])
        return self.ended[pid]

    def kill(self, pid: int) -> int:
        """SIGKILL the child (if it still runs) and return its exit code."""
        if self.wait(pid, timeout=0) is None:  # never signal a pid the server has reaped
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                os.kill(pid, signal.SIGKILL)
        code = self.wait(pid, timeout=60)
        assert code is not None, f"child {pid} survived SIGKILL"
        return code

    def output(self) -> tuple[str, str]:
        """(stdout, stderr) of the last child."""
        return tuple(  # type: ignore[return-value]
            p.read_text(errors="replace") if p.exists() else ""  # killed before opening it
            for p in self._outputs)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self._log.close()


if __name__ == "__main__":
    _serve()
