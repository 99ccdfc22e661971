"""The night's reference catalogue, rebuilt once a worker process, not once a frame.

Every frame's :class:`~fluxion.core.chain.worker.FrameJob` carries the
catalogue (a few hundred rows of an astropy Table) to the worker process that
runs it. Unpickling the Table is ~1 ms of the worker's CPU a frame, and
pickling it again is the calling process's, for the same rows every time.
Here the calling process pickles it once a job and names it by its bytes'
digest; a worker keeps the Table it rebuilt under that name, so later frames
only carry the bytes across. Threads of one process already share one Table,
which the steps only read: worker processes now do the same.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = ["catalog_from_state", "catalog_state"]

_TAG = "catalog-once"
# In a worker: the last catalogue rebuilt, by the digest of its pickle (one night at a time).
_KEPT: dict[str, Any] = {}
_LOCK = threading.Lock()


def catalog_state(table: Table | None) -> tuple[str, str, bytes] | None:
    """A picklable form of ``table``: its pickle and that pickle's digest (None stays None)."""
    if table is None:
        return None
    data = pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)
    return (_TAG, hashlib.blake2b(data, digest_size=16).hexdigest(), data)


def catalog_from_state(state: Any) -> Table | None:
    """The Table of :func:`catalog_state`: the one this process rebuilt from the same bytes."""
    if not (isinstance(state, tuple) and len(state) == 3 and state[0] == _TAG):
        return state
    _, key, data = state
    with _LOCK:
        table = _KEPT.get(key)
        if table is None:
            table = pickle.loads(data)
            _KEPT.clear()
            _KEPT[key] = table
        return table
