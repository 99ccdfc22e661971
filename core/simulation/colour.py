"""The simulator's one-shot-colour camera: a Bayer mosaic, the stars' and sky's colours per channel.

A colour sensor has a red, two green and a blue filter over each 2 x 2 block
of pixels (:mod:`fluxion.core.io.cfa`). Each channel sees the sky through its
own band: the channel's natural magnitude of a star is its catalog band plus
a colour term,

    m_R = R + k_R (B - V),   m_G = V + k_G (B - V),   m_B = B + k_B (B - V),

(the DSLR practice of calibrating the green channel to V, blue to B and red
to Cousins R: AAVSO's TG, TB, TR), and ``10^(-0.4 (m_c - zp_c))`` e-/s would
fall on a sensor whose every pixel had filter c. A channel's pixels are a
quarter of the sensor (red, blue) or a half (the two greens), so they collect
that fraction of it: the truth tables' ``flux_R``, ``flux_G``, ``flux_B``
are the electrons the channel's own pixels collect from a star, and ``flux``
is their sum, the star's electrons on the whole frame as for a monochrome
camera. (The fraction is exact to ~1e-4 for a FWHM of 2.5 px or more: a
smooth profile sampled every second pixel sums to its integral over four,
by Poisson's summation formula.)

The sky has colours of its own (a dark site's B-V ~ 0.9, V-R ~ 0.6); twilight
flats are lit by a bluish sky that reddens as it fades, so the raw flats'
channels have different levels that change from flat to flat. Calibration
must normalise each channel of a flat on its own.

The catalog gains Cousins R from V and B-V through a linear main-sequence
relation (V - R = 0.58 (B - V) - 0.03; good to a few hundredths of a
magnitude for dwarfs of B-V 0-1.5), which defines the simulated stars' R.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..io.cfa import channel_mask

__all__ = ["BANDS", "CHANNELS", "FRACTION", "ColourCamera", "cousins_r"]

#: The channels a colour night reports, and the catalog band each is calibrated to.
CHANNELS = ("R", "G", "B")
BANDS = {"R": "R", "G": "V", "B": "B"}
#: Fraction of the sensor's pixels that belong to each channel.
FRACTION = {"R": 0.25, "G": 0.5, "B": 0.25}
# Sky colours of a dark site (mag/arcsec^2 relative to V).
_SKY_MINUS_V = {"R": -0.6, "G": 0.0, "B": 0.9}
# Twilight flat illumination per channel relative to green, and how much
# redder each later flat is (the sky fades from blue to red).
_FLAT_COLOUR = {"R": 0.55, "G": 1.0, "B": 0.8}
_FLAT_REDDENING = 0.04


def cousins_r(v: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cousins R of stars of true V and B (see the module's note)."""
    v = np.asarray(v, dtype=float)
    return v - (0.58 * (np.asarray(b, dtype=float) - v) - 0.03)


@dataclass(frozen=True)
class ColourCamera:
    """The colour filter array of a simulated camera.

    Attributes
    ----------
    pattern : str
        Bayer pattern of the stored rows ('RGGB', ...).
    zero_points : dict
        Magnitude giving 1 e-/s on a sensor covered by the channel's filter
        (quantum efficiency and filter together).
    colour_terms : dict
        k_c of the channel's natural magnitude (see the module docstring).
    """

    pattern: str
    zero_points: dict[str, float]
    colour_terms: dict[str, float]

    def natural_magnitudes(self, v: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        """Each channel's magnitude of stars of true V and B."""
        v, b = np.asarray(v, dtype=float), np.asarray(b, dtype=float)
        band = {"R": cousins_r(v, b), "G": v, "B": b}
        return {c: band[c] + self.colour_terms[c] * (b - v) for c in CHANNELS}

    def full_rates(self, v: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        """e-/s each channel's filter would give over the whole sensor (above the atmosphere)."""
        mags = self.natural_magnitudes(v, b)
        return {c: 10 ** (-0.4 * (mags[c] - self.zero_points[c])) for c in CHANNELS}

    def sky_rates(self, sky_v: float) -> dict[str, float]:
        """e-/s/arcsec^2 of a sky of V surface brightness ``sky_v`` in each channel."""
        return {
            c: float(10 ** (-0.4 * (sky_v + _SKY_MINUS_V[c] - self.zero_points[c])))
            for c in CHANNELS
        }

    def masks(self, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """True on each channel's pixels (``G``: both greens)."""
        return {c: channel_mask(shape, self.pattern, c) for c in CHANNELS}

    def mosaic(
        self, images: Mapping[str, np.ndarray | float], shape: tuple[int, int]
    ) -> np.ndarray:
        """Each pixel from the image (or the number) of its own channel."""
        out = np.empty(shape, dtype=np.float64)
        for c, mask in self.masks(shape).items():
            out[mask] = np.broadcast_to(images[c], shape)[mask]
        return out

    def flat_illumination(self, shape: tuple[int, int], j: int) -> np.ndarray:
        """Relative light of twilight flat ``j`` on each pixel (green 1)."""
        red = 1.0 + _FLAT_REDDENING * j
        level = {c: _FLAT_COLOUR[c] * (red if c == "R" else 1.0) for c in CHANNELS}
        return self.mosaic({c: np.float64(level[c]) for c in CHANNELS}, shape)
