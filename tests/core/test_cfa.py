"""Colour-filter-array frames: 2x2 sums for detection, positions back in the frame's pixels."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.io.cfa import bin_cfa, cfa_pattern, unbinned_xy


def test_pattern_is_read_only_for_raw_colour_frames():
    assert cfa_pattern(fits.Header({"NAXIS": 2, "BAYERPAT": "GRBG"})) == "GRBG"
    assert cfa_pattern(fits.Header({"NAXIS": 3, "BAYERPAT": "RGGB"})) is None
    assert cfa_pattern(fits.Header({"NAXIS": 2})) is None


def test_a_star_on_a_bayer_mosaic_keeps_its_position():
    """A red star on a GRBG mosaic: its checkerboard centroid leans, the greens' does not."""
    ny, nx = 64, 80
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    x0, y0, sigma = 37.3, 22.8, 1.6
    star = 1e4 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    # GRBG: red on (even row, odd column); a red star is faint in the others.
    gain = np.full((ny, nx), 0.2)
    gain[0::2, 1::2] = 1.0
    mosaic = star * gain
    binned = bin_cfa(mosaic, "GRBG")
    assert binned.shape == (32, 40) and binned.dtype == np.float32
    by, bx = np.mgrid[0:32, 0:40]
    w = binned / binned.sum()
    x, y = unbinned_xy((w * bx).sum(), (w * by).sum())
    assert x == pytest.approx(x0, abs=0.05) and y == pytest.approx(y0, abs=0.05)
    # Summing all four pixels of a block leans towards the red one (measured 0.25 px).
    four = mosaic[0::2, 0::2] + mosaic[0::2, 1::2] + mosaic[1::2, 0::2] + mosaic[1::2, 1::2]
    x4, _ = unbinned_xy((four * bx).sum() / four.sum(), 0.0)
    assert abs(x4 - x0) > 0.2
    with pytest.raises(ValueError, match="Bayer pattern"):
        bin_cfa(mosaic, "XYZW")
