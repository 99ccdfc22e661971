"""Work around a reference-count bug of PySide6 6.12 on Python < 3.12.

``SignalInstance.emit()`` returns ``True`` without taking a reference, so
every signal emitted from Python (ours and pyqtgraph's, thousands per minute
of mouse movement) drops one reference to ``True``. When the count reaches
zero CPython aborts with "bool_dealloc: deallocating True or False", at exit
or in a long session. Python 3.12 made ``True`` and ``False`` immortal; this
does the same on older interpreters by giving them a reference count no
session can exhaust. It is idempotent and touches nothing else.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["make_bools_immortal"]

_HUGE = 1 << 60


def make_bools_immortal() -> None:
    """Raise the reference counts of ``True`` and ``False`` out of reach (Python < 3.12)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (True, False):
        # ob_refcnt is the first field of every CPython object, at id(obj)
        refcnt = ctypes.c_ssize_t.from_address(id(obj))
        if refcnt.value < _HUGE // 2:
            refcnt.value += _HUGE
