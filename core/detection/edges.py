"""Edge bands of a frame that the mesh background cannot follow: levelled or masked.

Some detectors' outermost rows and columns do not see the sky as the rest of
the frame does. On the SBIG STL-1001E of the asteroid night the first row
gets 11 % less light and the next six to ten rows and columns of every side
rise by up to 1.3 % above the sky, in proportion to it (a response or
illumination effect that only a flat would remove, and the night has none).
A 64 px background mesh smooths such a band away; the matched detection
filter then turns a 1 % step (3 filtered sigma on a 4400 ADU sky) plus the
noise into a row of detections along the edge, 40-60 per light and most of a
twilight light's.

This module measures, line by line within half a mesh of each edge, the
median of the background-subtracted pixels (stars clipped). A line whose
median departs from zero by more than five times its own error (or the
scatter of the inner lines' medians, where faint stars widen it) is part of
the band, which must start at the edge, and is levelled (its median
subtracted), so real stars there are still found and the sky is flat. Only a
band is: when the offsets reach further than a quarter of a mesh, the edge
has a broad gradient (a vignetted or resampled frame), which is the mesh's to
follow. A line with no noise at all (an overscan, a dead or clipped line: its
scatter below a fifth of the sky noise) holds no sky and is masked instead.
Frames without such a band are left untouched.

SExtractor has no equivalent (its background is the same mesh); its users
trim such edges by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

__all__ = ["EdgeBands", "level_edges"]

log = logging.getLogger(__name__)

#: Significance (line-median sigma) above which a line is part of an edge band.
BAND_SIGMA = 5.0
#: A line whose scatter is below this fraction of the sky noise has no sky (dead, overscan).
DEAD_SCATTER = 0.2
#: Fewest valid pixels a line needs to be judged.
MIN_PIXELS = 16
#: Pixels further than this many sky sigma from the background are stars or defects.
CLIP_SIGMA = 3.0
#: (name, axis of the lines, from the far end)
_SIDES = (("bottom", 0, False), ("top", 0, True), ("left", 1, False), ("right", 1, True))


@dataclass(frozen=True)
class EdgeBands:
    """What was done to each side of a frame.

    Attributes
    ----------
    levelled : dict
        Side (``'bottom'`` = first rows, ``'top'`` = last rows, ``'left'``,
        ``'right'``) -> how many lines from the edge were levelled.
    dead : dict
        Side -> how many lines were masked as holding no sky.
    offsets : dict
        Side -> the levelled lines' offsets from the sky (image units),
        outermost first (0 for lines within the band left as they were).
    """

    levelled: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, tuple[float, ...]] = field(default_factory=dict, repr=False)

    @property
    def any(self) -> bool:
        """True when any line was levelled or masked."""
        return bool(self.levelled or self.dead)

    def describe(self) -> str:
        """E.g. ``'edge band levelled: top 10 rows (up to +47), left 4 columns (...)'``."""
        parts = []
        for side, _axis, _far in _SIDES:
            word = "rows" if side in ("bottom", "top") else "columns"
            if side in self.levelled:
                peak = max(self.offsets.get(side, (0.0,)), key=abs)
                parts.append(f"{side} {self.levelled[side]} {word} levelled (up to {peak:+.0f})")
            if side in self.dead:
                parts.append(f"{side} {self.dead[side]} {word} masked (no sky: dead or overscan)")
        return "edge band: " + ", ".join(parts) if parts else ""


def _row_nanmedian(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=1)``, the same numbers, without a Python loop per row.

    numpy takes the median of each row with NaNs on its own (a loop over the
    rows, most of a frame's edge check); here every row is sorted at once, NaNs
    last, and its middle values picked by its count (NaN for an empty row).
    """
    return _sorted_rows_median(np.sort(values, axis=1), np.count_nonzero(~np.isnan(values), axis=1))


def _sorted_rows_median(
    ordered: np.ndarray, n: np.ndarray, start: np.ndarray | int = 0
) -> np.ndarray:
    """Median of the ``n`` values from ``start`` of each row of row-sorted ``ordered`` (or NaN)."""
    rows = np.arange(len(ordered))
    lo = ordered[rows, start + np.maximum((n - 1) // 2, 0)]
    hi = ordered[rows, start + np.maximum(n // 2, 0)]
    # np.median's mean of the two middle values, in the values' own precision.
    middle = np.where(n % 2 == 1, hi, (lo + hi) / ordered.dtype.type(2))
    return np.where(n > 0, middle, np.nan)


def _line_stats(strip: np.ndarray, valid: np.ndarray, noise: float) -> tuple[np.ndarray, ...]:
    """Per line (row) of ``strip``: clipped median, its error and count; scatter and valid count.

    The median is of the pixels within CLIP_SIGMA of the line's own
    median (stars left out); the scatter is of all valid pixels, so that a line far from
    the sky but without noise (an overscan) is told from a noisy one.
    """
    with np.errstate(all="ignore"):
        # A fully masked line has no median (NaN): expected, judged by its count.
        raw = np.where(valid, strip, np.nan)
        ordered = np.sort(raw, axis=1)
        n_valid = np.count_nonzero(valid, axis=1)
        centre = _sorted_rows_median(ordered, n_valid)[:, None]
        scatter = 1.4826 * _row_nanmedian(np.abs(raw - centre))
        # Clipped about the line's own level: a band line can sit several sigma off the sky.
        # The distance to the centre grows and then shrinks along a sorted row (rounding
        # keeps that order), so the kept pixels are one run of it: their median is read
        # there, without sorting them again.
        keep = np.abs(ordered - centre) < CLIP_SIGMA * noise
        n = np.count_nonzero(keep, axis=1)
        med = _sorted_rows_median(ordered, n, np.argmax(keep, axis=1))
    # The median of n Gaussian values scatters sqrt(pi/2) times more than their mean.
    err = 1.2533 * noise / np.sqrt(np.maximum(n, 1))
    return med, err, n, scatter, n_valid


def level_edges(residual: np.ndarray, bad: np.ndarray, noise: float, depth: int) -> EdgeBands:
    """Level the edge bands of a background-subtracted frame; mask its dead edge lines.

    Parameters
    ----------
    residual : ndarray
        Frame minus its mesh background (float), changed in place.
    bad : ndarray of bool
        Pixels to ignore; dead lines are added to it in place.
    noise : float
        Sky noise of one pixel (image units).
    depth : int
        How many lines from each edge are examined (half the background mesh:
        narrower structure is what the mesh cannot follow).

    Returns
    -------
    EdgeBands
        What was levelled and masked on each side.
    """
    levelled: dict[str, int] = {}
    dead: dict[str, int] = {}
    offsets: dict[str, tuple[float, ...]] = {}
    if not np.isfinite(noise) or noise <= 0:
        return EdgeBands()
    # Rows first, then columns on the levelled rows: a corner is in both bands.
    for side, axis, far in _SIDES:
        size = residual.shape[axis]
        d = min(depth, size // 4)
        if d < 1:
            continue
        lines = np.arange(size - 1, size - 1 - d, -1) if far else np.arange(d)
        strip = residual[lines] if axis == 0 else residual[:, lines].T
        valid = ~(bad[lines] if axis == 0 else bad[:, lines].T)
        med, err, n, scatter, n_valid = _line_stats(strip, valid, noise)
        is_dead = (n_valid >= MIN_PIXELS) & (scatter < DEAD_SCATTER * noise)
        usable = (n >= MIN_PIXELS) & ~is_dead
        # Faint stars' wings move line medians more than the pixel noise does:
        # the lines beyond the band (the inner half) say by how much, from
        # neighbour differences, which a smooth gradient there does not widen.
        inner = med[d // 2 :][usable[d // 2 :]]
        if inner.size >= 5:
            step = np.diff(inner)
            spread = 1.4826 * float(np.median(np.abs(step - np.median(step)))) / np.sqrt(2.0)
            err = np.maximum(err, spread)
        band = usable & (np.abs(med) > BAND_SIGMA * err)
        if band.any() and np.flatnonzero(band)[0] > 1:
            band[:] = False  # a band starts at the edge; a lone line further in is a star's
        if is_dead.any():
            dead[side] = int(is_dead.sum())
            for line in lines[is_dead]:
                if axis == 0:
                    bad[line] = True
                    residual[line] = 0.0
                else:
                    bad[:, line] = True
                    residual[:, line] = 0.0
        width = int(np.flatnonzero(band)[-1]) + 1 if band.any() else 0
        if width > d // 2:
            # Not a band but a broad gradient (a vignetted or resampled frame):
            # levelling it line by line would reshape the sky under the stars.
            log.debug("%s edge: offsets over %d of %d lines, left to the mesh", side, width, d)
            width = 0
        if width:
            shift = np.where(band[:width], med[:width], 0.0)
            levelled[side] = width
            offsets[side] = tuple(float(v) for v in shift)
            for line, value in zip(lines[:width], shift, strict=True):
                if value == 0.0:
                    continue
                if axis == 0:
                    residual[line] -= np.float32(value)
                else:
                    residual[:, line] -= np.float32(value)
            residual[bad] = 0.0
    bands = EdgeBands(levelled, dead, offsets)
    if bands.any:
        log.info("%s", bands.describe())
    return bands
