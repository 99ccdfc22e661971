"""Silencing known, harmless third-party warnings from worker threads, in that thread only.

:class:`warnings.catch_warnings` swaps the process-wide filter list and puts
it back on exit; two threads doing that at once can restore each other's
filters in the wrong order, so that a warning escapes (and becomes an error
under strict filters) or stays hidden for good. Serialising them behind one
lock was correct but made every block that silences a warning (a PSF fit, an
FWHM fit, a table written) wait for the other workers' blocks.

So every place in the engine that silences warnings goes through
:func:`quiet`, which never swaps the filter list: while any thread is inside
a block for a warning category, one ``ignore`` filter for that category is at
the front of the list, and what stands in its message slot
(:class:`_InThisThread`) matches only a warning raised in a thread that is
inside a :func:`quiet` block for that category and text. The other threads'
warnings pass it by, to the filters behind it. Python's ``warnings``
machinery calls a filter's message pattern through its ``match`` method
(``re.Pattern`` is the usual one), in C and in Python alike. When the last
block of a category ends, its filter goes: the list is as it was.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

__all__ = ["quiet"]

# Per thread: the (category, pattern) of each quiet() block it is inside.
_ACTIVE = threading.local()
# Only for adding and removing the filters (short: never held during a block).
_INSTALL = threading.Lock()
_FILTERS: dict[type[Warning], tuple] = {}
_USERS: dict[type[Warning], int] = {}  # blocks inside, by category, over all threads


class _InThisThread:
    """A filter's message pattern that matches only in threads inside ``quiet(category, ...)``."""

    def __init__(self, category: type[Warning]) -> None:
        self.category = category

    def match(self, text: str) -> bool:
        rules = getattr(_ACTIVE, "rules", None)
        if not rules:
            return False
        # The filter's category already matched (the warning is a subclass of it).
        return any(c is self.category and p.match(text) for c, p in rules)

    def __repr__(self) -> str:  # shown by warnings.filters
        return f"<quiet() blocks of this thread: {self.category.__name__}>"


def _filter_list() -> list[Any]:
    """The warnings module's filter list, changed in place here on purpose.

    typeshed declares ``warnings.filters`` a Sequence; it is the module's own list.
    """
    return cast("list[Any]", warnings.filters)


def _filters_changed() -> None:
    # What filterwarnings does after a change: forget the cached decisions.
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()


def _enter(category: type[Warning]) -> None:
    """Count a block of ``category`` in; its filter in front of any other (one added since too)."""
    with _INSTALL:
        _USERS[category] = _USERS.get(category, 0) + 1
        entry = _FILTERS.get(category)
        if entry is None:
            entry = _FILTERS[category] = ("ignore", _InThisThread(category), category, None, 0)
        filters = _filter_list()
        for item in filters:
            if item is entry:
                return
            if not isinstance(item[1], _InThisThread):
                break
        if entry in filters:
            filters.remove(entry)
        filters.insert(0, entry)
        _filters_changed()


def _leave(category: type[Warning]) -> None:
    """Count a block out; the last one of its category takes the filter away."""
    with _INSTALL:
        _USERS[category] -= 1
        if _USERS[category] == 0:
            entry = _FILTERS[category]
            filters = _filter_list()
            if entry in filters:
                filters.remove(entry)
                _filters_changed()


@contextmanager
def quiet(category: type[Warning] = Warning, message: str = "") -> Iterator[None]:
    """Ignore, in this thread, warnings of ``category`` whose text matches ``message``.

    Parameters
    ----------
    category : type of Warning, optional
        Only this category (and subclasses) is ignored; all warnings by default.
    message : str, optional
        Regular expression the start of the warning text must match (case
        ignored, as :func:`warnings.filterwarnings` does).
    """
    rules = getattr(_ACTIVE, "rules", None)
    if rules is None:
        rules = _ACTIVE.rules = []
    rules.append((category, re.compile(message, re.I)))
    _enter(category)
    try:
        yield
    finally:
        _leave(category)
        rules.pop()
