"""The noise a star's light curve should show: photon, sky, read noise and scintillation.

The CCD equation (Merline & Howell 1995) gives the variance of an aperture
flux F (electrons) over ``area`` pixels with a sky of ``sky`` e-/px, read
noise ``read_noise`` e- and a sky level estimated from ``n_sky`` pixels::

    var = F + area * (sky + read_noise**2) * (1 + area / n_sky)

(dark current is part of the measured sky). Scintillation is Young's (1967)
approximation with Osborn et al.'s (2015, MNRAS 452, 1707) empirical factor
C_Y = 1.5 for a median site, as :func:`scintillation` writes it. The relative
errors add in quadrature; magnitudes carry 2.5 / ln 10 = 1.0857 times the relative error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..photometry.noise import MAG_PER_LN
from ..photometry.scintillation import scintillation

__all__ = ["MAG_PER_LN", "NoiseCurve", "scintillation"]


@dataclass(frozen=True)
class NoiseCurve:
    """The expected rms (mag) of a star against its magnitude, for the rms plot.

    Attributes
    ----------
    zero_point : float
        Magnitude of 1 electron per exposure on the light curves' scale
        (``mag = zero_point - 2.5 log10(F)``).
    area : float
        Aperture area (px).
    sky : float
        Sky per pixel (e-), the night's median.
    read_noise : float
        e- per pixel.
    n_sky : float
        Pixels the sky level was estimated from (0: its error is ignored).
    scintillation : float
        Relative rms from scintillation at the night's median airmass.
    """

    zero_point: float
    area: float
    sky: float
    read_noise: float
    n_sky: float = 0.0
    scintillation: float = 0.0

    def parts(self, mag: np.ndarray | float) -> dict[str, np.ndarray]:
        """Each part's relative rms at ``mag``: photon, sky, read, scintillation."""
        flux = 10 ** (-0.4 * (np.asarray(mag, dtype=float) - self.zero_point))
        extra = 1.0 + (self.area / self.n_sky if self.n_sky > 0 else 0.0)
        return {
            "photon": 1.0 / np.sqrt(flux),
            "sky": np.sqrt(self.area * self.sky * extra) / flux,
            "read": np.sqrt(self.area * extra) * self.read_noise / flux,
            "scintillation": np.full(np.shape(flux), self.scintillation),
        }

    def rms(self, mag: np.ndarray | float) -> np.ndarray:
        """Expected rms (mag) of a non-variable star of magnitude ``mag``."""
        parts = self.parts(mag)
        return MAG_PER_LN * np.sqrt(sum(p**2 for p in parts.values()))
