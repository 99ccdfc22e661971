"""A colour camera's mosaic made ready for the Light curve panel's aperture photometry (Qt-free).

The panel measures the stored pixels. On a colour (Bayer) camera's mosaic the
sky differs from one colour's pixels to another's (blue darker than green
under most skies), so the sky annulus holds a mixture of levels: its median
is the commonest colour's, not the mean the aperture's sum holds, and every
star's flux is off by the difference times the aperture's area (a simulated
BGGR night: the target's flux came out -12000 e-, none of its lights
measured). Each colour's own sky level is taken out first (the median of its
pixels: most of a field is sky); the annulus then measures what is left, the
same for every colour.
"""

from __future__ import annotations

import numpy as np

from fluxion.core.io.cfa import CHANNELS, channel_view

__all__ = ["without_colour_sky"]


def without_colour_sky(image: np.ndarray, pattern: str | None) -> np.ndarray:
    """``image`` with each Bayer colour's median level taken out (``image`` itself when
    ``pattern`` is None: a monochrome frame)."""
    if not pattern:
        return image
    out = np.array(image, dtype=np.float64)
    for channel in CHANNELS:
        grid = channel_view(out, pattern, channel)  # a view: changed in place
        level = np.nanmedian(grid)
        if np.isfinite(level):
            grid -= level
    return out
