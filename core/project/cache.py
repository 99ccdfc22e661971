"""A per-project memory of the products already read, shared by everything that shows them.

The window's panels, its viewer and its target tools all read the same
per-frame products (a frame's plate solution is wanted by the viewer's
readout, the Astrometry panel and the target tracker). Each used to read the
file again. A :class:`ProductCache` keeps what one of them read, keyed by the
product and stamped with what makes it current: the step's fingerprint for the
frame and the state of the step's index files (one of them changes whenever
the step records a product). A product is read again only when that stamp changes, that
is when a run changed it. Qt-free and thread-safe: workers share one cache.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .products import INDEX_FILES, ProductStore

__all__ = ["ProductCache"]

T = TypeVar("T")

_MISSING = object()


class ProductCache:
    """Products read from a :class:`ProductStore`, kept while they are current.

    Parameters
    ----------
    max_entries : int, optional
        Most products kept (least recently used dropped first). Products are
        tables and headers, not pixels: a night of 500 frames and five steps
        fits in the default.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per product, so that two workers asking for it read it once.
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.reads = 0
        """How many times a loader ran (the products read from disk)."""

    @staticmethod
    def stamp(store: ProductStore, step: str, frame: str | os.PathLike[str]) -> Hashable:
        """What makes ``frame``'s product of ``step`` current: fingerprint and index state."""
        facts: list[tuple[int, int] | None] = []
        for name in INDEX_FILES:  # the snapshot and its journal
            try:
                st = (store.step_folder(step) / name).stat()
                facts.append((st.st_mtime_ns, st.st_size))
            except OSError:
                facts.append(None)
        return (store.fingerprint_of(step, frame), tuple(facts))

    def get(
        self,
        store: ProductStore,
        step: str,
        frame: Any,
        load: Callable[[ProductStore, Any], T],
        what: str | None = None,
    ) -> T:
        """``load(store, frame)``, read once while the product stays current.

        Parameters
        ----------
        store : ProductStore
        step : str
            The step whose product ``load`` reads (its fingerprint stamps it).
        frame : FrameInfo
            Anything with a ``path``.
        load : callable
            Reads the product; its exceptions pass through and nothing is kept.
        what : str, optional
            Which product of the step (default: the loader's name), when one
            step leaves several.
        """
        name = what or getattr(load, "__qualname__", repr(load))
        key = (str(store.folder), step, name, store.key(frame.path))
        stamp = self.stamp(store, step, frame.path)
        found = self._lookup(key, stamp)
        if found is not _MISSING:
            return found
        with self._key_lock(key):
            found = self._lookup(key, stamp)
            if found is not _MISSING:
                return found
            value = load(store, frame)
            with self._lock:
                self.reads += 1
                self._entries[key] = (stamp, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return value

    def clear(self) -> None:
        """Forget every product (a project was closed)."""
        with self._lock:
            self._entries.clear()
            self._key_locks.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _lookup(self, key: Hashable, stamp: Hashable) -> Any:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[0] != stamp:
                return _MISSING
            self._entries.move_to_end(key)
            return hit[1]

    def _key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())
