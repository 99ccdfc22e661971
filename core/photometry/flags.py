"""Quality flags of a photometry table (bit values of the ``flags`` column)."""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["PhotometryFlag", "describe_flags"]


class PhotometryFlag(enum.IntFlag):
    """Bits of the ``flags`` column; 0 means a clean measurement."""

    SATURATED = 1
    """A pixel of the aperture or PSF core is at or above the saturation level."""
    MASKED = 2
    """Masked (bad, non-finite) pixels fall in the aperture or PSF core."""
    NEAR_EDGE = 4
    """The aperture or fitting box extends beyond the image."""
    CONTAMINATED = 8
    """Another source lies close enough to bias the measurement."""
    FIT_FAILED = 16
    """The fit did not give a finite flux (too few valid pixels, singular system)."""
    POOR_FIT = 32
    """The residual of the fit is large compared with the noise (bad PSF match, blend)."""
    NEGATIVE_FLUX = 64
    """The measured flux is not positive."""
    SKY_FAILED = 128
    """The local sky could not be measured (empty or fully masked annulus)."""


def describe_flags(value: int) -> list[str]:
    """Names of the flags set in ``value``, lower case, e.g. ``['saturated', 'near_edge']``."""
    value = int(value)
    # Every member has a name (only pseudo-members made from combined bits lack one).
    return [f.name.lower() for f in PhotometryFlag if value & f.value and f.name]


def empty_flags(n: int) -> np.ndarray:
    """A zeroed ``flags`` column of ``n`` rows (int32, as written to ECSV)."""
    return np.zeros(n, dtype=np.int32)
