"""The x axis of a night's plots: hours, minutes or frame numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["night_axis"]

# A sequence shorter than this (hours) is plotted in minutes: a few frames of
# a smart telescope span 0.02 h, which reads badly in hours.
_MINUTES_BELOW_H = 0.5


def night_axis(
    jd: Sequence[float | None], frames: Sequence[int], origin: float | None = None
) -> tuple[np.ndarray, str]:
    """The x values of a night's plot and their label.

    Hours (minutes for a sequence under half an hour) since ``origin`` (the
    first light's JD when None); the frame numbers when a frame has no time.
    """
    known = [j for j in jd if j is not None]
    if not jd or len(known) != len(jd):
        return np.asarray(frames, dtype=float) + 1.0, "frame number"
    start = origin if origin is not None else min(known)
    hours = (np.asarray(known, dtype=float) - start) * 24.0
    if np.ptp(hours) < _MINUTES_BELOW_H:
        return hours * 60.0, "minutes since the first light"
    return hours, "hours since the first light"
