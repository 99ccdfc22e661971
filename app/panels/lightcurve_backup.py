"""The run's light curve kept beside the one measured in the window.

``fluxion run`` measures its target against comparison stars at an aperture
it chose; "Measure the light curve" in the window makes another curve (the
form's aperture, the window's own stars). When the user agrees to replace
the run's curve, the run's file is copied first to ``<name>.run.ecsv`` beside
it and the target's project entry names that copy (``run_light_curve``), so
the run's curve can be brought back and the Run tab can say that the curve
shown is no longer the run's. Qt-free: the copies run in a worker.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "RUN_CURVE_KEY",
    "back_up_run_curve",
    "replaced_run_curves",
    "restore_run_curve",
    "run_backup_name",
]

#: The target's project entry key naming the copy of the run's curve.
RUN_CURVE_KEY = "run_light_curve"


def run_backup_name(name: str) -> str:
    """The copy's file name: ``lightcurve.ecsv`` -> ``lightcurve.run.ecsv``."""
    path = Path(name)
    return f"{path.stem}.run{path.suffix or '.ecsv'}"


def back_up_run_curve(path: Path) -> Path:
    """Copy the run's curve ``path`` beside it (:func:`run_backup_name`); the copy's path."""
    backup = path.with_name(run_backup_name(path.name))
    shutil.copy2(path, backup)
    return backup


def restore_run_curve(folder: str | Path, curve: str, backup: str) -> Path:
    """Put the run's curve (``backup`` in ``folder``) back as ``curve``; the curve's path.

    The window's curve is replaced: it is made again by "Measure the light curve".
    """
    target = Path(folder) / curve
    os.replace(Path(folder) / backup, target)  # atomic: never half a curve
    return target


def replaced_run_curves(targets: Sequence[dict]) -> list[tuple[str, str, str]]:
    """(target name, curve file, copy of the run's curve) of each target whose run
    curve was replaced by one measured in the window."""
    return [
        (str(t.get("name")), str(t.get("light_curve")), str(t[RUN_CURVE_KEY]))
        for t in targets
        if t.get(RUN_CURVE_KEY) and t.get("light_curve")
    ]
