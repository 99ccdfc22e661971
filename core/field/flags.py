"""Bits a field light curve's ``flags`` adds to the photometry's own.

The low byte is :class:`~fluxion.core.photometry.flags.PhotometryFlag` as the
frame's photometry set it; the bits here say why a point of a star's light
curve is missing or not to be trusted for reasons of the night, not of the
aperture.
"""

from __future__ import annotations

import enum

__all__ = ["BAD_BITS", "FieldFlag", "PHOTOMETRY_BITS"]

#: The bits that belong to :class:`~fluxion.core.photometry.flags.PhotometryFlag`.
PHOTOMETRY_BITS = 0xFF


class FieldFlag(enum.IntFlag):
    """Bits of a field light curve's ``flags`` above the photometry's byte."""

    OUTSIDE = 1 << 8
    """The star is not on this frame (the field drifted, or it is at the edge)."""
    NOT_PLACED = 1 << 9
    """The frame has neither a WCS nor a registration: the star's place is unknown."""
    TRANSIENT = 1 << 10
    """A source not in the star list (an asteroid, a satellite) is in the aperture."""
    MAGFIT_OUTLIER = 1 << 11
    """Magnitude fitting found the point far from the frame's fit (clipped)."""


#: Bits that make a point unusable. A neighbour near the aperture
#: (``CONTAMINATED``) or a poor PSF fit do not: a constant neighbour adds a
#: constant, and what changes with the seeing is what EPD takes out.
BAD_BITS = (
    int(FieldFlag.OUTSIDE) | int(FieldFlag.NOT_PLACED) | int(FieldFlag.TRANSIENT)
    | int(FieldFlag.MAGFIT_OUTLIER)
    | 1 | 2 | 4 | 16 | 64 | 128  # saturated, masked, near edge, fit failed, negative, no sky
)  # fmt: skip
