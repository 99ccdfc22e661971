"""The matched filter's first pass: the stars' FWHM that sizes the detection kernel.

A quick extraction through SExtractor's 3x3 pyramid finds the bright stars,
and the Moffat profile of the clean isolated ones gives the FWHM of the
Gaussian that the real pass filters with. That FWHM only sizes a matched
filter, whose S/N is flat about its optimum (a kernel 5 % too wide or too
narrow loses 0.1 % of a star's S/N), and the frame's FWHM is measured again on
the real pass's sources, the fit starting from this profile. So the first pass
need not scan the whole frame: three bands of rows (the top, the middle and
the bottom, across the full width, so the centre and the four corners are in)
hold a third of it and on a 1k x 1k frame 22 to 28 FWHM stars. The whole frame
is scanned only when the bands hold too few stars, or the frame is too small
for bands as tall as a few bright stars.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table

from .fwhm import MoffatProfile
from .measure import frame_fwhm, frame_profile, fwhm_stars, measure_fwhm_candidates
from .params import DetectionParams
from .sepextract import extract_objects, noise_factor, pyramid_kernel

__all__ = ["first_pass_profile"]

# The quick first pass of the matched filter only needs the stars bright
# enough for the FWHM (S/N >= fwhm_min_snr, 20 by default); at 13.3 filtered
# sigma (5 pixel sigma through the pyramid, whose noise factor is 0.375) it
# finds them without the cost of measuring every faint source.
_FIRST_PASS_THRESHOLD = 5.0 / 0.375

# The share of the frame's rows the bands hold, and their least height (px):
# a band's sources that touch its edges are flagged and left out, so a band
# much narrower than a bright star's isophote would keep few of them.
_BAND_SHARE = 1.0 / 3.0
_BAND_MIN_ROWS = 96
# Masked rows between the stacked bands.
_BAND_GAP_ROWS = 32

# With fewer FWHM stars in the bands than this the whole frame is searched.
# On simulated 1k x 1k frames the bands' 22-28 stars put the kernel's FWHM within
# 0.6 % rms of the truth (the whole frame's ~62 within 0.2 %); 14-19 stars
# within 0.5 % (18 frames of 120-300 Moffat stars, FWHM 2.5-4.5 px): far inside
# the 5 % that would cost the matched filter 0.1 % of its S/N.
_MIN_STARS = 12


def first_pass_profile(
    data: np.ndarray, bad: np.ndarray, err: float | np.ndarray, p: DetectionParams
) -> tuple[float, MoffatProfile | None]:
    """The FWHM (px) of the frame's bright stars and their Moffat profile.

    ``data`` is background-subtracted with bad pixels zeroed, ``err`` the
    pixel noise (a number or a map), as :class:`~.extract.Detection` makes
    them. The FWHM is NaN and the profile None when no star qualifies.
    """
    first = None
    bands = _bands(data.shape[0])
    if bands is not None:
        first = _band_candidates(data, bad, err, p, bands)
        if np.count_nonzero(fwhm_stars(first, p)) < _MIN_STARS:
            first = None
    if first is None:
        first = _candidates(data, bad, err, p)
    profile = frame_profile(data, bad, first, p)
    return frame_fwhm(data, bad, first, p, profile)[0], profile


def _bands(height: int) -> list[slice] | None:
    """The top, middle and bottom bands of rows; None for a frame too small for them."""
    rows = max(int(math.ceil(height * _BAND_SHARE / 3.0)), _BAND_MIN_ROWS)
    if 6 * rows > height:
        # Bands would take more than half the frame: it is scanned whole.
        return None
    middle = (height - rows) // 2
    return [slice(0, rows), slice(middle, middle + rows), slice(height - rows, height)]


def _candidates(
    data: np.ndarray, bad: np.ndarray, err: float | np.ndarray, p: DetectionParams
) -> Table:
    """The first pass's FWHM candidates among the sources of ``data``."""
    # As the real pass's threshold would be through the pyramid, and never
    # below the FWHM stars' need.
    pyramid = pyramid_kernel()
    wanted = min(p.snr_threshold, p.pixel_threshold / noise_factor(pyramid))
    threshold = max(wanted, _FIRST_PASS_THRESHOLD)
    objects, segmap = extract_objects(data, bad, err, threshold, math.inf, 5, pyramid, p)
    # Only the sources that can be FWHM stars (and their close neighbours) are measured.
    return measure_fwhm_candidates(data, bad, err, objects, segmap, p)


def _band_candidates(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    p: DetectionParams,
    bands: list[slice],
) -> Table:
    """The FWHM candidates of the bands, in the frame's pixel coordinates.

    The bands are stacked into one image, apart by masked rows, and searched
    at once: three searches cost nearly as much as the whole frame's, for the
    measurements' fixed cost (the table, the calls into sep). A source cut by
    a band's edge touches masked pixels and is flagged, as one cut by the
    frame's edge is; but a neighbour beyond the edge is not seen, so the
    candidates within the isolation radius (plus the 3 px a centroid may
    travel) of an edge inside the frame are left out. Another band's pixels
    are then more than the margin and the gap (45 px) away from every
    candidate, beyond the reach of its half-light radius (6 rms radii) up to
    a star of 7 px rms radius.
    """
    height = data.shape[0]
    noise_map = np.ndim(err) > 0
    gap = _BAND_GAP_ROWS
    stacked_data: list[np.ndarray] = []
    stacked_bad: list[np.ndarray] = []
    stacked_err: list[np.ndarray] = []
    offsets: list[tuple[int, int, int]] = []  # first row in the stack, in the frame; rows
    row = 0
    for k, rows in enumerate(bands):
        if k:
            stacked_data.append(np.zeros((gap, data.shape[1]), data.dtype))
            stacked_bad.append(np.ones((gap, data.shape[1]), bool))
            if noise_map:
                # Masked, so never compared: the last row's noise keeps it finite.
                stacked_err.append(np.repeat(stacked_err[-1][-1:], gap, axis=0))
            row += gap
        stacked_data.append(data[rows])
        stacked_bad.append(bad[rows])
        if noise_map:
            stacked_err.append(np.asarray(err)[rows])
        offsets.append((row, int(rows.start), int(rows.stop) - int(rows.start)))
        row += offsets[-1][2]
    noise = np.concatenate(stacked_err) if noise_map else err
    table = _candidates(np.concatenate(stacked_data), np.concatenate(stacked_bad), noise, p)
    y = np.asarray(table["y_iso"])
    keep = np.zeros(len(table), bool)
    shift = np.zeros(len(table))
    margin = p.isolation_radius + 3.0
    for first, start, count in offsets:
        low = first + (margin if start > 0 else -0.5)
        high = first + count - 1 - (margin if start + count < height else -0.5)
        here = (y >= low) & (y <= high)
        keep |= here
        shift[here] = start - first
    table = table[keep]
    for name in ("y", "y_iso"):
        table[name] += shift[keep]
    return table
