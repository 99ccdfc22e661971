"""Aperture photometry on a stack, with the noise of a stack rather than of one frame.

A stack (:func:`fluxion.core.stacking.stack.stack_frames`) is the *mean* of the
aligned frames, in the frames' units. Its photon statistics are not a single
frame's: a pixel covered by ``c`` frames of gain ``g`` (e-/ADU) and read noise
``r`` (e-) holding a mean signal ``S`` ADU has the variance

    var(S) = (g c S + c r^2) / (g c)^2  ADU^2,

i.e. the mean behaves like one exposure with gain ``g c`` and read noise
``r sqrt(c)``. Measured with the frame's own gain, a stack's flux errors would
be ``sqrt(c)`` too large. So the stack is measured with the effective gain
``N g`` (``N`` = NCOMBINE): fluxes come out in electrons collected over the
whole stacked exposure (TOTEXP), the Poisson skew of the sky median is that
of the summed frames, and the per-pixel noise is given to the photometry as
an error map that also follows the coverage (edges and masked pixels have
fewer frames) and the combination (a median of N values has pi/2 times the
variance of their mean; the sigma-clipped mean drops ~0.3 % of good values
at 3 sigma, which changes its variance by less than 1 %).

Cubic-spline shifts correlate neighbouring pixels: a pixel's scatter drops a
little while an aperture's sum keeps its variance. The error map is the
model's variance, not a measured scatter, so aperture errors stay right; only
the sky-annulus term (measured scatter) comes out slightly small, which is
minor with the default annulus of hundreds of pixels.

On a stack that follows a moving target the stars are trails: their seeing
and curve of growth are not the target's. There the FWHM is fitted on the
target itself (photutils ``fit_fwhm``), the aperture is a fixed 4 FWHM
(which keeps >99.9 % of a Moffat beta=3 star, so no aperture correction is
needed) and the aperture correction from the trails is not applied.

The table is written beside the stack as ``<stack>.phot.ecsv``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import sep
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..io.fitsio import atomic_write_ecsv
from ..photometry import Photometry, PhotometryParams
from ..runtime.pipeline import StepState

__all__ = [
    "StackNoise",
    "stack_noise",
    "measure_stack",
    "stack_photometry_path",
    "write_stack_photometry",
]

#: Fixed aperture radius on a target stack, in units of the target's FWHM.
_TARGET_RADIUS_FWHM = 4.0

#: Variance of a combination of N values relative to their mean (large N).
_METHOD_VARIANCE = {"average": 1.0, "clipped": 1.0, "median": math.pi / 2.0}


@dataclass(frozen=True)
class StackNoise:
    """The noise of a mean stack, as one equivalent exposure.

    Attributes
    ----------
    n_frames : int
        Frames combined (NCOMBINE).
    gain : float
        Effective gain ``N g`` (e-/ADU of the stack): its image times this
        gain is the electrons collected over the whole stack.
    read_noise : float
        Effective read noise ``r sqrt(N)`` (e-).
    error : ndarray
        Per-pixel 1-sigma noise of the stack (ADU, the stack's units),
        following its coverage; inf where no frame covers a pixel.
    """

    n_frames: int
    gain: float
    read_noise: float
    error: np.ndarray


def stack_noise(
    data: np.ndarray,
    coverage: np.ndarray,
    header: fits.Header,
    gain: float,
    read_noise: float,
) -> StackNoise:
    """The stack's effective gain, read noise and per-pixel error.

    Parameters
    ----------
    data, coverage : ndarray
        The stack and its coverage (:class:`fluxion.core.stacking.stack.StackResult`).
    header : astropy.io.fits.Header
        The stack's header (NCOMBINE, STACKMTD, BACKSUB).
    gain : float
        One frame's gain (e-/ADU).
    read_noise : float
        One frame's read noise (e-).
    """
    if not (np.isfinite(gain) and gain > 0):
        raise ValueError(f"the frames' gain must be a positive number of e-/ADU, got {gain}")
    n = int(header.get("NCOMBINE", int(np.max(coverage)) if coverage.size else 1))
    factor = _METHOD_VARIANCE.get(str(header.get("STACKMTD", "average")), 1.0)
    c = np.maximum(np.asarray(coverage, dtype=np.float64), 1.0)
    signal = np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0)
    var = np.maximum(signal, 0.0) / (gain * c) + (read_noise / gain) ** 2 / c
    if header.get("BACKSUB", False):
        # The sky was subtracted frame by frame, so its photons are not in the
        # pixel values: its noise is measured on the stack instead (sep's
        # background rms, the same mesh the subtraction used).
        good = np.isfinite(data) & (np.asarray(coverage) > 0)
        image = np.where(good, data, 0.0).astype(np.float32)
        rms = float(sep.Background(image, mask=~good).globalrms)
        var = np.maximum(signal, 0.0) / (gain * c) + np.maximum(rms**2, var)
    error = np.sqrt(var * factor)
    error[np.asarray(coverage) <= 0] = np.inf
    return StackNoise(n, gain * n, read_noise * math.sqrt(n), error)


def measure_stack(
    data: np.ndarray,
    coverage: np.ndarray,
    header: fits.Header,
    *,
    gain: float | None,
    read_noise: float = 0.0,
    target: tuple[float, float] | None = None,
    params: PhotometryParams | None = None,
    state: StepState | None = None,
) -> Table:
    """Aperture photometry of the field stars and the target on a stack.

    Parameters
    ----------
    data, coverage, header
        The stack (:class:`fluxion.core.stacking.stack.StackResult`, or as read back).
    gain : float or None
        One frame's gain (e-/ADU). None when unknown: fluxes stay in the
        stack's ADU and the noise is estimated from the sky's scatter.
    read_noise : float
        One frame's read noise (e-).
    target : (x, y), optional
        The target's position on the stack (0-based px); for a stack on the
        target's track that is its position in the reference frame. It is the
        last row, with ``is_target`` True.
    params : PhotometryParams, optional
        Aperture photometry parameters (the method is always ``aperture``).
    state : StepState, optional

    Returns
    -------
    astropy.table.Table
        Photometry columns (x, y, flux, flux_err, ... as
        :class:`fluxion.core.photometry.Photometry`) plus ``is_target`` and
        ``flux_per_frame``/``flux_per_frame_err`` (the mean frame's flux, to
        compare with single frames); meta: n_frames, effective gain and
        read noise, exposure, flux unit.
    """
    params = params or PhotometryParams()
    if params.method != "aperture":
        params = dataclasses.replace(params, method="aperture")
    state = state if state is not None else StepState()
    bad = ~np.isfinite(data) | (np.asarray(coverage) <= 0)
    image = np.where(bad, 0.0, data)
    if target is not None and header.get("STACKON") == "target":
        fwhm = params.fwhm if params.fwhm > 0 else _target_fwhm(image, bad, target)
        radius_fwhm = params.aperture_radius_fwhm or _TARGET_RADIUS_FWHM
        params = dataclasses.replace(
            params, fwhm=fwhm, aperture_radius_fwhm=radius_fwhm, aperture_correction=False
        )
    wcs = _celestial_wcs(header)
    phot = Photometry(params)
    # Without a gain, Photometry's own noise model (its defaults: no error map, no gain).
    error: np.ndarray | None = None
    eff_gain: float | None = None
    eff_rn = 0.0
    if gain is None:
        n = int(header.get("NCOMBINE", 1))
    else:
        noise = stack_noise(data, coverage, header, gain, read_noise)
        n, eff_gain, eff_rn, error = noise.n_frames, noise.gain, noise.read_noise, noise.error
    measure = partial(phot.run, error=error, gain=eff_gain, read_noise=eff_rn)
    result = measure(image, mask=bad, wcs=wcs, target=target, state=state.sub(0, 0.5))
    positions = np.column_stack([result.table["x"], result.table["y"]])
    is_target = np.zeros(len(positions), bool)
    if target is not None:
        # The field's detection may have found the target too: measured once, as the target.
        d = np.hypot(positions[:, 0] - target[0], positions[:, 1] - target[1])
        positions = np.vstack([positions[d > 2.0], np.asarray(target, float)[None, :]])
        is_target = np.r_[np.zeros(len(positions) - 1, bool), True]
        result = measure(
            image, positions, mask=bad, wcs=wcs, target=target, state=state.sub(0.5, 1.0)
        )
    table = result.table
    table["is_target"] = is_target
    table["flux_per_frame"] = np.asarray(table["flux"], float) / n
    table["flux_per_frame_err"] = np.asarray(table["flux_err"], float) / n
    table.meta.update(
        n_frames=n,
        effective_gain=eff_gain if eff_gain is not None else "unknown",
        effective_read_noise=eff_rn,
        frame_gain=gain if gain is not None else "unknown",
        frame_read_noise=read_noise,
        flux_unit=result.unit if gain is None else "electron (whole stack)",
        stack_method=str(header.get("STACKMTD", "")),
        stacked_on=str(header.get("STACKON", "")),
    )
    for key in ("EXPTIME", "TOTEXP", "JD-MID", "DATE-AVG", "FILTER"):
        if key in header:
            table.meta[key] = header[key]
    state.progress(1.0, f"{len(table)} sources measured on the stack")
    return table


def stack_photometry_path(stack: str | os.PathLike[str]) -> Path:
    """Where the photometry of ``stack`` goes: beside it, ``<name>.phot.ecsv``."""
    p = Path(stack)
    return p.with_name(p.stem + ".phot.ecsv")


def write_stack_photometry(table: Table, stack: str | os.PathLike[str]) -> Path:
    """Write ``table`` beside the stack as ECSV, atomically."""
    return atomic_write_ecsv(stack_photometry_path(stack), table)


def _target_fwhm(image: np.ndarray, bad: np.ndarray, target: tuple[float, float]) -> float:
    """FWHM (px) of a Gaussian fitted to the target on its own stack (0 when it fails)."""
    from astropy.stats import sigma_clipped_stats
    from photutils.psf import fit_fwhm

    x, y = target
    half = 15
    ix, iy = int(round(x)), int(round(y))
    y0, x0 = max(0, iy - half), max(0, ix - half)
    cut = image[y0 : iy + half + 1, x0 : ix + half + 1]
    cut_bad = bad[y0 : iy + half + 1, x0 : ix + half + 1]
    if cut.size == 0 or cut_bad.all():
        return 0.0
    _, sky, _ = sigma_clipped_stats(cut[~cut_bad], sigma=3.0)
    try:
        fwhm = float(
            np.atleast_1d(fit_fwhm(cut - sky, xypos=(x - x0, y - y0), fit_shape=9, mask=cut_bad))[0]
        )
    except (ValueError, RuntimeError):
        return 0.0  # the photometry then measures the FWHM on the stack's sources
    return fwhm if np.isfinite(fwhm) and 0.5 < fwhm < 3 * half else 0.0


def _celestial_wcs(header: fits.Header) -> WCS | None:
    """The stack's WCS when its header has one (it is the reference frame's)."""
    if "CTYPE1" not in header:
        return None
    try:
        w = WCS(header).celestial
    except (ValueError, KeyError, MemoryError):
        return None
    return w if w.has_celestial else None
