"""What every photometry method receives about a frame once it is prepared."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from astropy.table import Table

from .detect import FrameSky
from .noise import NoiseModel

__all__ = ["FrameInputs"]


class FrameInputs(NamedTuple):
    """A prepared frame, in electrons, shared by the aperture, PSF and crowded methods.

    A named tuple rather than a dataclass so that a method can unpack it in one
    line into the names it computes with.
    """

    img: np.ndarray
    """The frame in electrons (sky not subtracted)."""
    bad: np.ndarray
    """True for pixels no method may use."""
    sky: FrameSky
    """Sky level and noise maps."""
    stars: Table
    """Stars found on the frame (x, y, flux)."""
    fwhm: float
    """The frame's FWHM in pixels."""
    noise: NoiseModel
    """Gain and read noise of the noise model."""
    sat: float | None
    """Saturation level in electrons, when known."""
    variance: np.ndarray | None
    """Per-pixel variance in electrons^2 given by the caller, when given."""
    positions: np.ndarray | None
    """(x, y) of the stars to measure, when the caller gave them."""
    target: tuple[float, float] | None
    """(x, y) of the target, when there is one."""
