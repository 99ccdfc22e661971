"""The project's products as the step panels see them, on the GUI thread and in workers.

Where a panel finds the project's product store (saving an unsaved project
first, or never), the frames' product names, the plate solutions through the
session's product cache, the results earlier runs left in the project, and the
file name a save dialog suggests. Qt-free; the session is duck-typed, so the
stand-alone panels' small sessions work too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from fluxion.core.io.names import FrameNames
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.products import ProductStore

from ..session import solved_wcs

__all__ = [
    "cached_solutions",
    "frame_names",
    "product_store",
    "read_stored",
    "saved_product_store",
    "suggested_file",
]

log = logging.getLogger("fluxion.app.panels")


def suggested_file(session: Any, name: str, ending: str) -> str:
    """``<name><ending>`` in the project folder (else the last folder used), for a
    save dialog to start from; ``name`` made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    folder = session.project.folder
    settings = getattr(session, "settings", None)
    if folder is None and settings is not None:
        folder = Path(settings.last_folder() or ".")
    file = f"{safe or 'export'}{ending}"
    return str(Path(folder) / file) if folder is not None else file


def product_store(session: Any) -> ProductStore | None:
    """The project's product store (:meth:`Session.product_store`), or None (logged).

    Saves an unsaved project first (call on the GUI thread, before a run).
    """
    getter = getattr(session, "product_store", None)
    try:
        if callable(getter):
            return getter()
        # Sessions without product_store: a saved project's folder, else no products.
        folder = session.project.folder
        if folder is None:
            return None
        return ProductStore(folder, frame_names(session))
    except (OSError, ValueError) as exc:
        log.warning("products are not saved: %s", exc)
        return None


def frame_names(session: Any) -> FrameNames:
    """The open frames' unique names (:meth:`Session.frame_names`), which products take."""
    getter = getattr(session, "frame_names", None)
    if callable(getter):
        return getter()
    seq = getattr(session, "sequence", None)
    return FrameNames.of_night(seq.frames) if seq is not None else FrameNames()


def saved_product_store(session: Any) -> ProductStore | None:
    """The products of a saved project, or None; never saves the project.

    For work that only reads products (solutions, calibrated frames) and so
    should not make a folder for a project the user has not saved.
    """
    if session.project.folder is None:
        return None
    return product_store(session)


def cached_solutions(session: Any, store: ProductStore | None) -> Callable[[Any], Any] | None:
    """``fn(frame) -> WCS or None``: the frames' plate solutions read through the
    session's product cache (Qt-free, for a worker), or None without a store."""
    cache = getattr(session, "product_cache", None)
    if store is None or cache is None:
        return None
    return partial(solved_wcs, store, cache=cache)


def read_stored(
    store: ProductStore,
    frames: list[Any],
    step: str,
    load: Callable[[ProductStore, Any], Any],
    *,
    lights_only: bool = False,
    cache: ProductCache | None = None,
) -> dict[int, Any]:
    """The results that earlier runs of ``step`` left in the project, by frame index.

    Qt-free (runs in a worker). ``load(store, frame)`` reads one frame's
    product (None when there is none), through ``cache`` when given; a damaged
    product is skipped, since the next run redoes it.
    """
    out = {}
    for i, f in enumerate(frames):
        if lights_only and f.type != "light":
            continue
        if store.fingerprint_of(step, f.path) is None:
            continue
        try:
            found = load(store, f) if cache is None else cache.get(store, step, f, load)
        except (OSError, ValueError):
            continue
        if found is not None:
            out[i] = found
    return out
