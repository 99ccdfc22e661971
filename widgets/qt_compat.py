"""Work around reference-count bugs of PySide6 6.12 on Python < 3.12.

In this build, ``SignalInstance.emit()`` returns ``True`` and every method
returning ``void`` (``setVisible``, ``repaint``, ``processEvents`` ...) returns
``None`` without taking a reference. Every such call from Python, ours and
pyqtgraph's, thousands per second while the mouse moves, drops a reference to
``True`` or ``None``; when one reaches zero CPython aborts ("bool_dealloc" or
"none_dealloc"), at exit or in a long session. Python 3.12 made these
singletons immortal; this does the same on older interpreters by giving them a
reference count no session can exhaust. Idempotent; touches nothing else.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["make_singletons_immortal"]

_HUGE = 1 << 60


def make_singletons_immortal() -> None:
    """Raise the reference counts of None, True and False out of reach (Python < 3.12)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object, at id(obj)
        refcnt = ctypes.c_ssize_t.from_address(id(obj))
        if refcnt.value < _HUGE // 2:
            refcnt.value += _HUGE
