"""Silencing known, harmless third-party warnings safely from worker threads.

:class:`warnings.catch_warnings` swaps the process-wide filter list and puts
it back on exit; two threads doing that at once can restore each other's
filters in the wrong order, so that a warning escapes (and becomes an error
under strict filters) or stays hidden for good. Every place in the engine that
silences warnings goes through :func:`quiet`, which serialises them with one
re-entrant lock.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet"]

_LOCK = threading.RLock()


@contextmanager
def quiet(category: type[Warning] = Warning, message: str = "") -> Iterator[None]:
    """Ignore warnings of ``category`` whose text matches ``message`` (a regex prefix).

    Parameters
    ----------
    category : type of Warning, optional
        Only this category (and subclasses) is ignored; all warnings by default.
    message : str, optional
        Regular expression the start of the warning text must match.
    """
    with _LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=category)
        yield
