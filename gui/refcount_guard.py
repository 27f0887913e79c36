"""A guard against PySide6 6.12's lost references to ``None``, ``True`` and ``False`` on
Python 3.11.

Measured here (PySide6 6.12.0, Python 3.11.7):

- every call of a Qt method that returns nothing (``QPainter.setPen``, ``QFont.setPointSizeF``,
  ``QPainter.save``, …) lowers ``sys.getrefcount(None)`` by one: the binding hands back
  ``None`` without the reference it owes;
- every ``signal.emit(...)`` from Python lowers ``sys.getrefcount(True)`` by one, with or
  without receivers (pyqtgraph emits one before each paint of a plot; the app's workers emit
  their progress).

Python 3.12 made these objects immortal, so there it is harmless; on 3.11 a count reaches zero
after some thousands of such calls beyond what other code happens to add, and the interpreter
aborts (``Fatal Python error: none_dealloc`` or ``bool_dealloc``). The grid of a 20,000-photo
library scrolled a hundred times, or a 1M-photo library's map panned after a scan, got there
in under a minute (``python -m benchmarks.scale``).

:func:`guard_singletons` gives each of them a reference count so large that no session can
spend it, which is what 3.12 does; nothing is ever freed by it (they never are).
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 40  # references: ~35 years at a million lost a second


def guard_singletons() -> bool:
    """Raise the reference counts of ``None``, ``True`` and ``False`` out of reach on
    CPython < 3.12; whether it did."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for singleton in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt: the first field
        if count.value < _HEADROOM:
            count.value += _HEADROOM
    return True
