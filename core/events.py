"""A minimal observer for the core's changes (napari's event pattern, without Qt).

An object that changes something the views show owns an :class:`Event` and emits it after the
change is committed; the GUI connects a callback that turns it into a Qt signal (the callback
runs in the thread that made the change, so it must only post, not touch widgets).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Callback = Callable[[str], None]


class Event:
    """Callbacks called with a topic (e.g. ``"labels"``) each time it is emitted."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callback) -> None:
        with self._lock:
            if callback not in self._callbacks:
                self._callbacks.append(callback)

    def disconnect(self, callback: Callback) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def emit(self, topic: str) -> None:
        """Call every callback with ``topic``; one that fails is logged, the others run."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(topic)
            except Exception:  # a listener's bug must not undo the change that was made
                log.exception("a listener of %r failed", topic)
