"""The gain (e-/ADU) measured from the frames themselves: photon transfer on pairs.

When no header card gives the gain (a ZWO GAIN setting, an implausible GAIN),
it is measured the way camera makers do (Janesick, *Photon Transfer*, 2007):
the difference of two exposures of the same scene cancels every fixed pattern
(bias structure, flat field, hot pixels, stars that did not move), leaving
the shot noise of the signal and the read noise. For each tile of each
colour-filter sub-lattice (a 2 x 2 Bayer cell's four pixels are measured apart,
which is harmless for a monochrome sensor and needed for a colour one):

    var(A - k B) = (m_A + k^2 m_B) / g + (1 + k^2) r^2,    k = m_A / m_B,

with m the mean signal above bias (ADU) and r the read noise (ADU). With bias
frames, m is bias-subtracted pixel by pixel and r^2 comes from a pair of bias
frames: g is the ratio of the summed signal to the summed shot variance over
all tiles, its error from the tiles' scatter (delta method). Without bias
frames the bias level is unknown, so g is the inverse slope of variance against
mean level across tiles whose levels differ (vignetting, sky gradient, the
colour channels), with the slope's error from the fit.

Pairs are two flats at the same exposure and filter (the highest signal) when
there are bias frames, else two consecutive lights (the sky is the signal).
Stars, cosmic rays and hot pixels are masked in each tile (pixels bright in
the pair's mean, or outlying in its difference), and the means are taken over
the same pixels as the variance. This is written out here rather than taken
from a library because photutils and ccdproc do not measure a gain.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from astropy.stats import mad_std
from scipy.ndimage import binary_dilation

from ..runtime.pipeline import StepState
from .cameras import GENERIC_PLAUSIBLE
from .fitsio import FitsReadError, read_image
from .frames import FrameInfo

__all__ = ["GainEstimate", "GainFitError", "gain_from_pairs", "complete_gains"]

log = logging.getLogger(__name__)

_TILE = 32  # sub-lattice pixels per tile side
_DIFF_CLIP = 5.0  # sigma: outliers of a pair's difference (cosmic rays, moving stars)
_STAR_CLIP = 4.0  # sigma above the tile's median: stars and hot pixels in the pair's mean
_MIN_KEPT = 0.6  # a tile needs this fraction of its pixels after masking
_MAX_PAIRS = 3


class GainFitError(ValueError):
    """The frames cannot give a gain (too few, no signal, no spread of levels)."""


@dataclass(frozen=True)
class GainEstimate:
    """A gain measured from frames.

    Attributes
    ----------
    gain : float
        e-/ADU of the file's pixel values.
    error : float
        1-sigma statistical uncertainty of ``gain`` (e-/ADU).
    read_noise : float or None
        e- rms, when a pair of bias frames was measured.
    method : str
        What was measured ("2 flat pairs and 2 bias frames", ...).
    n_tiles : int
        Tiles used.
    """

    gain: float
    error: float
    read_noise: float | None
    method: str
    n_tiles: int

    @property
    def source(self) -> str:
        """The ``sources['gain']`` text."""
        return (
            f"measured from {self.method} (photon transfer): "
            f"{self.gain:.4g} +- {self.error:.2g} e-/ADU"
        )


def _tiles(shape: tuple[int, int]):
    """(sub-lattice offset, slices) of every whole tile of every 2 x 2 sub-lattice."""
    ny, nx = shape
    for dy in (0, 1):
        for dx in (0, 1):
            sy, sx = (ny - dy) // 2, (nx - dx) // 2
            for y in range(0, sy - _TILE + 1, _TILE):
                for x in range(0, sx - _TILE + 1, _TILE):
                    rows = slice(dy + 2 * y, dy + 2 * (y + _TILE), 2)
                    cols = slice(dx + 2 * x, dx + 2 * (x + _TILE), 2)
                    yield rows, cols


def _kept(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray | None:
    """Pixels of a tile free of stars, hot pixels and outliers of the difference."""
    mean = 0.5 * (a + b)
    s_mean = mad_std(mean)
    d = a - k * b
    s_diff = mad_std(d)
    if not (np.isfinite(s_mean) and np.isfinite(s_diff)) or s_diff <= 0:
        return None
    bright = mean > np.median(mean) + _STAR_CLIP * max(s_mean, s_diff / np.sqrt(2.0))
    # The wings of a star are bright too, just not beyond the clip: grow the mask.
    bright = binary_dilation(bright, iterations=2)
    odd = np.abs(d - np.median(d)) > _DIFF_CLIP * s_diff
    keep = ~(bright | odd)
    return keep if keep.mean() >= _MIN_KEPT else None


def _pair_points(
    a: np.ndarray, b: np.ndarray, bias: np.ndarray | None
) -> tuple[list[float], list[float], list[float]]:
    """Per tile: signal term m_A + k^2 m_B, variance of A - k B, and 1 + k^2."""
    xs, ys, cs = [], [], []
    for rows, cols in _tiles(a.shape):
        ta, tb = a[rows, cols], b[rows, cols]
        if bias is not None:
            tz = bias[rows, cols]
            ta, tb = ta - tz, tb - tz
        # Equal exposures of the sky give k ~ 1; fading twilight flats do not.
        k = float(np.median(ta) / np.median(tb)) if bias is not None else 1.0
        if not np.isfinite(k) or k <= 0:
            continue
        keep = _kept(ta, tb, k)
        if keep is None:
            continue
        va, vb = ta[keep], tb[keep]
        d = va - k * vb
        xs.append(float(va.mean() + k * k * vb.mean()))
        ys.append(float(d.var(ddof=1)))
        cs.append(1.0 + k * k)
    return xs, ys, cs


def _read_variance(b1: np.ndarray, b2: np.ndarray) -> float:
    """Read-noise variance (ADU^2) from a pair of bias frames, masked like the pairs."""
    values = []
    for rows, cols in _tiles(b1.shape):
        d = b1[rows, cols] - b2[rows, cols]
        s = mad_std(d)
        if not np.isfinite(s) or s <= 0:
            continue
        keep = np.abs(d - np.median(d)) <= _DIFF_CLIP * s
        values.append(float(d[keep].var(ddof=1)) / 2.0)
    if not values:
        raise GainFitError("the bias frames have no measurable noise")
    return float(np.mean(values))


def _ratio(x: np.ndarray, y: np.ndarray, c: np.ndarray, r2: float) -> tuple[float, float]:
    """g = sum(x) / sum(y - c r^2), tiles beyond 5 sigma of the model dropped; (g, error)."""
    keep = np.ones(x.size, bool)
    for _ in range(3):
        shot = y - c * r2
        g = float(x[keep].sum() / shot[keep].sum())
        resid = shot - x / g
        s = mad_std(resid[keep])
        new = np.abs(resid - np.median(resid[keep])) <= 5.0 * s
        if np.array_equal(new, keep):
            break
        keep = new
    shot = (y - c * r2)[keep]
    resid = shot - x[keep] / g
    # Delta method for a ratio of sums: var(g)/g^2 = sum(resid^2) / sum(shot)^2.
    error = g * float(np.sqrt(np.sum(resid**2))) / float(shot.sum())
    return g, error


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """g = 1 / slope of y against x (intercept free), outliers dropped; (g, error)."""
    keep = np.ones(x.size, bool)
    for _ in range(5):
        coef, cov = np.polyfit(x[keep], y[keep], 1, cov=True)
        resid = y - np.polyval(coef, x)
        s = mad_std(resid[keep])
        new = np.abs(resid) <= 5.0 * s
        if np.array_equal(new, keep):
            break
        keep = new
    slope, slope_err = float(coef[0]), float(np.sqrt(cov[0, 0]))
    if slope <= 0 or slope_err >= 0.5 * slope:
        raise GainFitError(
            "the tiles' levels are too alike to separate shot noise from read noise "
            "without bias frames"
        )
    return 1.0 / slope, slope_err / slope**2


def gain_from_pairs(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    bias: np.ndarray | None = None,
    bias_pair: tuple[np.ndarray, np.ndarray] | None = None,
    method: str = "frame pairs",
) -> GainEstimate:
    """The gain from pairs of equal exposures, with the bias when known.

    Parameters
    ----------
    pairs : sequence of (ndarray, ndarray)
        Two exposures of the same scene each (flats, or consecutive lights), ADU.
    bias : ndarray, optional
        Mean bias frame (ADU); without it the gain comes from the slope of
        variance against level across tiles.
    bias_pair : (ndarray, ndarray), optional
        Two bias frames for the read noise; needed with ``bias`` for the ratio
        estimator, otherwise the read noise is fitted as an intercept.
    method : str
        Text for the estimate's ``method``.

    Raises
    ------
    GainFitError
        When the pairs give no usable tile or no spread of levels.
    """
    x, y, c = [], [], []
    for a, b in pairs:
        if a.shape != b.shape or (bias is not None and bias.shape != a.shape):
            raise GainFitError("the frames of a pair differ in shape")
        xs, ys, cs = _pair_points(np.asarray(a, np.float64), np.asarray(b, np.float64), bias)
        x += xs
        y += ys
        c += cs
    if len(x) < 8:
        raise GainFitError(f"only {len(x)} tiles of {_TILE * 2} px could be measured")
    xa, ya, ca = np.array(x), np.array(y), np.array(c)
    read_noise = None
    if bias is not None and bias_pair is not None:
        r2 = _read_variance(
            np.asarray(bias_pair[0], np.float64), np.asarray(bias_pair[1], np.float64)
        )
        g, err = _ratio(xa, ya, ca, r2)
        read_noise = float(np.sqrt(r2) * g)
    else:
        # Without a read-noise measurement c ~ 2 for every tile: it joins the intercept.
        g, err = _slope(xa, ya)
    if not (np.isfinite(g) and g > 0 and np.isfinite(err)):
        raise GainFitError("the variance does not grow with the signal")
    return GainEstimate(g, err, read_noise, method, len(x))


def _distinct(a: FrameInfo, b: FrameInfo) -> bool:
    """Two separate exposures: their mid-times at least half an exposure apart.

    Products of one exposure (a background map beside its image) share its time
    and would give a meaningless difference.
    """
    if a.time is None or b.time is None:
        return True
    gap = abs(float((a.time - b.time).sec))
    return gap > 0.5 * (a.exptime or 0.0) and gap > 0.0


def _pairs_of(frames: Sequence[FrameInfo], key) -> list[tuple[FrameInfo, FrameInfo]]:
    """Consecutive frames agreeing on ``key`` (filter, exposure), disjoint, most first."""
    groups: dict[object, list[FrameInfo]] = {}
    for f in frames:
        groups.setdefault(key(f), []).append(f)
    out = []
    for members in sorted(groups.values(), key=len, reverse=True):
        i = 0
        while i + 1 < len(members):
            if _distinct(members[i], members[i + 1]):
                out.append((members[i], members[i + 1]))
                i += 2
            else:
                i += 1
    return out[:_MAX_PAIRS]


def _read(f: FrameInfo) -> np.ndarray:
    return read_image(f.path, f.hdu if f.hdu >= 0 else None, np.float64)


def _measure(group: Sequence[FrameInfo]) -> GainEstimate:
    """The gain of one camera set-up from its own frames."""
    biases = [f for f in group if f.type == "bias"]
    flats = [f for f in group if f.type == "flat"]
    lights = [f for f in group if f.type == "light"]
    setting = lambda f: (f.filter, None if f.exptime is None else round(f.exptime, 2))  # noqa: E731
    bias = bias_pair = None
    if biases:
        stack = [_read(f) for f in biases[:8]]
        bias = np.mean(stack, axis=0)
        bias_pair = (stack[0], stack[1]) if len(stack) >= 2 else None
    flat_pairs = _pairs_of(flats, setting) if bias is not None else []
    if flat_pairs:
        chosen, what = flat_pairs, "flat"
    else:
        chosen, what = _pairs_of(lights, setting), "light"
    if not chosen:
        raise GainFitError("no two separate exposures with the same exposure time and filter")
    pairs = [(_read(a), _read(b)) for a, b in chosen]
    n = len(pairs)
    method = f"{n} {what} pair{'s' if n > 1 else ''}"
    if bias is not None:
        method += f" and {len(biases[:8])} bias frame{'s' if len(biases) > 1 else ''}"
    return gain_from_pairs(pairs, bias, bias_pair, method)


def complete_gains(frames: Sequence[FrameInfo], state: StepState | None = None) -> list[FrameInfo]:
    """Frames with the gain measured from pixels where their headers give none.

    Frames are grouped by camera set-up (shape, binning, gain setting); each
    group lacking a gain is measured once (:func:`gain_from_pairs` on its flats
    or lights) and its frames get that gain, with ``sources['gain']`` saying
    how it was measured and its error. A group that cannot be measured gets a
    problem saying why. Frames with a gain are returned unchanged.
    """
    frames = list(frames)
    missing = [f for f in frames if f.usable and f.gain is None]
    if not missing:
        return frames
    key = lambda f: (f.shape, tuple(f.binning), f.gain_setting)  # noqa: E731
    wanted = {key(f) for f in missing}
    replaced: dict[int, FrameInfo] = {}
    for k in wanted:
        group = [f for f in frames if f.usable and key(f) == k]
        if state is not None:
            state.check()
            state.progress(0.0, f"measuring the gain from {len(group)} frames")
        try:
            measured = _measure(group)
            estimate: GainEstimate | None = measured
            note = measured.source
            low, high = GENERIC_PLAUSIBLE
            if not low <= measured.gain <= high:
                estimate, note = None, f"{note}, not plausible as e-/ADU ({low:g}-{high:g})"
        except (GainFitError, FitsReadError) as exc:
            estimate, note = None, str(exc)
        for f in group:
            if f.gain is not None:
                continue
            sources = dict(f.sources)
            if estimate is not None:
                sources["gain"] = note
                new = dataclasses.replace(f, gain=estimate.gain, sources=MappingProxyType(sources))
            else:
                why = sources.get("gain") or "no gain card"
                problem = f"no gain ({why}); measuring it from the frames failed: {note}"
                new = dataclasses.replace(f, problems=(*f.problems, problem))
            replaced[id(f)] = new
        if estimate is not None:
            log.info("gain of %d frames %s", len(group), estimate.source)
    return [replaced.get(id(f), f) for f in frames]
