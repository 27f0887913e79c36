"""A guard against PySide6 6.12's lost references to ``None`` on Python 3.11.

Measured here (PySide6 6.12.0, Python 3.11.7): every call of a Qt method that returns nothing
(``QPainter.setPen``, ``QFont.setPointSizeF``, ``QPainter.save``, …) lowers
``sys.getrefcount(None)`` by one: the binding hands back ``None`` without the reference it
owes. Python 3.12 made ``None`` immortal, so there it is harmless; on 3.11 the count reaches
zero after some tens of thousands of such calls beyond what other code happens to add, and
the interpreter aborts (``Fatal Python error: none_dealloc``). The grid of a 20,000-photo
library scrolled a hundred times, or a 1M-photo library during its first scan, got there in
under a minute (``python -m benchmarks.scale``).

:func:`guard_none` gives ``None`` a reference count so large that no session can spend it,
which is what 3.12 does; nothing is ever freed by it (``None`` never is).
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 40  # references: ~35 years at a million lost a second


def guard_none() -> bool:
    """Raise ``None``'s reference count out of reach on CPython < 3.12; whether it did."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    count = ctypes.c_ssize_t.from_address(id(None))  # ob_refcnt: PyObject's first field
    if count.value < _HEADROOM:
        count.value += _HEADROOM
    return True
