"""Background threads: the only module of the app that starts any.

Core jobs (generators yielding :class:`~core.jobs.Progress`) and plain functions run in
superqt workers on Qt's thread pool: ``yielded`` becomes progress, ``returned`` the result,
``errored`` one error report (a :class:`~core.errors.Cancelled` job is reported as
cancelled, not as an error). Cancel sets the job's ``threading.Event``. A
:class:`RequestLoop` serves many small requests (thumbnails) from one long-lived thread,
newest first. Workers never touch widgets: they only emit signals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Hashable, Iterable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import GeneratorWorker, create_worker

from core.errors import Cancelled
from core.jobs import Job, Progress, lower_thread_priority

log = logging.getLogger(__name__)

MIN_POOL_THREADS = 6  # indexing + a query + listings + image loading, even on 2 cores


def _drive(job: Job[Any], done: threading.Event) -> Generator[Progress, None, Any]:
    """Run ``job`` inside a superqt generator worker; ``done`` is set however it ends."""
    lower_thread_priority()
    try:
        return (yield from job)
    finally:
        done.set()


def _call(fn: Callable[..., Any], args: tuple[Any, ...], done: threading.Event) -> Any:
    lower_thread_priority()
    try:
        return fn(*args)
    finally:
        done.set()


def _unless_deleted(callback: Callable[[Any], None]) -> Callable[[Any], None]:
    """``callback``, made harmless when its widget was closed before the worker answered
    (PySide raises RuntimeError "already deleted" for a destroyed C++ object)."""
    def call(value: Any) -> None:
        try:
            callback(value)
        except RuntimeError as exc:
            if "already deleted" not in str(exc):
                raise
            log.debug("a result came after its widget was closed: %s", exc)

    return call


class JobHandle(QObject):
    """A running core job. Signals arrive on the GUI thread; ``ended`` always comes last."""

    progressed = Signal(object)  # Progress
    succeeded = Signal(object)  # the job's return value
    failed = Signal(object)  # the exception (never Cancelled)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, name: str, make_job: Callable[[threading.Event], Job[Any]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        self.running = False
        self._make_job = make_job

    def start(self) -> None:
        self.running = True
        job = self._make_job(self.cancel_event)
        worker = create_worker(_drive, job, self.done, _start_thread=False,
                               _worker_class=GeneratorWorker, _ignore_errors=True)
        worker.yielded.connect(self.progressed)
        worker.returned.connect(self.succeeded)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next check (it keeps what it has committed)."""
        self.cancel_event.set()

    def wait(self, timeout_s: float) -> bool:
        """Block until the job's thread is done (True) or ``timeout_s`` passed (False)."""
        return self.done.wait(timeout_s)

    def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.cancelled.emit()
        else:
            log.error("%s failed", self.name, exc_info=exc)
            self.failed.emit(exc)

    def _on_finished(self) -> None:
        self.running = False
        self.ended.emit()


class TaskHandle(QObject):
    """A function running in the pool: ``succeeded(result)`` or ``failed(exception)``."""

    succeeded = Signal(object)
    failed = Signal(object)
    ended = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...],
                 parent: QObject | None = None, name: str = "") -> None:
        super().__init__(parent)
        self.name = name or getattr(fn, "__name__", "task")
        self.done = threading.Event()
        self.running = True
        worker = create_worker(_call, fn, args, self.done, _start_thread=False,
                               _ignore_errors=True)
        worker.returned.connect(self.succeeded)
        worker.errored.connect(self.failed)
        worker.finished.connect(self._on_finished)
        self._worker = worker

    def start(self) -> None:
        self._worker.start()

    def wait(self, timeout_s: float) -> bool:
        return self.done.wait(timeout_s)

    def _on_finished(self) -> None:
        self.running = False
        self.ended.emit()


class Workers(QObject):
    """Starts and tracks the app's background work; one per application context."""

    failed = Signal(str, object)  # (what was being done, exception): show one error dialog

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(MIN_POOL_THREADS, pool.maxThreadCount()))
        self._active: set[JobHandle | TaskHandle] = set()
        self._loops: list[RequestLoop] = []

    def start_job(self, name: str, make_job: Callable[[threading.Event], Job[Any]]) -> JobHandle:
        """Run the job ``make_job(cancel_event)`` in a thread. Connect to the handle's
        signals before control returns to the event loop (they are queued until then)."""
        handle = JobHandle(name, make_job, self)
        self._track(handle)
        handle.start()
        return handle

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        what: str = "",
    ) -> TaskHandle:
        """Call ``fn(*args)`` in a thread; ``on_result``/``on_error`` run on the GUI thread.

        Without ``on_error`` a failure is reported through :attr:`failed` (``what`` names it).
        """
        handle = TaskHandle(fn, args, self, what)
        if on_result is not None:
            handle.succeeded.connect(_unless_deleted(on_result))
        if on_error is not None:
            handle.failed.connect(_unless_deleted(on_error))
        else:
            handle.failed.connect(lambda exc: self._report(what or fn.__name__, exc))
        self._track(handle)
        handle.start()
        return handle

    def request_loop(self, load: Callable[[list[Hashable]], dict[Hashable, Any]],
                     batch: int = 24) -> RequestLoop:
        """A long-lived thread that answers requests with ``load(keys) -> {key: value}``."""
        loop = RequestLoop(load, batch, self)
        self._loops.append(loop)
        return loop

    @property
    def busy(self) -> bool:
        return any(h.running for h in self._active)

    def stop_all(self, timeout_s: float = 5.0) -> bool:
        """Cancel every job, stop the request loops, and wait (up to ``timeout_s`` in all)
        for the threads to finish. Returns False if some were still running."""
        for handle in list(self._active):
            if isinstance(handle, JobHandle):
                handle.cancel()
        for loop in self._loops:
            loop.stop()
        deadline = time.monotonic() + timeout_s
        late = [h.name for h in list(self._active)
                if not h.wait(max(0.0, deadline - time.monotonic()))]
        late += [loop.name for loop in self._loops
                 if not loop.join(max(0.0, deadline - time.monotonic()))]
        if late:
            log.warning("still running after %.1f s: %s", timeout_s, ", ".join(late))
        return not late

    def _track(self, handle: JobHandle | TaskHandle) -> None:
        self._active.add(handle)
        handle.ended.connect(lambda: self._active.discard(handle))

    def _report(self, what: str, exc: BaseException) -> None:
        log.error("%s failed", what, exc_info=exc)
        self.failed.emit(what, exc)


class RequestLoop(QObject):
    """One thread serving small requests, the most recent first (what is on screen now).

    ``request(key)`` queues a key once; the thread takes up to ``batch`` of the newest keys,
    calls ``load`` and emits ``loaded`` with the results. Older requests beyond ``keep`` are
    dropped (the user has scrolled away); ``clear()`` drops all of them.
    """

    loaded = Signal(int, object)  # (epoch, {key: value}); results of older epochs are stale

    def __init__(self, load: Callable[[list[Hashable]], dict[Hashable, Any]], batch: int,
                 parent: QObject | None = None, keep: int = 512) -> None:
        super().__init__(parent)
        self._load = load
        self._batch = batch
        self._keep = keep
        self._queue: dict[Hashable, None] = {}  # insertion-ordered set
        self._inflight: set[Hashable] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.epoch = 0
        self.name = "thumbnail loader"

    def request(self, keys: Iterable[Hashable]) -> None:
        with self._cond:
            for key in keys:
                if key in self._inflight:
                    continue
                self._queue.pop(key, None)
                self._queue[key] = None
            while len(self._queue) > self._keep:
                del self._queue[next(iter(self._queue))]
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._serve, name="lookalike-thumbnails",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def clear(self) -> None:
        """Forget pending requests; results of requests already being served become stale."""
        with self._cond:
            self._queue.clear()
            self._inflight = set()
            self.epoch += 1

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify()

    def join(self, timeout_s: float) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def _serve(self) -> None:
        lower_thread_priority()
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                keys = list(self._queue)[-self._batch:][::-1]
                for key in keys:
                    del self._queue[key]
                self._inflight = set(keys)
                epoch = self.epoch
            try:
                results = self._load(keys)
            except Exception:
                log.exception("background load failed")
                results = dict.fromkeys(keys)
            with self._cond:
                self._inflight = set()
            self.loaded.emit(epoch, results)
