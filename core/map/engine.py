"""Maps computed in a child process, for the app.

Measured here: numba's compile, sklearn's PCA (LAPACK) and umap's layout loops hold the GIL
for long stretches; run in a thread of the app they stalled its GUI thread for 0.5-2 s at a
time (an indexing test's 0.3 s UI-stall bar failed as soon as the warm-up ran). In a child
process they cannot. The child stays alive and warm between maps (numba compiles once per
process), reads the embeddings and writes the map itself (the catalog is SQLite in WAL
mode), and sends back progress and the result. Cancel kills the child, so a cancelled
UMAP fit stops at once; the map is written in one transaction, so the previous map stays
whole, and the next request starts a fresh child (which compiles again).

The CLI and the tests call :func:`core.map.compute_map` directly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.catalog import Catalog
from core.errors import Cancelled, LookalikeError
from core.jobs import BACKGROUND_NICE, Job, Progress, check_cancel
from core.map import numba_cache
from core.map.layout import TICK_S, MapResult, compute_map, warm_up

log = logging.getLogger(__name__)


class MapEngine:
    """One child process that computes maps; one request at a time, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self.warm = False  # the child has compiled umap's code
        self._unanswered = 0  # requests sent whose askers gave up waiting (warm-ups)

    def compute(self, catalog: Catalog, model: str, *, seed: int = 42, recompute: bool = False,
                cancel: threading.Event | None = None) -> Job[MapResult]:
        """:func:`core.map.compute_map`, run in the child (same phases and result)."""
        request = ("compute", (os.path.abspath(catalog.root), os.path.abspath(catalog.path),
                               model, seed, recompute))
        return self._request(request, cancel, "Laying out the photos")

    def warm_up_job(self, cancel: threading.Event | None = None) -> Job[float]:
        """Start the child and compile umap's code in it (~1 min the first time). Cancelling
        stops the waiting, not the compile: the child stays, warm for the next map."""
        return self._request(("warm_up", None), cancel, "Preparing the map engine",
                             kill_on_cancel=False)

    def close(self) -> None:
        """Stop the child (a running request fails)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        if self._conn is not None:
            with contextlib.suppress(OSError):  # its descriptor may be gone already (EBADF)
                self._conn.close()
        self._process, self._conn, self.warm, self._unanswered = None, None, False, 0

    def _request(self, message: tuple[str, Any], cancel: threading.Event | None, text: str,
                 *, kill_on_cancel: bool = True) -> Job[Any]:
        start = time.perf_counter()
        while not self._lock.acquire(timeout=TICK_S):
            check_cancel(cancel)
            yield self._waiting(start)
        try:
            conn = self._start()
            while self._unanswered:  # a request whose asker gave up is answered first
                yield from self._reply(conn, cancel, start, None, kill_on_cancel)
                self._unanswered -= 1
            conn.send(message)
            try:
                kind, payload = yield from self._reply(conn, cancel, start, text,
                                                       kill_on_cancel)
            except Cancelled:
                if not kill_on_cancel:
                    self._unanswered += 1
                raise
            if kind == "error":
                name, reason, user_error = payload
                raise LookalikeError(reason) if user_error else RuntimeError(f"{name}: {reason}")
            return payload
        finally:
            self._lock.release()

    def _reply(self, conn: Connection, cancel: threading.Event | None, start: float,
               text: str | None, kill_on_cancel: bool) -> Job[tuple[str, Any]]:
        """The child's final reply to its oldest request. Its progress is passed on when
        ``text`` is given (our request), else replaced by a waiting note."""
        while True:
            if cancel is not None and cancel.is_set():
                if kill_on_cancel:
                    log.info("map cancelled: stopping the map engine")
                    self.close()
                raise Cancelled("Cancelled.")
            if not conn.poll(TICK_S):
                if text is None:
                    yield self._waiting(start)
                else:
                    note = "" if self.warm else f" ({first_use_note()})"
                    yield Progress("waiting", 0, 0,
                                   f"{text}{note} · {time.perf_counter() - start:.0f} s")
                continue
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError) as exc:
                self.close()
                raise LookalikeError("The map engine stopped unexpectedly; try again.") \
                    from exc
            if kind == "progress":
                if text is not None:
                    yield payload
                continue
            if kind == "result":
                self.warm = True
            return kind, payload

    def _waiting(self, start: float) -> Progress:
        what = "Waiting for the map engine" if self.warm else \
            f"Preparing the map engine ({first_use_note()})"
        return Progress("waiting", 0, 0, f"{what} · {time.perf_counter() - start:.0f} s")

    def _start(self) -> Connection:
        if self._process is not None and self._process.poll() is None and self._conn:
            return self._conn
        self.close()
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "core.map.engine", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        return self._conn


def first_use_note() -> str:
    """What the engine's first request waits for, truthfully. Measured (two cores, quiet):
    compiling umap's code takes 31 CPU s on first use on a computer; later launches load
    it from the cache in ~2.5 s. Libraries of 4,096 photos or more also use pynndescent's
    NN-descent, which numba cannot cache: ~36 CPU s more on their first fit or update."""
    if numba_cache.is_filled():
        return "loading its compiled code: a few seconds, about a minute more for a first " \
            "map of over 4,096 photos"
    return "compiling its code, the first time on this computer: about a minute"


# -- the child -------------------------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """Answer requests until the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the app, which stops us
    if hasattr(os, "nice"):
        os.nice(BACKGROUND_NICE)  # background work: the app's UI thread comes first
    logging.basicConfig(level=logging.WARNING, format="lookalike map engine: %(message)s")
    numba_cache.enable()  # umap's compiled code is kept: later launches load it in seconds
    handlers: dict[str, Callable[[Any], Any]] = {
        "warm_up": lambda _payload: warm_up(),
        "compute": lambda payload: _compute(conn, *payload),
    }
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("result", handlers[kind](payload)))
        except Exception as exc:  # reported to the app, which shows it
            log.exception("map request failed")
            conn.send(("error", (type(exc).__name__, str(exc), isinstance(exc, LookalikeError))))


def _compute(conn: Connection, root: str, db: str, model: str, seed: int,
             recompute: bool) -> MapResult:
    with Catalog.open(Path(root), Path(db), create=False) as catalog:
        job = compute_map(catalog, model, seed=seed, recompute=recompute)
        while True:
            try:
                conn.send(("progress", next(job)))
            except StopIteration as stop:
                return stop.value


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
