"""Finding stars and measuring the seeing for the photometry step.

sep's SExtractor-style sky, a matched-filter peak finder and the detection
step's stacked Moffat fit for the FWHM: enough for photometry to run on a
frame without a source list.
``fluxion.core.detection.extract`` is the full detection step with its own panel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sep
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from scipy.spatial import cKDTree

from ..detection.background import SkyBackground
from ..detection.fwhm import fit_stacked_moffat
from ..runtime.quiet import quiet

__all__ = [
    "SHARPNESS_LIMIT",
    "FrameSky",
    "add_significance",
    "detected_sky",
    "detected_stars",
    "find_stars",
    "frame_sky",
    "isolated",
    "measure_fwhm",
    "noise_scale",
    "residual_sky",
    "single_pixel_ratio",
]


@dataclass(frozen=True)
class FrameSky:
    """A smooth sky map and its noise, from sep's SExtractor-style mesh."""

    level: np.ndarray
    """Sky per pixel (same units as the image)."""
    rms: np.ndarray
    """Sky noise per pixel."""
    global_level: float
    global_rms: float

    def level_at(self, flat: np.ndarray) -> np.ndarray:
        """The sky map (float64) at the flat pixel indices ``flat``."""
        return np.ascontiguousarray(self.level, dtype=np.float64).ravel().take(flat)

    def rms_at(self, flat: np.ndarray) -> np.ndarray:
        """The noise map (float64) at the flat pixel indices ``flat``."""
        return np.ascontiguousarray(self.rms, dtype=np.float64).ravel().take(flat)


class _ScaledSky(FrameSky):
    """Detection's float32 maps times a scale, made into whole float64 maps only when read.

    The aperture method reads the maps at its stars' stamps only (and the
    level map once for the result): the full-frame noise map in electrons
    was made for nothing. Each value is ``np.float64(map) * scale`` wherever
    it is read, as the whole map's would be.
    """

    _maps: dict[str, np.ndarray]
    _made: dict[str, np.ndarray]
    _scale: float

    def __init__(
        self,
        back: np.ndarray,
        rms: np.ndarray,
        scale: float,
        global_level: float,
        global_rms: float,
    ) -> None:
        object.__setattr__(self, "_maps", {"level": back, "rms": rms})
        object.__setattr__(self, "_made", {})
        object.__setattr__(self, "_scale", scale)
        object.__setattr__(self, "global_level", global_level)
        object.__setattr__(self, "global_rms", global_rms)

    def _whole(self, name: str) -> np.ndarray:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = np.multiply(self._maps[name], self._scale, dtype=np.float64)
        return made

    @property
    def level(self) -> np.ndarray:
        return self._whole("level")

    @property
    def rms(self) -> np.ndarray:
        return self._whole("rms")

    def _at(self, name: str, flat: np.ndarray) -> np.ndarray:
        if name in self._made:
            return self._made[name].ravel().take(flat)
        return np.multiply(self._maps[name].ravel().take(flat), self._scale, dtype=np.float64)

    def level_at(self, flat: np.ndarray) -> np.ndarray:
        return self._at("level", flat)

    def rms_at(self, flat: np.ndarray) -> np.ndarray:
        return self._at("rms", flat)


def _native(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.float64)


def frame_sky(
    image: np.ndarray, mask: np.ndarray | None = None, box: int = 64, *, clean: bool = False
) -> FrameSky:
    """Estimate the sky with sep on a ``box`` px mesh (masked pixels ignored).

    ``clean`` says that ``image`` is finite and 0 where ``mask`` is set (as
    the photometry step prepares it): used as it is, without the copy that
    zeroes the masked pixels (two frames' worth of float64 at 4096^2).
    """
    data = _native(image)
    if clean and mask is not None:
        bad = np.asarray(mask, dtype=bool)
    else:
        bad = ~np.isfinite(data)
        if mask is not None:
            bad |= mask
        data = np.where(bad, 0.0, data)
    box = _sky_box(data.shape, box)
    bkg = sep.Background(data, mask=bad, bw=box, bh=box, fw=3, fh=3)
    return FrameSky(bkg.back(), bkg.rms(), float(bkg.globalback), float(bkg.globalrms))


def detected_sky(
    background: SkyBackground | None, shape: tuple[int, ...], scale: float
) -> FrameSky | None:
    """The sky :func:`frame_sky` would measure, from detection's sep background of the same pixels.

    Detection runs sep's background on the frame in ADU with the same mask
    (bad pixels out, saturated ones in) and, by default, the same 64 px mesh
    and 3-mesh filter; photometry measured it again in electrons (a tenth of
    its time at 1024^2, 0.3-0.8 s at 4096^2). sep's estimator scales with
    the image: the maps times the gain are the electrons' maps but for
    float32 rounding (3e-5 of the sky noise on a simulated frame, 1e-4 of a
    star's error in the sky of its aperture). None when ``background`` has
    no maps of ``shape`` or was made on another mesh: the sky is then
    measured anew.
    """
    if background is None or background.back is None or background.rms is None:
        return None
    back, rms = background.back, background.rms
    box = _sky_box(shape)
    if back.shape != tuple(shape) or rms.shape != tuple(shape) or background.mesh != (box, box, 3):
        return None
    level, noise = float(background.level), float(background.noise)
    if not (math.isfinite(level) and math.isfinite(noise)):
        return None
    return _ScaledSky(
        np.ascontiguousarray(back), np.ascontiguousarray(rms), scale, level * scale, noise * scale
    )


def _sky_box(shape: tuple[int, ...], box: int = 64) -> int:
    """:func:`frame_sky`'s mesh box (px) for a frame of ``shape``."""
    return int(max(8, min(box, min(shape) // 2 or 8)))


def residual_sky(residual: np.ndarray, mask: np.ndarray | None = None, box: int = 64) -> np.ndarray:
    """Sky map of a frame whose stars are subtracted: clipped means on a ``box`` px mesh.

    Once the stars' model is subtracted, the sky pixels are noise about the
    sky, and a 4-sigma clipped mean (photutils ``Background2D``) is both
    unbiased and efficient. sep's mode estimator on the frame itself must
    tolerate the stars: on 500 stars in 1024^2 its sky scatters by 0.24 e-
    per px about the truth (the Poisson skew biases its mode by -0.3 e-,
    which the stars' wings happen to offset), against 0.07 e- here, and that
    sky error was most of the PSF fluxes' scatter beyond the Cramér-Rao bound
    (0.10-0.14 sigma of it).
    """
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MeanBackground

    data = np.asarray(residual, dtype=np.float64)
    bad = ~np.isfinite(data) if mask is None else mask | ~np.isfinite(data)
    box = int(max(8, min(box, min(data.shape) // 2 or 8)))
    bkg = Background2D(
        np.where(bad, 0.0, data),
        box,
        mask=bad,
        filter_size=3,
        sigma_clip=SigmaClip(sigma=4.0, maxiters=5),
        bkg_estimator=MeanBackground(),
        exclude_percentile=50.0,
    )
    return np.asarray(bkg.background, dtype=np.float64)


SHARPNESS_LIMIT = 0.5
"""Largest peak-to-flux ratio of a star, in units of a single bright pixel's.

A star matched by the filter has peak / flux near the kernel's central
weight, 0.11-0.23 of a lone pixel's (the raw 256^2 simulated light: stars
0.054-0.113, hot pixels 0.46-0.57, for 0.5 from a lone pixel). A star of
half the kernel's FWHM still reads 0.4, so that the first search, with a
guessed FWHM, keeps undersampled stars; two equal adjacent pixels (a short
cosmic ray) read 0.58.
"""


def noise_scale(sig: np.ndarray, bad: np.ndarray | None = None) -> tuple[float, float]:
    """Offset and scatter of a significance map on the sky: (median, robust sigma).

    The matched filter assumes white noise of the given variance. Structure
    the sky mesh cannot follow (a raw frame's bias column pattern, the flat's
    dust and vignetting) is correlated over the kernel, which sums it
    coherently: on a raw 256^2 simulated light the significance of the empty
    sky scatters by 2.0 sigma about a median of +1.2 instead of 1 about 0,
    and 176 of 209 detections at 5 sigma were such noise.

    The scatter is read on the low side only, median minus the 15.9th
    percentile: stars add only to the high side, which inflated a clipped
    standard deviation to 6.5 on a crowded field (1500 stars in 512^2,
    white noise), where the low side reads 1.5 (the sky mesh's own error
    there, 750 detections for 789; the PSF method's residual search, on
    a map with the stars fitted, gets another chance at them). It is never
    taken below 1 (white noise cannot do better than its variance says;
    clean fields read 0.97-1.0) and the offset never below 0 (a dip would
    be a sky error to keep).
    """
    from astropy.stats import sigma_clipped_stats

    good = np.isfinite(sig) & (sig != 0)
    if bad is not None:
        good &= ~bad
    # Every other pixel both ways: a quarter of the work, and neighbours
    # of a filtered map are correlated anyway.
    values = sig[::2, ::2][good[::2, ::2]]
    if values.size < 100:
        return 0.0, 1.0
    # The median of the clipped map: the bright tail of the stars lifts a
    # plain one (1500 stars in 512^2: 1.8 for 0.5).
    _, median, _ = sigma_clipped_stats(values, sigma=3.0, maxiters=5)
    low = float(np.percentile(values, 15.865))
    return max(float(median), 0.0), max(float(median) - low, 1.0)


def single_pixel_ratio(fwhm: float) -> float:
    """peak / flux the matched filter of :func:`find_stars` gives a lone bright pixel.

    The filter's flux of one pixel of value D is D K0 / sum(K^2) for the
    (discrete, normalised) Gaussian kernel K of the FWHM, so the ratio is
    sum(K^2) / K0 whatever the pixel's value.
    """
    from scipy.ndimage import gaussian_filter

    s = max(fwhm / 2.3548200450309493, 0.5)
    half = int(np.ceil(3.0 * s)) + 1
    delta = np.zeros((2 * half + 1, 2 * half + 1))
    delta[half, half] = 1.0
    k = gaussian_filter(delta, s, mode="constant", truncate=3.0)
    return float(np.sum(k * k) / k[half, half])


def find_stars(
    image: np.ndarray,
    sky: FrameSky,
    *,
    threshold: float = 5.0,
    mask: np.ndarray | None = None,
    fwhm: float = 3.0,
    sharpness_limit: float = SHARPNESS_LIMIT,
) -> Table:
    """Point sources whose matched-filter significance passes ``threshold``.

    A matched filter (see :mod:`.scene.peaks`) reaches stars at S/N 5 that
    sep's per-pixel threshold with a minimum area misses. The significance
    is measured against the filtered map's own scatter on the sky (see
    :func:`noise_scale`), so that fixed-pattern structure of a raw frame
    does not pass for stars. Peaks sharper than a star (peak / flux above
    ``sharpness_limit`` times a lone pixel's: hot pixels, cosmic-ray hits;
    DAOFIND's sharpness test) are dropped.

    Returns x, y (0-based), flux (matched-filter estimate), peak (pixel
    value above the sky), significance, sharpness (peak / flux over a lone
    pixel's) and flags (0), brightest first. An empty frame gives an empty
    table.
    """
    from .scene.peaks import find_peaks, significance

    data = np.asarray(image, dtype=np.float64) - sky.level
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= mask
    data = np.where(bad, 0.0, data)
    sig, flux = significance(data, sky.rms**2, fwhm, bad)
    offset, scale = noise_scale(sig, bad)
    sig = (sig - np.float32(offset)) / np.float32(scale)
    x, y = find_peaks(sig, threshold, border=1)
    xi, yi = np.round(x).astype(int), np.round(y).astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharp = data[yi, xi] / flux[yi, xi] / single_pixel_ratio(fwhm)
    # A peak on a masked pixel is the filter's edge effect at a mask's border
    # (a bad column, a mosaic's blank area), never a star.
    keep = np.flatnonzero(~(sharp > sharpness_limit) & ~bad[yi, xi])
    order = keep[np.argsort(flux[yi[keep], xi[keep]])[::-1]]
    xi, yi = xi[order], yi[order]
    table = Table(
        {
            "x": x[order],
            "y": y[order],
            "flux": flux[yi, xi],
            "peak": data[yi, xi],
            "significance": sig[yi, xi],
            "sharpness": sharp[order],
            "flags": np.zeros(len(order), dtype=np.int32),
        }
    )
    table.meta["noise_scale"] = scale
    table.meta["significance_offset"] = offset
    return table


def detected_stars(sources: Table, gain: float) -> Table:
    """The detection step's sources as :func:`find_stars` gives stars, brightest first.

    Detection already searched the frame (and measured its FWHM); a second
    matched-filter search cost a third of the aperture method's time and
    found the same stars. Columns x, y, flux and peak (the image's units
    times ``gain``: electrons) and flags (detection's, so that
    :func:`measure_fwhm` skips its blends and saturated stars); sources
    without a finite position are left out. Add the matched-filter
    significance with :func:`add_significance` once the FWHM is known.
    """
    x = np.asarray(sources["x"], dtype=np.float64) if len(sources) else np.zeros(0)
    y = np.asarray(sources["y"], dtype=np.float64) if len(sources) else np.zeros(0)

    def column(name: str) -> np.ndarray:
        if name not in sources.colnames:
            return np.full(len(x), np.nan)
        return np.asarray(sources[name], dtype=np.float64) * gain

    flux, peak = column("flux"), column("peak")
    flags = (
        np.asarray(sources["flags"], dtype=np.int32)
        if "flags" in sources.colnames
        else np.zeros(len(x), dtype=np.int32)
    )
    keep = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    # Brightest first, as find_stars orders them (the curve of growth takes
    # the first few hundred); no flux last.
    keep = keep[np.argsort(-np.nan_to_num(flux[keep], nan=-np.inf), kind="stable")]
    return Table(
        {"x": x[keep], "y": y[keep], "flux": flux[keep], "peak": peak[keep], "flags": flags[keep]}
    )


def add_significance(
    stars: Table, image: np.ndarray, sky: FrameSky, bad: np.ndarray, fwhm: float
) -> None:
    """Add the white-noise matched-filter significance at each star's nearest pixel.

    What :func:`find_stars` reads off its significance map at a peak (before
    its noise scaling), computed at the stars' pixels only
    (:func:`~.scene.peaks.significance_at`, in double precision): the
    aperture method uses it as the S/N a star's aperture cannot exceed.
    """
    from .scene.peaks import significance_at

    if len(stars) == 0:
        stars["significance"] = np.zeros(0)
        return
    ny, nx = image.shape
    xi = np.clip(np.round(np.asarray(stars["x"])).astype(np.int64), 0, nx - 1)
    yi = np.clip(np.round(np.asarray(stars["y"])).astype(np.int64), 0, ny - 1)
    # The stars' stamps side by side, each holding the filter's whole reach
    # (its pixels off the frame masked, as significance_at leaves them out),
    # instead of the whole frame less its sky: the same sums at a tenth of
    # the cost. Its ``half`` (3 sigma of the filter, at least 1.5 px) is
    # within ``reach`` (2.3548 is a hair under the FWHM's 2 sqrt(2 ln 2)).
    reach = int(np.ceil(3.0 * max(fwhm / 2.3548, 0.5))) + 1
    steps = np.arange(-reach, reach + 1)
    rows = yi[:, None, None] + steps[None, :, None]
    cols = xi[:, None, None] + steps[None, None, :]
    off = (rows < 0) | (rows >= ny) | (cols < 0) | (cols >= nx)
    # One flat index for the four frames (half the cost of pairs of 2-D indices).
    flat = np.clip(rows, 0, ny - 1) * nx + np.clip(cols, 0, nx - 1)

    def at(frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(frame).ravel().take(flat)

    masked = off | at(np.asarray(bad, bool))
    data = np.where(masked, 0.0, at(np.asarray(image, dtype=np.float64)) - sky.level_at(flat))
    variance = np.where(off, 1.0, sky.rms_at(flat) ** 2)
    side = 2 * reach + 1
    centre = np.arange(len(xi)) * side + reach
    stars["significance"] = significance_at(
        data.reshape(-1, side), variance.reshape(-1, side), fwhm,
        np.full(len(xi), reach), centre, mask=masked.reshape(-1, side),
    )  # fmt: skip


def isolated(x: np.ndarray, y: np.ndarray, distance: float) -> np.ndarray:
    """True for sources with no other source within ``distance`` px."""
    if len(x) < 2:
        return np.ones(len(x), dtype=bool)
    pts = np.c_[x, y]
    d, _ = cKDTree(pts).query(pts, k=2)
    return d[:, 1] > distance


def measure_fwhm(
    image: np.ndarray,
    sky: FrameSky,
    stars: Table,
    *,
    saturation: float | None = None,
    guess: float = 4.0,
    max_stars: int = 40,
) -> float:
    """FWHM (px) of bright, isolated, unsaturated stars; NaN when no star is usable.

    A pixel-integrated Moffat is fitted to the stars' stacked profile
    (:func:`fluxion.core.detection.fwhm.fit_stacked_moffat`, the detection
    step's fit, see :func:`_stacked_fwhm`). Only when that fit fails are
    photutils' per-star Gaussian fits taken (their median): they cost ~25 ms
    a star, a second for the 40 stars, against a few ms for the stack, and
    read a beta = 3 Moffat's FWHM ~13% high (3.97 px for 3.5; the Gaussian's
    width follows the wings), and everything scaled by the FWHM (the matched
    filter, the groups, the PSF fit's start) with it.
    """
    if len(stars) == 0:
        return float("nan")
    ny, nx = image.shape
    x, y = np.asarray(stars["x"]), np.asarray(stars["y"])
    base = (np.asarray(stars["flags"]) == 0) & (x > 8) & (x < nx - 9) & (y > 8) & (y < ny - 9)
    if saturation is not None:
        base &= np.asarray(stars["peak"]) + sky.global_level < 0.8 * saturation
    # Crowded fields have no star 12 px from all others: relax the isolation
    # until a handful of stars qualify.
    for distance in (12.0, 8.0, 6.0):
        idx = np.flatnonzero(base & isolated(x, y, distance))[:max_stars]
        if idx.size >= 5:
            break
    if idx.size == 0:
        return float("nan")
    data = _native(image) - sky.level
    flux = np.asarray(stars["flux"], dtype=np.float64)[idx]
    moffat = _stacked_fwhm(data, x[idx], y[idx], flux, guess)
    if np.isfinite(moffat):
        return moffat
    return _gaussian_fwhm(data, x[idx], y[idx], guess)


def _stacked_fwhm(
    data: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray, guess: float
) -> float:
    """FWHM of the stacked Moffat fit, its cutouts sized by its own FWHM; NaN when it fails.

    The cutouts (2 FWHM in radius) and the robust loss's scale follow the
    width the fit starts from: the fit is repeated from its own FWHM until
    that moves by less than 2%, so that the answer does not depend on the
    guess (two or three fits of a few ms each; guesses of 2 and 8 px for
    3.5 px stars land on the same FWHM).
    """
    bad = ~np.isfinite(data)
    width, profile = float(guess), None
    for _ in range(4):
        fit = fit_stacked_moffat(data, x, y, flux, width, bad=bad, start=profile)
        # A stack spoilt by blends runs to the bound of the wings' index
        # (beta -> 1: all wings, a vanishing core).
        if fit is None or not fit.beta > 1.05 or not 0.5 < fit.fwhm < 50.0:
            return float("nan")
        done = abs(fit.fwhm - width) < 0.02 * width
        width, profile = fit.fwhm, fit
        if done:
            return width
    return width


def _gaussian_fwhm(data: np.ndarray, x: np.ndarray, y: np.ndarray, guess: float) -> float:
    """Median FWHM of photutils' per-star Gaussian fits; NaN when none converges."""
    # A star whose fit does not converge gives an implausible width, dropped
    # below; photutils' warning about it says nothing more. photutils.psf is
    # imported here, on this fallback path only (astropy.modeling, scipy.integrate).
    from photutils.psf import fit_fwhm

    with quiet(AstropyUserWarning, "One or more fit"):
        fit = fit_fwhm(data, xypos=np.c_[x, y], fwhm=guess, fit_shape=11)
    fwhm = np.asarray(fit, dtype=np.float64)
    fwhm = fwhm[np.isfinite(fwhm) & (fwhm > 0.5) & (fwhm < 50)]
    return float(np.median(fwhm)) if fwhm.size else float("nan")
