"""The light curve's target in the Zero point panel: measured, and never a calibration star.

``fluxion run`` measures each light at its detected sources plus the target's
predicted position, and keeps the target out of the light's own zero point
(:func:`fluxion.core.chain.zeropoint_frame` with ``target_xy``). The panel
calibrates with the same inputs, read from the light curve the project keeps
(its ``file``, ``x``, ``y`` columns say where the target was measured in each
light), so that it finds the run's products current and shows them instead
of replacing them with a calibration that uses the target as a star.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from fluxion.core.chain.detect import load_sources
from fluxion.core.chain.lightcurve import target_positions
from fluxion.core.io.frames import FrameInfo
from fluxion.core.project.products import ProductStore

__all__ = ["RunTarget"]

log = logging.getLogger("fluxion.app.panels.zeropoint")


class RunTarget:
    """Where the project's light curve measured its target, per light (read once, in a worker).

    The first of the project's targets with a kept light curve is the one
    kept out of the calibration (``fluxion run`` keeps one). Thread-safe: the
    panel's frames are calibrated on several workers at once.
    """

    def __init__(self, folder: Path | None, targets: Sequence[dict[str, Any]]) -> None:
        doc = next((d for d in targets if d.get("light_curve")), None)
        self.name = "" if doc is None else str(doc.get("name", ""))
        self._path = (
            None if folder is None or doc is None else Path(folder) / str(doc["light_curve"])
        )
        self._places: dict[str, tuple[float, float]] | None = None
        self._lock = threading.Lock()

    def place(self, store: ProductStore, frame: FrameInfo) -> tuple[float, float] | None:
        """The target's (x, y) in ``frame`` as its light curve measured it, or None."""
        with self._lock:
            if self._places is None:
                self._places = self._read()
        return self._places.get(store.names.file(frame.path))

    def positions(
        self, store: ProductStore, frame: FrameInfo, target_xy: tuple[float, float] | None
    ) -> np.ndarray | None:
        """The positions photometry measures with the target in (the run's), or None."""
        if target_xy is None:
            return None
        found = load_sources(store, frame)
        return target_positions(None if found is None else found.sources, target_xy)

    def _read(self) -> dict[str, tuple[float, float]]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            table = Table.read(self._path, format="ascii.ecsv")
        except (OSError, ValueError) as exc:
            log.warning("the light curve %s cannot be read (%s): the target is not kept out "
                        "of the zero points", self._path.name, exc)  # fmt: skip
            return {}
        if not {"file", "x", "y"} <= set(table.colnames):
            return {}
        return {
            str(f): (float(x), float(y))
            for f, x, y in zip(table["file"], table["x"], table["y"], strict=True)
            if math.isfinite(float(x)) and math.isfinite(float(y))
        }
