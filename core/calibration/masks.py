"""Bad-pixel masks: saturation, hot and cold pixels, cosmic rays, NaNs."""

from __future__ import annotations

import enum

__all__ = ["MaskBits"]


class MaskBits(enum.IntFlag):
    """Bits of a frame's mask (uint8 FITS extension ``MASK``); 0 is a good pixel."""

    SATURATED = 1
    HOT = 2
    COLD = 4
    COSMIC_RAY = 8
    NAN = 16
